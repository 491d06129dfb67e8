# Validation, wildcard constraints, paths and the per-step settings every rule passes to `radis`.
# A step's settings are exactly the config values it depends on: they go to the command as JSON
# and are the rule's params, so Snakemake reruns a step (and only it and its dependants) when one
# of them changes.
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from radis.config import ConfigError, load_prompt_format, method_training, validate_config  # noqa: E402

try:
    validate_config(config)
except ConfigError as e:
    raise WorkflowError(f"invalid configuration: {e}")

RADIS = f"{shlex.quote(sys.executable)} -m radis"
#: `radis train` under accelerate (DDP / DeepSpeed ZeRO) on the job's GPUs; plain python without
RADIS_LAUNCH = f"{shlex.quote(sys.executable)} -m radis.launch"
R = "results"
REPO = Path(workflow.basedir)
BACKBONES = config["experiment"]["backbones"]
METHODS = config["experiment"]["methods"]
#: Table 5: RaDis trained on rationales of another model (methods with a rationale_generator)
EXTERNAL = config["experiment"].get("external_rationales", [])
DIRECTIONS = config["experiment"]["directions"]
#: released MT models evaluated as they are (Tables 1-3, "Prior LLM-based MT models")
PRIOR = config["experiment"].get("prior_models", [])


wildcard_constraints:
    backbone="[A-Za-z0-9][A-Za-z0-9._-]*",
    method="[A-Za-z0-9][A-Za-z0-9._-]*",
    direction="[a-z]{2,3}-[a-z]{2,3}",
    split="train|test",
    kind="rationale|seqkd|sdft|rationale-[A-Za-z0-9][A-Za-z0-9._-]*",


def as_arg(obj):
    """A JSON value as one shell-quoted argument."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


def model_dir(backbone, method):
    """`base` is the backbone untouched; every other method is its merged fine-tuned model."""
    if method == "base":
        return f"{R}/backbones/{backbone}"
    return f"{R}/models/{backbone}/{method}/merged"


def backbone_entry(backbone):
    return config["backbones"][backbone]


def materialise_settings(backbone):
    """The catalogue entry, with its prompt format's text (so an edited format rebuilds the model)."""
    entry = dict(backbone_entry(backbone))
    if "prompt_format" in entry:
        entry["prompt_format"] = load_prompt_format(entry["prompt_format"])
    return entry


def prompt_format_settings(backbone):
    """`{"prompt_format": ...}` for a model with its own prompt format, else nothing (so the
    settings, and the params, of every other model stay as they were)."""
    name = backbone_entry(backbone).get("prompt_format")
    return {"prompt_format": load_prompt_format(name)} if name else {}


def generation_settings(backbone, decoding):
    return {
        "seed": config["seed"],
        "generation": config["generation"],
        "decoding": config["decoding"][decoding],
        "trust_remote_code": backbone_entry(backbone).get("trust_remote_code", False),
    }


def synth_kind(method):
    """The synthesized data a method trains on; `rationale-{method}` for another model's rationales."""
    from radis.methods import SYNTH_KIND

    entry = config["methods"][method]
    if "rationale_generator" in entry:
        return f"rationale-{method}"
    return SYNTH_KIND[entry["builder"]]


def generator_dir(backbone, kind):
    """The model that synthesizes `kind` data for `backbone`: itself, or a method's external generator."""
    if not kind.startswith("rationale-"):
        return f"{R}/backbones/{backbone}"
    generator = config["methods"][kind.removeprefix("rationale-")]["rationale_generator"]
    if "backbone" in generator:
        return f"{R}/backbones/{generator['backbone']}"
    return model_dir(backbone, generator["method"])


def methods_of(backbone, methods):
    """The methods that apply to a backbone (a method may be restricted to some backbones)."""
    return [m for m in methods if backbone in config["methods"][m].get("backbones", [backbone])]


def model_cells(pattern, methods, prior=True, **wildcards):
    """`pattern` for every backbone × (base + its applicable methods) × the other wildcards, and
    for the prior MT models (as released: `base`) unless `prior` is false."""
    models = [(b, m) for b in BACKBONES for m in ["base", *methods_of(b, methods)]]
    models += [(p, "base") for p in PRIOR] if prior else []
    return [f for b, m in models for f in expand(pattern, backbone=b, method=m, **wildcards)]


def prior_settings():
    """What the tables need to know of the prior MT models: label and the cells the paper shows."""
    return {
        p: {k: backbone_entry(p)[k] for k in ("label", "directions", "benchmarks") if k in backbone_entry(p)}
        for p in PRIOR
    }


def translation_cells(methods=None, prior=True):
    return model_cells(
        f"{R}/eval/{{backbone}}/{{method}}/translation/{{direction}}.json",
        METHODS + EXTERNAL if methods is None else methods,
        prior=prior,
        direction=DIRECTIONS,
    )


def all_targets():
    targets = [f"{R}/tables/table{n}.{ext}" for n in (1, 2) for ext in ("md", "csv", "tex")]
    if config["general"]["benchmarks"]:
        targets += [f"{R}/tables/table3.{ext}" for ext in ("md", "csv", "tex")]
    if "mtbench" in config["general"]["benchmarks"]:
        targets += [f"{R}/figures/figure1.png"]
    if EXTERNAL:
        targets += [f"{R}/tables/table5.{ext}" for ext in ("md", "csv", "tex")]
    if "radis" in METHODS:
        targets += expand(f"{R}/tables/table4-{{backbone}}.md", backbone=BACKBONES)
        if "seqkd" in METHODS:
            targets += expand(f"{R}/figures/figure4-{{backbone}}.png", backbone=BACKBONES)
    return targets


onstart:
    # A missing API key must stop the run before any GPU work, not when the first judge job starts
    # hours later; checked only for judges that jobs of this run will call (dry runs skip onstart).
    from radis.config import used_judges
    from radis.judges.client import JudgeConfig, resolve_api_key

    if any(job.rule.name == "judge_general" for job in workflow.dag.needrun_jobs()):
        for name, spec in used_judges(config).items():
            resolve_api_key(JudgeConfig.from_config(name, spec))
