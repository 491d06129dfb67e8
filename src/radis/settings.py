"""Typed settings at the module boundaries, with every default in one place: the config schema.

A step receives the config values it depends on as JSON (its ``--settings``, which are also its
Snakemake params). The defaults are deliberately not written into that JSON: a finished job whose
params gained a key Snakemake would see as changed and run again. So a step builds its typed
settings (a dataclass, as trl and peft do) from what it was given, and every key the config left
out takes the schema's ``default``; no module restates one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from radis.benchmarks import benchmarks

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """An invalid config; the message names the key."""


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """The config schema, its registry enums (benchmarks, method builders) filled from the registries."""
    from radis.methods import methods

    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    schema["$defs"]["benchmark"]["enum"] = list(benchmarks())
    schema["$defs"]["builder"]["enum"] = list(methods())
    return schema




@functools.cache
def schema_defaults() -> dict[str, Any]:
    """Every ``default`` of the config schema by dotted path: ``general.gsm8k.batch_size``,
    ``judges.*.scoring`` (``*``: any key of a mapping), ``$defs.decoding.min_new_tokens``."""
    schema = load_schema()
    found: dict[str, Any] = {}

    def walk(node: Any, path: str, seen: frozenset) -> None:
        if not isinstance(node, dict):
            return
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/") and ref not in seen:
            walk(schema["$defs"][ref.removeprefix("#/$defs/")], path, seen | {ref})
        if "default" in node and path:
            found.setdefault(path, node["default"])
        for key, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{key}" if path else key, seen)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}.*" if path else "*", seen)
        for branch in node.get("oneOf", []) + node.get("allOf", []):
            walk(branch, path, seen)

    walk({k: v for k, v in schema.items() if k != "$defs"}, "", frozenset())
    for name, definition in schema["$defs"].items():
        walk(definition, f"$defs.{name}", frozenset())
    return found


def default(path: str) -> Any:
    """The schema's default of a config key (dotted path, as :func:`schema_defaults` names it)."""
    from radis.registry import lookup

    return lookup(schema_defaults(), path, "schema default for", KeyError)


def typed(cls: type[T], section: Mapping[str, Any], path: str) -> T:
    """Dataclass ``cls`` from a config section at ``path``: its fields from the section, the schema's
    defaults for the fields the section leaves out; a left-out field without a default is an error
    naming the key."""

    values = {}
    for f in fields(cls):
        if f.name in section:
            values[f.name] = section[f.name]
        elif f"{path}.{f.name}" in schema_defaults():
            values[f.name] = schema_defaults()[f"{path}.{f.name}"]
        else:
            raise ConfigError(f"config key '{path}.{f.name}': required")
    return cls(**values)


def trust_remote_code(settings: Mapping[str, Any]) -> bool:
    """Whether a step may run its model's own code (``backbones.<name>.trust_remote_code``)."""
    return settings.get("trust_remote_code", default("backbones.*.trust_remote_code"))


@dataclass(frozen=True)
class GenerationSettings:
    """``generation``: how a step's model generates (radis.generation); the tensor-parallel size is
    the model's own where the step gives one (a 70B generator spans 4 GPUs)."""

    backend: str
    batch_size: int
    dtype: str
    tensor_parallel_size: int
    shard_size: int

    @classmethod
    def of_step(cls, settings: Mapping[str, Any]) -> "GenerationSettings":
        section = dict(settings["generation"])
        if "tensor_parallel_size" in settings:
            section["tensor_parallel_size"] = settings["tensor_parallel_size"]
        return typed(cls, section, "generation")


@dataclass(frozen=True)
class Gsm8kSettings:
    """``general.gsm8k``: lm-eval's GSM8K as the config runs it (radis.evaluate.gsm8k)."""

    limit: int | None
    num_fewshot: int
    apply_chat_template: bool
    fewshot_as_multiturn: bool
    max_gen_toks: int | None
    batch_size: int


@dataclass(frozen=True)
class GradientSimilaritySettings:
    """``analysis.gradient_similarity``: Figure 4's sample and probe (radis.analysis.gradients)."""

    per_direction: int
    max_length: int
    lora_r: int


@dataclass(frozen=True)
class DecodingParams:
    """Decoding settings of one generation call; greedy when ``temperature`` is 0, the model's own
    sampler when ``sampling`` is "model" (radis.generation.resolve_decoding)."""

    max_new_tokens: int
    min_new_tokens: int
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    sampling: str

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "DecodingParams":
        """From a ``decoding`` section; what it leaves out takes the schema's defaults (greedy)."""
        return typed(cls, section, "$defs.decoding")

    @property
    def greedy(self) -> bool:
        return self.sampling == "params" and self.temperature == 0


@dataclass(frozen=True)
class LoraSettings:
    """``training.lora``: the adapter peft builds (radis.training.trainer)."""

    r: int
    alpha: float
    dropout: float
    target_modules: str | list[str]


@dataclass(frozen=True)
class TrainingSettings:
    """``training`` as one training job receives it: the method's (radis.config.method_training),
    its hardware settings merged back in. ``lora`` is None for full fine-tuning."""

    finetuning: str
    lora: LoraSettings | None
    epochs: float
    learning_rate: float
    lr_scheduler: str
    warmup_ratio: float
    batch_size: int
    micro_batch_size: int
    max_length: int
    overlong: str
    bf16: bool
    gradient_checkpointing: bool
    save_steps: int

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> "TrainingSettings":
        flat = {k: v for k, v in section.items() if k != "lora"}
        lora = typed(LoraSettings, section["lora"], "training.lora") if section.get("lora") else None
        if lora is None and section.get("finetuning") == "lora":
            raise ConfigError("config key 'training.lora': required for finetuning: lora")
        return typed(cls, {**flat, "lora": lora}, "training")


@dataclass(frozen=True)
class TrainStep:
    """What ``radis train`` is told (workflow/rules/steps.smk: train_settings): the method's training
    section as given (the trainer types it, :class:`TrainingSettings`, and keys its checkpoints by
    it), the chain's seed, and where the curves go (``report_to``: not a result setting)."""

    training: Mapping[str, Any]
    seed: int
    trust_remote_code: bool
    report_to: tuple[str, ...]

    @classmethod
    def from_step(cls, settings: Mapping[str, Any]) -> "TrainStep":
        return cls(training=settings["training"], seed=settings["seed"], trust_remote_code=trust_remote_code(settings),
                   report_to=tuple(settings.get("report_to") or ()))
