"""Validation of the workflow config and typed views over it.

The config is validated once, when the DAG is parsed, so that a typo or a wrong type costs
seconds instead of GPU-hours. Errors name the offending key as a dotted path.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from radis.benchmarks import benchmark, benchmarks
from radis.languages import Direction
from radis.layout import BASE
from radis.settings import REPO_ROOT, SCHEMA_PATH, ConfigError


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """The config schema, its registry enums (benchmarks, method builders) filled from the registries."""
    from radis.methods import methods

    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    schema["$defs"]["benchmark"]["enum"] = list(benchmarks())
    schema["$defs"]["builder"]["enum"] = list(methods())
    return schema


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _explain(error):
    """For a ``oneOf`` of tagged objects, report the error inside the branch whose ``kind`` matched."""
    import jsonschema

    while error is not None and error.validator == "oneOf" and error.context:
        branches: dict[int, list] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        matching = [errs for errs in branches.values() if not any(e.validator == "const" for e in errs)]
        if not matching:
            kinds = [e.validator_value for errs in branches.values() for e in errs if e.validator == "const"]
            if kinds:
                error.message = f"kind must be one of {', '.join(map(repr, kinds))}"
            break
        if len(matching) != 1:
            break
        error = jsonschema.exceptions.best_match(matching[0])
    return error


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Raise :class:`ConfigError` naming the first bad key; return the config unchanged otherwise."""
    import jsonschema  # only here: validation is the only user

    validator = jsonschema.Draft202012Validator(schema or load_schema())
    error = _explain(jsonschema.exceptions.best_match(validator.iter_errors(config)))
    if error is not None:
        raise ConfigError(f"config key '{_key(error.absolute_path)}': {error.message}")
    experiment = config["experiment"]
    for i, name in enumerate(experiment["backbones"]):
        if name not in config["backbones"]:
            raise ConfigError(
                f"config key 'experiment.backbones.{i}': backbone {name!r} is not defined under 'backbones' "
                f"(defined: {', '.join(sorted(config['backbones']))})"
            )
    for i, name in enumerate(experiment["methods"]):
        if name == BASE:
            raise ConfigError(f"config key 'experiment.methods.{i}': 'base' is the untouched backbone, always evaluated")
        if name not in config["methods"]:
            raise ConfigError(
                f"config key 'experiment.methods.{i}': method {name!r} is not defined under 'methods' "
                f"(defined: {', '.join(sorted(config['methods']))})"
            )
    for i, name in enumerate(experiment.get("external_rationales", [])):
        key = f"config key 'experiment.external_rationales.{i}'"
        entry = config["methods"].get(name)
        if entry is None:
            raise ConfigError(f"{key}: method {name!r} is not defined under 'methods'")
        generator = entry.get("rationale_generator")
        if entry["builder"] != "radis" or generator is None:
            raise ConfigError(f"{key}: {name!r} needs builder radis and a rationale_generator")
        if "backbone" in generator and generator["backbone"] not in config["backbones"]:
            raise ConfigError(f"config key 'methods.{name}.rationale_generator.backbone': "
                              f"{generator['backbone']!r} is not defined under 'backbones'")
        if "method" in generator and generator["method"] not in experiment["methods"]:
            raise ConfigError(f"config key 'methods.{name}.rationale_generator.method': "
                              f"{generator['method']!r} is not in experiment.methods")
    for i, name in enumerate(experiment.get("prior_models", [])):
        key = f"config key 'experiment.prior_models.{i}'"
        entry = config["backbones"].get(name)
        if entry is None:
            raise ConfigError(f"{key}: model {name!r} is not defined under 'backbones'")
        if name in experiment["backbones"]:
            raise ConfigError(f"{key}: {name!r} is also in experiment.backbones; a prior model is evaluated as "
                              "released, a backbone is trained")
        if "prompt_format" in entry:
            prompt_format_path(entry["prompt_format"], f"backbones.{name}.prompt_format")
    for i, text in enumerate(experiment["directions"]):
        try:
            direction = Direction.parse(text)
        except ValueError as e:
            raise ConfigError(f"config key 'experiment.directions.{i}': {e}") from None
        if "en" not in (direction.src, direction.tgt):
            raise ConfigError(
                f"config key 'experiment.directions.{i}': {text!r} is not English-centric; "
                "the ALMA training data pairs every language with English"
            )
    general = config["general"]
    for i, name in enumerate(general["benchmarks"]):
        section = benchmark(name).section
        if section not in general:
            raise ConfigError(f"config key 'general.{section}': required by benchmark {name!r} "
                              f"(general.benchmarks.{i})")
    for section, bench in {benchmark(n).section: benchmark(n) for n in benchmarks() if benchmark(n).judged}.items():
        if section not in general:
            continue
        judge = general[section]["judge"]
        if judge != "refusal" and judge not in config["judges"]:
            raise ConfigError(f"config key 'general.{section}.judge': judge {judge!r} is not defined under 'judges'"
                              + (" (or use 'refusal', the offline prefix matcher)" if bench.refusal else ""))
        if judge == "refusal" and not bench.refusal:
            raise ConfigError(f"config key 'general.{section}.judge': 'refusal' only judges "
                              + ", ".join(b.column for b in benchmarks().values() if b.refusal))
    if "alpacaeval" in general:
        from radis.evaluate.alpacaeval import annotator_entry
        from radis.io import InputError

        try:
            annotator_entry(general["alpacaeval"]["annotator"])
        except InputError as e:
            raise ConfigError(f"config key 'general.alpacaeval.annotator': {e}") from None
    judge = config["analysis"]["rationale_categories"]["judge"]
    if judge not in config["judges"]:
        raise ConfigError(f"config key 'analysis.rationale_categories.judge': judge {judge!r} is not defined "
                          "under 'judges'")
    for name, judge in config["judges"].items():
        if "serve" in judge and judge["serve"] not in config["backbones"]:
            raise ConfigError(f"config key 'judges.{name}.serve': backbone {judge['serve']!r} is not defined "
                              "under 'backbones'")
    if general["data"]["source"] == "mirror" and not general["data"].get("mirror"):
        raise ConfigError("config key 'general.data.mirror': required when general.data.source is 'mirror'")
    return config


PROMPT_FORMATS_DIR = REPO_ROOT / "workflow" / "resources" / "prompt_formats"


def prompt_format_path(name: str, key: str = "prompt_format") -> Path:
    """The file of a prompt format (a released model's own translation prompt and chat template)."""
    path = PROMPT_FORMATS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROMPT_FORMATS_DIR.glob("*.yaml")))
        raise ConfigError(f"config key '{key}': no prompt format {name!r} ({path} does not exist; known: {known})")
    return path


def load_prompt_format(name: str) -> dict[str, str]:
    """A prompt format (see workflow/resources/prompt_formats/README.md) as the steps use it."""
    path = prompt_format_path(name)
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    missing = [k for k in ("translation", "chat_template") if not isinstance(spec.get(k), str)]
    if missing:
        raise ConfigError(f"{path}: missing or non-string key(s) {', '.join(missing)}")
    names = spec.get("language_names", {})
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise ConfigError(f"{path}: language_names must map language codes to names")
    return {"name": name, "translation": spec["translation"], "chat_template": spec["chat_template"],
            "language_names": names}


def used_judges(config: dict, names: set[str] | None = None) -> dict[str, dict]:
    """The judges that benchmarks ``names`` (default: all configured ones) call; their keys must be set."""
    general = config["general"]
    wanted = general["benchmarks"] if names is None else names
    judges = {general[benchmark(b).section]["judge"] for b in wanted if benchmark(b).judged}
    if names is None:
        judges.add(config["analysis"]["rationale_categories"]["judge"])
    return {n: config["judges"][n] for n in sorted(judges) if n in config["judges"]}


def deep_merge(base: dict, override: dict) -> dict:
    """Nested dict merge; lists and scalars in ``override`` replace those in ``base``."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def method_training(config: dict, method: str) -> dict:
    """The training settings of one method: shared settings with the method's overrides on top."""
    return deep_merge(config["training"], config["methods"][method].get("training", {}))


#: Settings that say how a step's work is laid out on the hardware, not what it computes (dotted
#: paths in a step's settings). Changing one moves only floating-point noise: a micro-batch split
#: (the loss is normalised per optimizer window), activation checkpointing, the GPUs of a
#: data-parallel job (each step still sees one window), a generation batch size or tensor-parallel
#: split. So lowering one to recover from an out-of-memory error keeps finished work: resumable
#: work (training checkpoints, synthesis shards) is keyed by the other settings only and records
#: these beside it.
HARDWARE_SETTINGS = ("device", "tensor_parallel_size", "generation.batch_size", "generation.tensor_parallel_size",
                     "training.micro_batch_size", "training.gradient_checkpointing", "training.save_steps",
                     "training.gpus")


def split_hardware(settings: dict, section: str = "") -> tuple[dict, dict]:
    """``(result settings, hardware settings)`` of a step's settings (:data:`HARDWARE_SETTINGS`):
    the settings without the hardware keys, and those keys as ``{dotted path: value}``.
    ``section`` says which part of a step's settings ``settings`` is (``"training"``)."""
    result = copy.deepcopy(settings)
    hardware = {}
    prefix = f"{section}." if section else ""
    for path in HARDWARE_SETTINGS:
        if not path.startswith(prefix):
            continue
        *parents, key = path.removeprefix(prefix).split(".")
        node = result
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict) and key in node:
            hardware[path] = node.pop(key)
    return result, hardware


def merge_hardware(settings: dict, hardware: dict) -> dict:
    """The inverse of :func:`split_hardware`: ``settings`` with the hardware settings put back
    (the rules pass them apart, as a resource Snakemake does not compare for reruns)."""
    result = copy.deepcopy(settings)
    for path, value in hardware.items():
        if path not in HARDWARE_SETTINGS:
            raise ConfigError(f"--hardware: {path!r} is no hardware setting (known: {', '.join(HARDWARE_SETTINGS)})")
        *parents, key = path.split(".")
        node = result
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = value
    return result


def directions(config: dict) -> list[Direction]:
    return [Direction.parse(d) for d in config["experiment"]["directions"]]


def load_config(path: str | Path, *overlays: str | Path) -> dict:
    """Load a config file with optional overlays merged on top (as ``--configfile`` does), validated."""
    config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    for overlay in overlays:
        config = deep_merge(config, yaml.safe_load(Path(overlay).read_text(encoding="utf-8")) or {})
    return validate_config(config)


def check_config_file(config: str, overlay: list[str]) -> None:
    """``radis validate``: a config file with overlays merged on top, validated."""
    load_config(config, *overlay)
    print(f"{config}: valid")
