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
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """An invalid config; the message names the key."""


@functools.cache
def schema_defaults() -> dict[str, Any]:
    """Every ``default`` of the config schema by dotted path: ``general.gsm8k.batch_size``,
    ``judges.*.scoring`` (``*``: any key of a mapping), ``$defs.decoding.min_new_tokens``."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
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
        key = getattr(cls, "SCHEMA_PATHS", {}).get(f.name, f"{path}.{f.name}" if path else f.name)
        if f.name in section:
            values[f.name] = section[f.name]
        elif f.default is not MISSING or f.default_factory is not MISSING:
            continue  # not a config key: a part the step is given only where it applies
        elif key in schema_defaults():
            values[f.name] = schema_defaults()[key]
        else:
            raise ConfigError(f"config key '{key}': required")
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


# ---- the steps: what each `radis` step is told, typed once --------------------------------------
def settings_class(action: Any) -> type[StepSettings] | None:
    """The class a ``radis`` step's function annotates its ``settings`` with (None: a mapping)."""
    import inspect

    cls = inspect.signature(action).parameters["settings"].annotation
    cls = action.__globals__.get(cls, cls) if isinstance(cls, str) else cls  # postponed annotations
    return cls if isinstance(cls, type) and issubclass(cls, StepSettings) else None


def step_settings(action: Any, given: Mapping[str, Any]) -> StepSettings | Mapping[str, Any]:
    """The settings a ``radis`` step's function is called with, built once from what the step was
    given (radis.cli). ``radis materialise`` alone takes a mapping: a backbone's catalogue entry,
    which radis.backbones owns."""
    cls = settings_class(action)
    return given if cls is None else cls.from_step(given)


@dataclass(frozen=True)
class StepSettings:
    """A step's settings, typed once from its ``--settings`` (``--hardware`` merged back) by the
    ``radis`` command (radis.cli reads the class from the step's ``settings`` annotation).

    ``given`` is that mapping as it came: the config hash, the resume keys and the provenance record
    it as given, so that a default added to the schema later changes none of them. ``SCHEMA_PATHS``
    names the config key whose schema default a field left out takes (else the field's own name)."""

    given: Mapping[str, Any] = field(default_factory=dict, kw_only=True, repr=False, compare=False)
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_step(cls: type[T], settings: Mapping[str, Any]) -> T:
        return typed(cls, {**settings, **cls.parts(settings), "given": settings}, "")

    @classmethod
    def parts(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The fields that are sections of their own, typed (none here)."""
        return {}


#: where a step's ``trust_remote_code`` takes its default: its backbone's catalogue entry
TRUST_REMOTE_CODE = {"trust_remote_code": "backbones.*.trust_remote_code"}


@dataclass(frozen=True)
class DeviceStep(StepSettings):
    """A GPU-capable step: ``compute.device`` (radis.device.enforce_device)."""

    device: str
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {"device": "compute.device"}


@dataclass(frozen=True)
class DataStep(StepSettings):
    """``radis prepare-data``: one split's source (``data``), its subset size and the seed that draws it."""

    source: str
    mirror: str
    hub: Mapping[str, Any]
    sha256: Mapping[str, str]
    limit: int | None
    seed: int
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {f: f"data.{f}" for f in ("source", "mirror", "hub", "sha256")}


@dataclass(frozen=True)
class GeneralDataStep(StepSettings):
    """``radis fetch-general``: where the general-ability sets come from (``general.data``)."""

    source: str
    mirror: str
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {f: f"general.data.{f}" for f in ("source", "mirror")}


@dataclass(frozen=True)
class TrainsetStep(StepSettings):
    """``radis build-trainset``: the method's builder and the chain's seed (instruction choice, order)."""

    builder: str
    seed: int


@dataclass(frozen=True)
class TrainStep(DeviceStep):
    """``radis train``: the method's training section as given (the trainer types it,
    :class:`TrainingSettings`, and keys its checkpoints by it), the chain's seed, and where the
    curves go (``report_to``: not a result setting)."""

    training: Mapping[str, Any]
    seed: int
    trust_remote_code: bool
    report_to: tuple[str, ...] = ()
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {**DeviceStep.SCHEMA_PATHS, **TRUST_REMOTE_CODE}

    @classmethod
    def parts(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"report_to": tuple(settings.get("report_to") or ())}


@dataclass(frozen=True)
class MergeStep(StepSettings):
    """``radis merge``: the dtype the merged model is saved in and whether its code may run."""

    bf16: bool
    trust_remote_code: bool
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {"bf16": "training.bf16", **TRUST_REMOTE_CODE}


@dataclass(frozen=True)
class GenerationStep(DeviceStep):
    """A step that generates with one model (``radis synthesize``; the base of the others):
    ``generation`` (its tensor-parallel size the model's own), ``decoding``, the seed."""

    seed: int
    generation: GenerationSettings
    decoding: DecodingParams
    trust_remote_code: bool
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {**DeviceStep.SCHEMA_PATHS, **TRUST_REMOTE_CODE}

    @classmethod
    def parts(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"generation": GenerationSettings.of_step(settings),
                "decoding": DecodingParams.from_config(settings.get("decoding", {}))}


@dataclass(frozen=True)
class TranslationEvalSettings:
    """``evaluation.translation``: the test-time instruction (Fig. 5) and how a reply is cut to the
    translation (radis.evaluate.translation.extract_translation)."""

    instruction: int
    postprocess: str


@dataclass(frozen=True)
class TranslateStep(GenerationStep):
    """``radis translate``: a generation step, the test prompt, and a model's own prompt format
    (``backbones.<name>.prompt_format`` loaded; None for chat-template models)."""

    evaluation: TranslationEvalSettings
    prompt_format: Mapping[str, str] | None = None

    @classmethod
    def parts(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().parts(settings),
                "evaluation": typed(TranslationEvalSettings, settings.get("evaluation", {}), "evaluation.translation")}


def comet_encoder(evaluation: Mapping[str, Any]) -> dict:
    """``evaluation.comet_encoder`` (``{id, revision}``), the schema's default where it is left out."""
    return {**default("evaluation.comet_encoder"), **(evaluation.get("comet_encoder") or {})}


@dataclass(frozen=True)
class CometStep(StepSettings):
    """``radis download-comet`` and ``radis score``: the COMET checkpoint (None: BLEU and chrF only),
    its revision and encoder, and its batch size."""

    comet_model: str | None
    comet_revision: str
    comet_encoder: Mapping[str, str]
    comet_batch_size: int
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {f: f"evaluation.{f}" for f in
                                              ("comet_model", "comet_revision", "comet_encoder", "comet_batch_size")}

    @classmethod
    def parts(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"comet_encoder": comet_encoder(settings)}


@dataclass(frozen=True)
class ResponseSetSettings:
    """One response set of ``radis generate-general`` (``general.<benchmark>``): its decoding, its
    seeded subset size (None: all) and MT-Bench's temperatures (``fastchat`` or ``greedy``)."""

    decoding: DecodingParams
    limit: int | None
    temperatures: str


@dataclass(frozen=True)
class GeneralGenerationStep(DeviceStep):
    """``radis generate-general``: every response set of one model (the drift answers too)."""

    seed: int
    generation: GenerationSettings
    benchmarks: Mapping[str, ResponseSetSettings]
    trust_remote_code: bool
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {**DeviceStep.SCHEMA_PATHS, **TRUST_REMOTE_CODE}

    @classmethod
    def parts(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        def response_set(section: Mapping[str, Any]) -> ResponseSetSettings:
            given = {k: v for k, v in section.items() if v is not None}  # the rules pass a left-out key as null
            return typed(ResponseSetSettings, {**given, "decoding": DecodingParams.from_config(section["decoding"])},
                         "$defs.general_eval")

        return {"generation": GenerationSettings.of_step(settings),
                "benchmarks": {name: response_set(s) for name, s in settings["benchmarks"].items()}}


@dataclass(frozen=True)
class JudgedSection:
    """What judging reads of a judged benchmark's section (``general.<benchmark>``; its judge is
    :class:`JudgedBenchmark`'s): AlpacaEval's annotator (None elsewhere) and MT-Bench's judge answer length."""

    annotator: str | None
    judge_max_tokens: int


def judge_config(name: str, spec: Mapping[str, Any]):
    """``judges.<name>`` typed (radis.judges.client.JudgeConfig, which checks it)."""
    from radis.judges.client import JudgeConfig

    return JudgeConfig.from_config(name, spec)


@dataclass(frozen=True)
class JudgedBenchmark:
    """One benchmark a ``radis judge`` job judges: its judge (None: ``refusal``, no judge model),
    its section, and the response set it reads (AlpacaEval 1 and 2 share one)."""

    judge_name: str
    judge: Any  # radis.judges.client.JudgeConfig | None
    section: JudgedSection
    responses: str

    @classmethod
    def from_step(cls, settings: Mapping[str, Any]) -> "JudgedBenchmark":
        judge = settings["judge"]
        return cls(judge_name=settings["judge_name"],
                   judge=None if judge is None else judge_config(settings["judge_name"], judge),
                   section=typed(JudgedSection, settings["section"], "$defs.general_eval"),
                   responses=settings["responses"])


@dataclass(frozen=True)
class JudgeStep(DeviceStep):
    """``radis judge``: every judged benchmark of one model."""

    judged: Mapping[str, JudgedBenchmark]

    @classmethod
    def parts(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"judged": {b: JudgedBenchmark.from_step(s) for b, s in settings["judged"].items()}}


@dataclass(frozen=True)
class Gsm8kStep(DeviceStep):
    """``radis gsm8k``: lm-eval's GSM8K (``general.gsm8k``) with the generation backend and dtype."""

    seed: int
    gsm8k: Gsm8kSettings
    backend: str
    dtype: str
    tensor_parallel_size: int
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {**DeviceStep.SCHEMA_PATHS, "backend": "generation.backend",
                                              "dtype": "generation.dtype",
                                              "tensor_parallel_size": "generation.tensor_parallel_size"}

    @classmethod
    def parts(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"gsm8k": typed(Gsm8kSettings, settings.get("gsm8k", {}), "general.gsm8k")}


@dataclass(frozen=True)
class DriftStep(DeviceStep):
    """``radis drift``: both models' forward passes (``general.drift.batch_size``, ``generation.dtype``)."""

    batch_size: int
    dtype: str
    trust_remote_code: bool
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {**DeviceStep.SCHEMA_PATHS, **TRUST_REMOTE_CODE,
                                              "batch_size": "general.drift.batch_size",
                                              "dtype": "generation.dtype"}


@dataclass(frozen=True)
class Table4Step(DeviceStep):
    """``radis table4``: the judge that labels the rationales (``analysis.rationale_categories``)."""

    judge_name: str
    judge: Any  # radis.judges.client.JudgeConfig
    per_direction: int
    max_tokens: int
    seed: int
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {**DeviceStep.SCHEMA_PATHS,
                                              "per_direction": "analysis.rationale_categories.per_direction",
                                              "max_tokens": "analysis.rationale_categories.max_tokens"}

    @classmethod
    def parts(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"judge": judge_config(settings["judge_name"], settings["judge"])}


@dataclass(frozen=True)
class Figure4Step(DeviceStep):
    """``radis figure4``: Figure 4's sample and probe (``analysis.gradient_similarity``)."""

    probe: GradientSimilaritySettings
    seed: int

    @classmethod
    def parts(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"probe": typed(GradientSimilaritySettings, settings, "analysis.gradient_similarity")}


@dataclass(frozen=True)
class ReportStep(StepSettings):
    """The table, figure and claims steps: the grid they read (radis.grid, as the rules pass it)
    and the intervals' resampling (``evaluation.bootstrap``). A step is given only the parts it
    reads; ``seeds`` only when a run has several (radis.seeds)."""

    bootstrap: Mapping[str, int]
    backbones: list[str] = field(default_factory=list)
    #: Table 5: per backbone (its Vanilla-FT, RaDis and Table 5 methods)
    methods: list[str] | Mapping[str, list[str]] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)
    benchmarks: list[str] = field(default_factory=list)
    prior: list = field(default_factory=list)
    drift: bool = False
    generators: Mapping[str, str] = field(default_factory=dict)
    backbone_names: Mapping[str, str] | None = None
    seeds: list[int] | None = None
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {"bootstrap": "evaluation.bootstrap"}

    @classmethod
    def parts(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {"prior": list(settings.get("prior") or [])}


@dataclass(frozen=True)
class ReproductionStep(StepSettings):
    """``radis reproduction``: how this run's setup differs from the paper's, which of its backbones
    stand in for the paper's, their display names (radis.reproduction)."""

    directions: list[str]
    bootstrap: Mapping[str, int]
    differences: list[str] = field(default_factory=list)
    stand_in: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    SCHEMA_PATHS: ClassVar[dict[str, str]] = {"bootstrap": "evaluation.bootstrap"}
