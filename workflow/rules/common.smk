# Validation, wildcard constraints, paths and the per-step settings every rule passes to `radis`.
# A step's settings are exactly the config values it depends on: they go to the command as JSON.
# Those that change its result are the rule's params (`--settings`), so Snakemake reruns a step
# (and only it and its dependants) when one of them changes; its hardware settings
# (radis.config.HARDWARE_SETTINGS: batch sizes, GPU counts, save_steps, the device) are a
# resource (`--hardware`), which Snakemake does not compare: lowering a batch after an
# out-of-memory error reruns nothing.
import json
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from snakemake.settings.types import DeploymentMethod  # noqa: E402

from radis.benchmarks import benchmark as benchmark_of, datasets, response_sets  # noqa: E402
from radis.methods import synthesis_kinds  # noqa: E402
from radis.config import load_prompt_format, method_training, split_hardware, validate_config  # noqa: E402
from radis.settings import ConfigError
from radis.envs import environment_of, interpreter, missing_interpreters, spec_file  # noqa: E402
from radis.hublock import hub_cache  # noqa: E402
from radis.grid import Grid  # noqa: E402
from radis.seeds import WILDCARD_SUFFIX, method_of, seed_of  # noqa: E402
from radis.layout import (
    COMET_DOWNLOAD,
    DRIFT_RESULT,
    GENERAL_RESULT,
    LOCKS,
    R,
    TABLE4_RESULT,  # noqa: E402
    TRANSLATION_RESULT,
    job_benchmark,
    job_log,
    model_dir,
)
from radis.settings import default as schema_default, trust_remote_code  # noqa: E402

try:
    validate_config(config)
except ConfigError as e:
    raise WorkflowError(f"invalid configuration: {e}")

REPO = Path(workflow.basedir)

# ---- stage environments (radis.envs; envs/{main,comet,vllm}.yaml) ---------------------------------
# Each rule's `conda` directive names its environment; with --software-deployment-method conda Snakemake
# builds and activates it and the command's `python` is that environment's. Without conda the
# command runs the venv interpreter that config key `environments` names (envs/setup.sh builds
# them). Never Snakemake's own interpreter. The repository's src/ is importable in every one.
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
#: the environment GPU generation runs in: vLLM's own, or main for the transformers backend
GEN_ENV = "vllm" if config["generation"]["backend"] == "vllm" else "main"


def conda_env(name):
    """The environment's definition for the `conda:` directive: vLLM's CPU build when the config
    computes on CPUs (compute.device: cpu), its GPU build otherwise (radis.envs.DEFINITIONS)."""
    return str(spec_file(name, REPO, "cpu" if COMPUTE["device"] == "cpu" else "cuda"))


def env_python(name):
    if USE_CONDA:
        return "python"
    return shlex.quote(str(interpreter(name, config["environments"], REPO)))


#: the hub cache every job downloads to and reads from (config key hub_cache, else HF_HUB_CACHE,
#: else HF_HOME/hub, else results/hub-cache: radis.hublock.hub_cache), given to every command
HUB_CACHE = hub_cache(config.get("hub_cache"), REPO, Path.cwd())


def radis_command(name, module="radis"):
    """`python -m radis` of environment `name`, with the repository's src/ on PYTHONPATH and the
    run's hub cache as HF_HUB_CACHE."""
    src = shlex.quote(str(REPO / "src"))
    return (
        f"HF_HUB_CACHE={shlex.quote(HUB_CACHE)} PYTHONPATH={src}${{PYTHONPATH:+:$PYTHONPATH}} "
        f"{env_python(name)} -m {module}"
    )


RADIS = radis_command("main")
#: COMET scoring reads the hub cache only, never the network (it runs on compute nodes): the local
#: rule download_comet put the checkpoint and its encoder's tokenizer there
RADIS_COMET = f"HF_HUB_OFFLINE=1 {radis_command('comet')}"
#: download_comet: the same environment, with the network (a local rule: where Snakemake runs)
RADIS_COMET_DOWNLOAD = radis_command("comet")
RADIS_GEN = radis_command(GEN_ENV)
#: `radis train` under accelerate (DDP / DeepSpeed ZeRO) on the job's GPUs; plain python without
RADIS_LAUNCH = radis_command("main", "radis.launch")

# ---- GPUs per job, from the config (the SLURM profile gives only the partition) -----------------
COMPUTE = config["compute"]


def gpu_count(count_of):
    """`resources: gpu=` of a job that computes on `count_of(wildcards)` GPUs: none unless
    compute.request_gpus, so a CPU run asks SLURM for nothing and no job waits for GPUs it won't use."""
    return lambda w: int(count_of(w)) if COMPUTE["request_gpus"] else 0


def route_to_partitions(rules):
    """Send every job that asks for GPUs to the GPU partition (RADIS_SLURM_GPU_PARTITION, QoS
    RADIS_SLURM_GPU_QOS) and every other job to the CPU partition (RADIS_SLURM_CPU_*), by the job's
    own `gpu` resource: one place for every rule, so a new GPU rule cannot be missed (the profile
    sizes jobs, it does not route them). Unset: the cluster's default partition, no QoS. A rule's
    `--set-resources RULE:slurm_partition=...` (or a site-wide --default-resources) still wins."""
    env = os.environ

    def routed(gpu, on_gpu, on_cpu):
        def choose(wildcards, input, threads, attempt):
            n = gpu.evaluate(wildcards, input=input, threads=threads, attempt=attempt).value
            return on_gpu if int(n or 0) else on_cpu

        return choose

    for each in rules:  # ("rule" is a Snakemake keyword)
        gpu = each.resources.get("gpu")
        each.resources.setdefault(
            "slurm_partition",
            routed(gpu, env.get("RADIS_SLURM_GPU_PARTITION", ""), env.get("RADIS_SLURM_CPU_PARTITION", "")),
        )
        each.resources.setdefault("qos", routed(gpu, env.get("RADIS_SLURM_GPU_QOS"), env.get("RADIS_SLURM_CPU_QOS")))


def gpu_type(count_of):
    """`resources: gpu_model=` to go with :func:`gpu_count`: compute.gpu_model (SLURM: --gpus=a100:N),
    empty when the job asks for no GPU."""
    return lambda w: (COMPUTE.get("gpu_model") or "") if gpu_count(count_of)(w) else ""


def model_gpus(backbone):
    """GPUs that generating with a model of `backbone` takes: its tensor-parallel size with vLLM
    (e.g. Llama-3-70B-Instruct: 4), one with the transformers backend."""
    if config["generation"]["backend"] != "vllm":
        return 1
    return backbone_entry(backbone).get("tensor_parallel_size", config["generation"]["tensor_parallel_size"])


def device_settings(backbone=None):
    """What every GPU-capable step is told about its hardware (radis.device): where to compute
    and, for vLLM, the tensor-parallel size."""
    settings = {"device": COMPUTE["device"]}
    if backbone is not None:
        settings["tensor_parallel_size"] = model_gpus(backbone)
    return settings


#: the grid (radis.grid): models per backbone, the seeds' chains, what each model is synthesized from
GRID = Grid(config)
BACKBONES = GRID.backbones
METHODS = GRID.methods
#: Table 5: RaDis trained on rationales of another model (methods with a rationale_generator)
EXTERNAL = GRID.external
DIRECTIONS = GRID.directions
#: released MT models evaluated as they are (Tables 1-3, "Prior LLM-based MT models")
PRIOR = GRID.prior
#: one chain per seed (radis.seeds): the `method` wildcard of a model is a variant, `radis@7`, and
#: the first seed's is the plain method name
SEEDS = GRID.seeds
#: resamples of the tables' and figures' intervals and paired tests (radis.stats)
BOOTSTRAP = config["evaluation"].get("bootstrap", schema_default("evaluation.bootstrap"))


wildcard_constraints:
    backbone="[A-Za-z0-9][A-Za-z0-9._-]*",
    method=f"[A-Za-z0-9][A-Za-z0-9._-]*{WILDCARD_SUFFIX}",
    direction="[a-z]{2,3}-[a-z]{2,3}",
    split="train|test",
    kind=f"(?:{'|'.join([*synthesis_kinds(), 'rationale-[A-Za-z0-9][A-Za-z0-9._-]*'])}){WILDCARD_SUFFIX}",


def as_arg(obj):
    """A JSON value as one shell-quoted argument."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


def settings_arg(settings):
    """A step's `--settings` (its params): the settings that change its result."""
    return as_arg(split_hardware(settings)[0])


def hardware_arg(settings):
    """A step's `--hardware` (a resource, not compared for reruns): its hardware settings."""
    return as_arg(split_hardware(settings)[1])


def backbone_entry(backbone):
    return config["backbones"][backbone]


#: catalogue keys that only name a model in tables and figures: not the materialise step's settings,
#: so renaming a prior model reruns its tables, not its chain
DISPLAY_KEYS = ("label",)


def materialise_settings(backbone):
    """The catalogue entry, with its prompt format's text (so an edited format rebuilds the model)."""
    entry = {k: v for k, v in backbone_entry(backbone).items() if k not in DISPLAY_KEYS}
    if "prompt_format" in entry:
        entry["prompt_format"] = load_prompt_format(entry["prompt_format"])
    return entry


def prompt_format_settings(backbone):
    """`{"prompt_format": ...}` for a model with its own prompt format, else nothing (so the
    settings, and the params, of every other model stay as they were)."""
    name = backbone_entry(backbone).get("prompt_format")
    return {"prompt_format": load_prompt_format(name)} if name else {}


def generation_settings(backbone, decoding, model_backbone=None, seed=None):
    """Settings of a generation step of `backbone`; `model_backbone` is the catalogue entry of the
    model that generates (another one for Table 5's external rationale generators); `seed` that of
    a synthesis chain (radis.seeds), else the config seed (evaluation)."""
    return {
        **device_settings(model_backbone or backbone),
        "seed": config["seed"] if seed is None else seed,
        "generation": config["generation"],
        "decoding": config["decoding"][decoding],
        "trust_remote_code": trust_remote_code(backbone_entry(backbone)),
    }


#: the synthesized data a trained model trains on (None: the references alone): radis.grid
synth_kind = GRID.synth_kind
#: the decoding section (and `radis synthesize --kind`) of a synthesis kind
synth_type = GRID.decoding_of


def generator_backbone(backbone, kind):
    """The catalogue backbone whose model synthesizes `kind` data for `backbone` (its GPUs, its
    trust_remote_code): itself, or the external generator of a Table 5 method."""
    return GRID.generator(backbone, kind)[0]


def generator_dir(backbone, kind):
    """The model that synthesizes `kind` data for `backbone`: itself, another catalogue model, or a
    method's model trained in the same seed's chain."""
    return model_dir(*GRID.generator(backbone, kind))


def served_judge_env(judges):
    """The environment a job that serves these judges runs in: vLLM's when one is served with
    `vllm serve` (judges.<name>.server: vllm; it has the judge client and alpaca_eval too), else main."""
    return "vllm" if any(j and "serve" in j and j.get("server") == "vllm" for j in judges) else "main"


#: the methods that apply to a backbone, and its trained models (each method once per seed): radis.grid
methods_of = GRID.methods_of
trained_models = GRID.trained


def seed_settings():
    """What the tables and figures need to pool seeds (radis.seeds.pool_seeds): nothing for one seed,
    so a one-seed run's tables keep their params."""
    return {"seeds": SEEDS} if len(SEEDS) > 1 else {}


def model_cells(pattern, methods, prior=True, **wildcards):
    """`pattern` for every model of the grid (radis.grid.Grid.models: each backbone untouched and
    trained, once per seed, then the prior MT models unless `prior` is false) × the other wildcards."""
    return [f for b, m in GRID.models(methods, prior) for f in expand(pattern, backbone=b, method=m, **wildcards)]


def prior_settings():
    """What the tables need to know of the prior MT models: label and the cells the paper shows.
    A list of [name, spec] pairs, not a mapping: `as_arg` sorts keys, and the tables print the
    prior models in the order of experiment.prior_models (the paper's)."""
    return [
        [p, {k: backbone_entry(p)[k] for k in ("label", "directions", "benchmarks") if k in backbone_entry(p)}]
        for p in PRIOR
    ]


def translation_cells(methods=None, prior=True):
    return model_cells(
        TRANSLATION_RESULT,
        METHODS + EXTERNAL if methods is None else methods,
        prior=prior,
        direction=DIRECTIONS,
    )


def all_targets():
    targets = [f"{R}/tables/table{n}.{ext}" for n in (1, 2) for ext in ("md", "csv", "tex")]
    targets += [f"{R}/tables/reproduction.{ext}" for ext in ("md", "csv")]  # ours beside the paper's
    if {"vanilla", "radis"} <= set(METHODS):  # the paper's claims, tested on this run (radis.claims)
        targets += [f"{R}/tables/claims.md"]
    if config["general"]["benchmarks"]:
        targets += [f"{R}/tables/table3.{ext}" for ext in ("md", "csv", "tex")]
    if "mtbench" in config["general"]["benchmarks"]:
        targets += [f"{R}/figures/figure1.png"]
    if EXTERNAL:
        targets += [f"{R}/tables/table5.{ext}" for ext in ("md", "csv", "tex")]
    targets += [f"{R}/figures/loss-{b}.png" for b in BACKBONES if methods_of(b, METHODS + EXTERNAL)]
    trained = any(methods_of(b, METHODS + EXTERNAL) for b in BACKBONES)
    if config["general"]["drift"]["enabled"] and config["general"]["benchmarks"] and trained:
        targets += [f"{R}/figures/drift.png"]  # translation gain against drift (not in the paper)
    if "radis" in METHODS:
        targets += expand(f"{R}/tables/table4-{{backbone}}.md", backbone=BACKBONES)
        if "seqkd" in METHODS:
            targets += expand(f"{R}/figures/figure4-{{backbone}}.png", backbone=BACKBONES)
    return targets


def check_cluster(jobs, executor_settings):
    """Before the first submission (radis.cluster): every job's request must fit a node of its
    partition, or the run stops naming the rule and the --set-resources that fits; and job states
    are queried with the command that sees them end on this cluster."""
    from snakemake.logging import logger

    from radis.cluster import misfits, read_config, read_nodes, request_of, status_settings

    problems = misfits([request_of(job) for job in jobs], read_nodes())
    if problems:
        raise WorkflowError(
            "No node of the cluster could run these jobs; SLURM would keep them PENDING "
            "(nothing was submitted):\n  "
            + "\n  ".join(problems)
            + "\nOr write a profile fitted to this cluster: radis slurm-profile --out DIR"
        )
    for name, value in status_settings(read_config(), executor_settings.init_seconds_before_status_checks).items():
        if name == "status_command" and executor_settings.status_command != value:
            logger.info(
                f"This cluster keeps no accounting (sacct never sees a job end): job states come "
                f"from {value} instead of {executor_settings.status_command}."
            )
        setattr(executor_settings, name, value)


onstart:
    # A missing API key must stop the run before any GPU work, not when the first judge job starts
    # hours later; checked only for judges that jobs of this run will call (dry runs skip onstart).
    from radis.config import used_judges
    from radis.judges.client import JudgeConfig, resolve_api_key

    jobs = list(workflow.dag.needrun_jobs())
    if workflow.executor_plugin is not None and workflow.executor_plugin.cli_prefix == "slurm":
        check_cluster([job for job in jobs if not job.is_local], workflow.executor_settings)
    if not USE_CONDA:
        # an environment that envs/setup.sh did not build fails here, not hours later on a GPU node
        missing = missing_interpreters(
            {environment_of(Path(job.rule.conda_env).stem) for job in jobs if job.rule.conda_env},
            config["environments"],
            REPO,
        )
        if missing:
            raise WorkflowError("\n".join(missing))
    if any(job.rule.name == "judge_general" for job in jobs):
        for name, spec in used_judges(config).items():
            resolve_api_key(JudgeConfig.from_config(name, spec))
    # a hub branch (`main`) is read only at a pinned or locked commit (radis.hublock): one that is
    # neither stops the run here, before anything is downloaded, unless the run is exploratory
    from radis.hublock import backbone_refs, comet_encoder_ref, comet_ref, data_ref, refuse_unlocked
    from radis.io import InputError

    refs = [
        r
        for job in jobs
        if job.rule.name == "materialise_backbone"
        for r in backbone_refs(job.wildcards.backbone, backbone_entry(job.wildcards.backbone)).values()
    ]
    refs += [
        r for job in jobs if job.rule.name == "prepare_data" if (r := data_ref(config["data"], job.wildcards.split))
    ]
    if any(j.rule.name in ("download_comet", "score_translation") for j in jobs):
        refs += [r for r in (comet_ref(config["evaluation"]), comet_encoder_ref(config["evaluation"])) if r]
    try:
        refuse_unlocked(refs, Path(LOCKS), config.get("exploratory", schema_default("exploratory")))
    except InputError as e:
        raise WorkflowError(str(e))
