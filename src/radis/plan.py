"""A cost plan before a run (``radis plan``): per stage the jobs, the work in tokens, the compute
(GPU-hours on the profile's GPUs, or CPU job minutes for a CPU config), judge calls and tokens (priced
where a judge gives prices) and the disk each stage writes.

Why: a paper run costs hundreds of GPU-hours and API dollars; the numbers should be known before
the first job, from the config and the real data rather than guessed. Everything here is an
estimate from stated assumptions (``ASSUMPTIONS`` is printed with the plan):

- Token counts come from the real data the run reads (the ALMA/WMT22 files and the general-ability
  sets, sized by the config's limits), at UTF-8 bytes / 4 per token (the judge client's chars/4
  estimate, counted in bytes so that Cyrillic and Chinese are not undercounted).
- Generated tokens: a translation, a Seq-KD answer or an SDFT paraphrase is as long as its
  reference; a rationale, an open answer, a GSM8K solution or a judgement runs to its
  ``max_new_tokens`` (an upper bound).
- Compute is FLOP-based: 6·N·tokens for training (an upper bound for LoRA, which skips weight
  gradients), 2·N·tokens for prompts and generated tokens; N from the model's name (``7b``,
  ``135m``). On an A100 (312 TFLOP/s bf16 dense): 35% MFU for training and prompts, 10% for
  decoding (memory-bound even when vLLM batches it). On CPU the rates are the embedded model's
  measured ones on 2 cores (DESIGN.md, benchmarks/RESULTS.md) turned into FLOP/s, plus a start-up
  time per job. Nothing here was measured on a GPU (benchmarks/gpu.py has not run on one).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from radis.benchmarks import benchmark
from radis.config import method_training
from radis.languages import Direction
from radis.grid import Grid
from radis.layout import BASE
from radis.seeds import method_of
from radis.settings import REPO_ROOT

BYTES_PER_TOKEN = 4
#: chat template and instruction around a sentence (SmolLM2's default system prompt alone is ~20)
PROMPT_OVERHEAD_TOKENS = 50
A100_FLOPS = 312e12
MFU = {"train": 0.35, "prefill": 0.35, "decode": 0.10}
#: CPU, 2 cores, embedded model (135M): ~60 generated tokens/s batched (batch 8-16), ~21 at batch
#: 1, ~150 tokens/s through LoRA training (72 trained tokens/s, half the tokens are prompt)
CPU_FLOPS = {"train": 6 * 135e6 * 150, "prefill": 6 * 135e6 * 150, "decode": 2 * 135e6 * 60,
             "decode_batch1": 2 * 135e6 * 21}
#: per-job start-up on CPU: Python, torch and transformers imports and the model load, or a light job
CPU_JOB_S = {"model": 12.0, "light": 2.0}
#: LoRA r16 on all linear layers of LLaMA-2-7B: 40.0M of 6.74B parameters; scaled by N and r/16
LORA_FRACTION_R16 = 40.0e6 / 6.74e9
#: XLM-R large behind Unbabel/wmt22-comet-da
COMET_PARAMS = 560e6
#: what download_comet puts into the hub cache: wmt22-comet-da's checkpoints/model.ckpt (2.32 GB) and
#: XLM-R's tokenizer and config (≈ 14 MB)
COMET_DOWNLOAD_BYTES = 2.33e9
#: fixed judge prompt text per Table 4 call: the rationale-categories prompt (a benchmark's judge
#: calls are costed by its module: radis.benchmarks.JudgeCost)
TABLE4_TEMPLATE_TOKENS = 400
#: lm-eval's default generation cap when gsm8k.max_gen_toks is null
LM_EVAL_MAX_GEN_TOKS = 256
#: where the paper config's data comes from when it is not a mirror: the local copies (same files)
SHARED_ALMA = REPO_ROOT.parent / "shared" / "data" / "alma"
SHARED_GENERAL = REPO_ROOT.parent / "shared" / "data"

ASSUMPTIONS = [
    f"tokens = UTF-8 bytes / {BYTES_PER_TOKEN} of the real data, + {PROMPT_OVERHEAD_TOKENS} per prompt for the "
    "chat template and instruction",
    "generated: translations, Seq-KD answers, SDFT paraphrases as long as their reference; rationales, "
    "general-ability answers, GSM8K solutions and judgements at max_new_tokens (upper bound)",
    "FLOPs: 6·N·tokens training, 2·N·tokens prompts and generation; N from the model name",
    "A100 bf16 312 TFLOP/s at MFU train 35%, prompts 35%, decoding 10% (not measured: FLOP-based)",
    "CPU: job time summed over jobs (a run on 2 cores with threads 1 runs two at once), at the embedded "
    "model's measured rates on 2-core machines as FLOP/s (training and prompts 122 G, batched "
    "decoding 16 G, batch-1 decoding 5.7 G), + 12 s start-up per model job, 2 s per light job",
    "disk: weights N × 2 bytes (bf16) or 4 (fp32); LoRA r16 ≈ 0.59% of N, kept with 2 checkpoints "
    "(weights + Adam states, fp32)",
]


def parameters(name: str, entry: dict) -> float:
    """Parameter count from the model's name or hub id (``7b``, ``13b``, ``135m``)."""
    source = entry.get("source", {})
    texts = [name, str(source.get("id", "")), str(source.get("base", {}).get("id", "")), str(source.get("path", ""))]
    for text in texts:
        found = re.search(r"(\d+(?:\.\d+)?)([bm])(?![a-z])", text.lower())
        if found:
            return float(found[1]) * (1e9 if found[2] == "b" else 1e6)
    raise ValueError(f"backbone {name!r}: no parameter count in its name or id (e.g. '7b'); the plan needs one")


def text_tokens(*texts: str) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / BYTES_PER_TOKEN


@dataclass
class Stage:
    name: str
    jobs: int = 0
    tokens: float = 0.0          # tokens processed (prompts + generated, or trained)
    flops: dict = field(default_factory=dict)   # kind -> FLOPs
    light_jobs: int = 0          # jobs without a model (start-up only)
    disk_bytes: float = 0.0

    def add(self, kind: str, n_params: float, tokens: float, factor: int = 2) -> None:
        self.tokens += tokens
        self.flops[kind] = self.flops.get(kind, 0.0) + factor * n_params * tokens

    def seconds(self, device: str) -> float:
        if device == "cpu":
            compute = sum(f / CPU_FLOPS[k] for k, f in self.flops.items())
            return compute + (self.jobs - self.light_jobs) * CPU_JOB_S["model"] + self.light_jobs * CPU_JOB_S["light"]
        return sum(f / (A100_FLOPS * MFU[k.removesuffix("_batch1")]) for k, f in self.flops.items())


@dataclass
class JudgeUse:
    served: bool = False
    calls: int = 0
    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0


@dataclass
class Plan:
    device: str
    stages: dict[str, Stage]
    judges: dict[str, JudgeUse]
    prices: dict[str, tuple[float, float] | None]
    #: experiment.seeds: every trained model's chain runs once per seed (radis.seeds)
    seeds: list[int] = field(default_factory=list)
    #: what the plan could not cost: a judged benchmark whose module declares no cost model
    uncosted: list[str] = field(default_factory=list)

    def stage(self, name: str) -> Stage:
        return self.stages.setdefault(name, Stage(name))

    @property
    def seconds(self) -> float:
        return sum(s.seconds(self.device) for s in self.stages.values())

    def job_counts(self) -> dict[str, int]:
        return {name: s.jobs for name, s in self.stages.items() if s.jobs}


def _read_json_any(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _mirror(config_section: dict, shared: Path) -> Path:
    if config_section.get("source") == "mirror":
        path = Path(config_section["mirror"])
        return path if path.is_absolute() else REPO_ROOT / path
    if shared.is_dir():
        return shared
    raise FileNotFoundError(f"the plan counts tokens of the real data: no mirror configured and {shared} is missing")


def make_plan(config: dict) -> Plan:
    from radis.data import subset
    from radis.data.alma import read_mirror

    device = "cpu" if config["compute"]["device"] == "cpu" else "cuda"
    plan = Plan(device, {}, {}, {})
    exp, gen = config["experiment"], config["general"]
    seed = config["seed"]
    backbones, methods, external, prior = exp["backbones"], exp["methods"], exp.get("external_rationales", []), \
        exp.get("prior_models", [])
    directions = [Direction.parse(d) for d in exp["directions"]]
    n_of = {name: parameters(name, entry) for name, entry in config["backbones"].items()}

    # ---- data: the real files, at the config's limits
    alma = _mirror(config["data"], SHARED_ALMA)
    train = {d: subset(read_mirror(alma, d, "train"), config["data"]["train_limit"], seed) for d in directions}
    test = {d: subset(read_mirror(alma, d, "test"), config["data"]["test_limit"], seed) for d in directions}
    train_records = [r for rs in train.values() for r in rs]
    test_records = [r for rs in test.values() for r in rs]
    prep = plan.stage("prepare_data")
    prep.jobs = prep.light_jobs = 2 * len(directions)
    prep.disk_bytes = sum(len(json.dumps(r)) for r in train_records + test_records)

    # the grid the rules expand (radis.grid): every trained model once per seed
    grid = Grid(config)
    plan.seeds = grid.seeds
    trained = [(b, v) for b in backbones for v in grid.trained(b)]
    models = grid.models()

    # ---- materialise: every model directory the run builds
    materialised = set(backbones) | set(prior)
    for m in external:
        generator = config["methods"][m]["rationale_generator"]
        if "backbone" in generator:
            materialised.add(generator["backbone"])
    judge_of = {b: gen[benchmark(b).section]["judge"] for b in gen["benchmarks"] if benchmark(b).judged}
    table4 = "radis" in methods
    used = set(judge_of.values()) | ({config["analysis"]["rationale_categories"]["judge"]} if table4 else set())
    served = {config["judges"][j]["serve"] for j in used if j in config["judges"] and "serve" in config["judges"][j]}
    materialised |= served
    weight_bytes = 2 if config["generation"]["dtype"] in ("bfloat16", "float16") else 4
    mat = plan.stage("materialise_backbone")
    mat.jobs = mat.light_jobs = len(materialised)
    mat.disk_bytes = sum(n_of[b] * weight_bytes for b in materialised)

    fetch = plan.stage("fetch_general_data")
    fetch.jobs = fetch.light_jobs = len({benchmark(b).section for b in gen["benchmarks"]})

    # ---- synthesis (per backbone and kind, a seed's own where it differs; the generator may be another model)
    synth = plan.stage("synthesize")
    prompt_tokens = sum(text_tokens(r["source"]) + PROMPT_OVERHEAD_TOKENS for r in train_records)
    reference_tokens = sum(text_tokens(r["reference"]) for r in train_records)
    generated = {}  # (backbone, kind) -> generated tokens
    for b, name in grid.synthesis():
        kind, n = grid.decoding_of(name), n_of[grid.generator(b, name)[0]]
        cap = config["decoding"][kind]["max_new_tokens"]
        out = len(train_records) * cap if kind == "rationale" else min(reference_tokens, len(train_records) * cap)
        prompt = prompt_tokens + (reference_tokens if kind in ("rationale", "sdft") else 0)
        synth.add("prefill", n, prompt)
        synth.add("decode", n, out)
        generated[(b, name)] = out
        synth.jobs += 1
        synth.disk_bytes += (prompt + out) * BYTES_PER_TOKEN * 2
    # ---- training, merge
    build, trn, merge = plan.stage("build_trainset"), plan.stage("train"), plan.stage("merge")
    for b, model in trained:
        s = method_training(config, method_of(model))
        tokens = prompt_tokens + reference_tokens
        kind = grid.synth_kind(model)
        if kind is not None and grid.decoding_of(kind) == "seqkd":
            tokens += prompt_tokens + generated[(b, kind)]
        elif kind is not None and grid.decoding_of(kind) == "rationale":
            tokens += generated[(b, kind)]
        trn.add("train", n_of[b], tokens * s["epochs"], factor=6)
        bytes_ = 2 if s["bf16"] else 4
        lora = n_of[b] * LORA_FRACTION_R16 * s["lora"]["r"] / 16 if s["finetuning"] == "lora" else n_of[b]
        trn.disk_bytes += lora * 4 * (1 + 2 * 3)  # adapter + 2 checkpoints of weights and Adam's 2 moments
        merge.disk_bytes += n_of[b] * bytes_
    build.jobs = build.light_jobs = trn.jobs = merge.jobs = len(trained)
    build.disk_bytes = len(trained) * (prompt_tokens + reference_tokens) * BYTES_PER_TOKEN * 2

    # ---- translation and scoring, per model
    tr, score = plan.stage("translate"), plan.stage("score_translation")
    test_prompt = sum(text_tokens(r["source"]) + PROMPT_OVERHEAD_TOKENS for r in test_records)
    test_ref = sum(text_tokens(r["reference"]) for r in test_records)
    for b, _ in models:
        tr.add("prefill", n_of[b], test_prompt)
        tr.add("decode", n_of[b], min(test_ref, len(test_records) * config["decoding"]["translation"]["max_new_tokens"]))
        if config["evaluation"]["comet_model"]:
            score.add("prefill", COMET_PARAMS, text_tokens(*(r["source"] + r["reference"] for r in test_records)) + test_ref)
        tr.disk_bytes += (test_prompt + test_ref) * BYTES_PER_TOKEN * 2
    tr.jobs = score.jobs = len(models)
    score.light_jobs = 0 if config["evaluation"]["comet_model"] else score.jobs
    if config["evaluation"]["comet_model"] and models:
        download = plan.stage("download_comet")  # a local rule: COMET into the hub cache, once
        download.jobs = download.light_jobs = 1
        download.disk_bytes = COMET_DOWNLOAD_BYTES

    # ---- general ability: answers, judgements, GSM8K
    general_dir = _mirror(gen["data"], SHARED_GENERAL)
    _general(plan, config, general_dir, models, n_of, judge_of)

    # ---- analysis and tables
    if table4:
        t4 = plan.stage("table4")
        t4.jobs = len(backbones)
        per = config["analysis"]["rationale_categories"]
        name = per["judge"]
        calls = per["per_direction"] * len(directions) * len(backbones)
        rationale = config["decoding"]["rationale"]["max_new_tokens"]
        avg_pair = (prompt_tokens + reference_tokens) / max(len(train_records), 1)
        _judge_calls(plan, t4, config, name, calls, TABLE4_TEMPLATE_TOKENS + avg_pair + rationale,
                     per["max_tokens"], n_of)
        if "seqkd" in methods:
            f4 = plan.stage("figure4")
            f4.jobs = len(backbones)
            g = config["analysis"]["gradient_similarity"]
            per_dir = g["per_direction"] * len(directions)
            for b in backbones:  # the MT loss and the regulariser, one backward pass each
                f4.add("train", n_of[b], 2 * per_dir * min(g["max_length"], avg_pair + rationale), factor=6)
    tables = plan.stage("tables")
    tables.jobs = tables.light_jobs = 1
    for name, wanted in (("table3", bool(gen["benchmarks"])), ("figure1", "mtbench" in gen["benchmarks"]),
                         ("table5", bool(external)), ("reproduction", True),
                         ("claims", {"vanilla", "radis"} <= set(methods))):
        if wanted:
            st = plan.stage(name)
            st.jobs = st.light_jobs = 1
    plan.stage("all").jobs = 1
    plan.stages["all"].light_jobs = 1
    return plan


def _judge_calls(plan: Plan, stage: Stage, config: dict, name: str, calls: int, prompt_tokens: float,
                 completion_tokens: float, n_of: dict) -> None:
    """Record ``calls`` judge calls of ``prompt_tokens`` + ``completion_tokens`` each; a judge the
    workflow serves costs compute in ``stage`` (batch 1 on CPU: the builtin server)."""
    if calls == 0 or name not in config["judges"]:
        return
    spec = config["judges"][name]
    use = plan.judges.setdefault(name, JudgeUse(served="serve" in spec))
    use.calls += calls
    use.prompt_tokens += calls * prompt_tokens
    use.completion_tokens += calls * completion_tokens
    prices = (spec.get("usd_per_mtok_prompt"), spec.get("usd_per_mtok_completion"))
    plan.prices[name] = prices if None not in prices else None
    if "serve" in spec:
        n = n_of[spec["serve"]]
        stage.add("prefill", n, calls * prompt_tokens)
        stage.add("decode_batch1" if plan.device == "cpu" else "decode", n, calls * completion_tokens)


def _general(plan: Plan, config: dict, data_dir: Path, models: list, n_of: dict, judge_of: dict) -> None:
    """Answers, judge calls and GSM8K. A judged benchmark is costed by its module (radis.benchmarks:
    ``plan_items`` and ``JUDGE_COST``); one whose module declares neither is listed as not costed."""
    from radis.benchmarks import data_file, module, response_sets
    from radis.data import subset
    from radis.settings import JudgedSection, typed

    gen, seed = config["general"], config["seed"]
    benchmarks = gen["benchmarks"]
    answers, judged, gsm = plan.stage("generate_general"), plan.stage("judge_general"), plan.stage("gsm8k")
    sets = {}  # response set -> (per item its prompt tokens, turns)
    for section in response_sets(benchmarks):
        items = getattr(module(section), "plan_items", None)
        if items is None:
            plan.uncosted.append(f"{section} (answers)")
            continue
        found = items(data_dir, gen[section].get("limit"), seed)
        sets[section] = ([text_tokens(*texts) for texts in found.texts], found.turns)
    for b, _ in models:
        for name, (prompts, turns) in sets.items():
            cap = gen[name]["decoding"]["max_new_tokens"]
            # a second MT-Bench turn re-reads the first turn and its answer
            answers.add("prefill", n_of[b], sum(turns * (p + PROMPT_OVERHEAD_TOKENS) + (turns - 1) * cap for p in prompts))
            answers.add("decode", n_of[b], len(prompts) * turns * cap)
            answers.disk_bytes += len(prompts) * turns * cap * BYTES_PER_TOKEN * 2
    if response_sets(benchmarks):
        answers.jobs = judged.jobs = len(models)
    for bench, name in judge_of.items():
        section = benchmark(bench).section
        cost = getattr(module(section), "JUDGE_COST", None)
        if name == "refusal" or section not in sets:  # the offline matcher; answers not costed (listed above)
            continue
        if cost is None:
            plan.uncosted.append(f"{bench} (judge calls)")
            continue
        prompts, turns = sets[section]
        cap = gen[section]["decoding"]["max_new_tokens"]
        calls = len(prompts) * (turns if cost.per_turn else 1) * len(models)
        avg = sum(prompts) / max(len(prompts), 1)
        completion = cost.completion_tokens(typed(JudgedSection, gen[section], "$defs.general_eval"))
        _judge_calls(plan, judged, config, name, calls, cost.template_tokens + cost.prompts * avg + cost.answers * cap,
                     completion, n_of)
    # the judge cache keeps every request and its answer
    judged.disk_bytes = sum(u.prompt_tokens + u.completion_tokens for u in plan.judges.values()) * BYTES_PER_TOKEN
    if "gsm8k" in benchmarks:
        g = gen["gsm8k"]
        problems = subset(_read_json_any(data_file(data_dir, "gsm8k", 0)), g.get("limit"), seed)
        shots = _read_json_any(data_file(data_dir, "gsm8k", 1))[: g["num_fewshot"]]
        shot_tokens = sum(text_tokens(s["question"], s["answer"]) for s in shots)
        cap = g.get("max_gen_toks") or LM_EVAL_MAX_GEN_TOKS
        for b, _ in models:
            gsm.add("prefill", n_of[b], sum(shot_tokens + text_tokens(p["question"]) for p in problems))
            gsm.add("decode", n_of[b], len(problems) * cap)
        gsm.jobs = len(models)
        gsm.disk_bytes = len(models) * len(problems) * (shot_tokens + cap) * BYTES_PER_TOKEN
    _drift(plan, config, data_dir, models, n_of, sets)


def _drift(plan: Plan, config: dict, data_dir: Path, models: list, n_of: dict, sets: dict) -> None:
    """Drift from backbone (not in the paper): per trained model one forward pass of it and of its
    backbone along the backbone's greedy answers (first turns), which are generated once per
    backbone unless its responses files are those answers; one loss-curve figure per backbone and
    one figure of translation gain against drift."""
    from radis.evaluate.drift import DRIFT_SETS, answers_reuse_responses

    gen = config["general"]
    trained = [(b, m) for b, m in models if m != BASE and b in config["experiment"]["backbones"]]
    if trained:
        curves = plan.stage("loss_curves")
        curves.jobs = curves.light_jobs = len({b for b, _ in trained})
    if not (gen.get("drift", {}).get("enabled") and gen["benchmarks"] and trained):
        return
    reused = answers_reuse_responses(gen)
    drift_sets = {}
    for s in DRIFT_SETS:  # the general-ability subsets, answered for drift even where not a benchmark of the run
        if s not in sets:
            from radis.benchmarks import module

            found = module(s).plan_items(data_dir, gen[s].get("limit"), config["seed"])
            sets[s] = ([text_tokens(*texts) for texts in found.texts], found.turns)
        drift_sets[s] = sets[s]
    if not reused:  # the drift answers read every drift set's data, fetched for them where no benchmark does
        fetch = plan.stage("fetch_general_data")
        extra = len(set(DRIFT_SETS) - {benchmark(b).section for b in gen["benchmarks"]})
        fetch.jobs += extra
        fetch.light_jobs += extra
    per_answer = {s: [p + PROMPT_OVERHEAD_TOKENS + gen[s]["decoding"]["max_new_tokens"] for p in prompts]
                  for s, (prompts, _) in drift_sets.items()}
    drift = plan.stage("drift")
    drift.jobs = len(trained)
    figure = plan.stage("drift_figure")
    figure.jobs = figure.light_jobs = 1
    for b, _ in trained:
        drift.add("prefill", 2 * n_of[b], sum(sum(v) for v in per_answer.values()))
    if not reused:
        answers = plan.stage("drift_answers")
        backbones = sorted({b for b, _ in trained})
        answers.jobs = len(backbones)
        for b in backbones:
            for s, (prompts, _) in drift_sets.items():
                answers.add("prefill", n_of[b], sum(p + PROMPT_OVERHEAD_TOKENS for p in prompts))
                answers.add("decode", n_of[b], len(prompts) * gen[s]["decoding"]["max_new_tokens"])


def _size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return ""


def render(plan: Plan, gpu_model: str | None = None) -> str:
    cpu = plan.device == "cpu"
    unit = "CPU min (job time)" if cpu else f"GPU-hours ({(gpu_model or 'a100').upper()}, FLOP-based)"
    lines = [f"| stage | jobs | tokens | {unit} | disk |", "|---|---:|---:|---:|---:|"]
    for s in plan.stages.values():
        t = s.seconds(plan.device)
        lines.append(f"| {s.name} | {s.jobs} | {s.tokens:,.0f} | {t / 60:.1f} | {_size(s.disk_bytes)} |" if cpu else
                     f"| {s.name} | {s.jobs} | {s.tokens:,.0f} | {t / 3600:.1f} | {_size(s.disk_bytes)} |")
    total = plan.seconds
    lines.append(f"| total | {sum(s.jobs for s in plan.stages.values())} | "
                 f"{sum(s.tokens for s in plan.stages.values()):,.0f} | "
                 + (f"{total / 60:.1f}" if cpu else f"{total / 3600:.1f}")
                 + f" | {_size(sum(s.disk_bytes for s in plan.stages.values()))} |")
    lines += ["", "| judge | calls | prompt tokens | completion tokens (at most) | cost |", "|---|---:|---:|---:|---:|"]
    usd_total = 0.0
    for name, use in plan.judges.items():
        prices = plan.prices.get(name)
        if prices:
            usd = (use.prompt_tokens * prices[0] + use.completion_tokens * prices[1]) / 1e6
            usd_total += usd
            cost = f"${usd:,.2f}"
        else:
            cost = "served by the run (compute in its stage)" if use.served else "no price in the config"
        lines.append(f"| {name} | {use.calls:,} | {use.prompt_tokens:,.0f} | {use.completion_tokens:,.0f} | {cost} |")
    if usd_total:
        lines.append(f"| total | | | | ${usd_total:,.2f} |")
    if plan.uncosted:
        lines += ["", f"Not costed (their modules declare no plan_items / JUDGE_COST, radis.benchmarks): "
                  f"{', '.join(plan.uncosted)}."]
    if len(plan.seeds) > 1:
        lines += ["", f"Seeds: {len(plan.seeds)} ({', '.join(map(str, plan.seeds))}, experiment.seeds). Every trained "
                  f"model's training set, training, merge, evaluation, judge calls and drift are counted {len(plan.seeds)}"
                  " times; its synthesis too where it samples or its generator is a trained model, otherwise once "
                  "(shared by every seed); the backbones' and prior models' own evaluation once."]
    lines += ["", "Assumptions (estimates, not measurements):", *(f"- {a}" for a in ASSUMPTIONS)]
    return "\n".join(lines)


def print_plan(configfile: list[str]) -> None:
    """``radis plan``: the plan of config/config.yaml with ``configfile`` overlays, as Snakemake merges them."""
    from radis.config import load_config
    from radis.settings import REPO_ROOT

    config = load_config(REPO_ROOT / "config" / "config.yaml", *configfile)
    print(render(make_plan(config), config["compute"].get("gpu_model")))
