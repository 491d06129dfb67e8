"""The plan of a config: its grid (radis.grid) and the real data it reads, costed stage by stage."""

from __future__ import annotations

import json
from pathlib import Path

from radis.benchmarks import benchmark
from radis.config import method_training
from radis.grid import Grid
from radis.languages import Direction
from radis.layout import BASE
from radis.plan.model import (BYTES_PER_TOKEN, COMET_DOWNLOAD_BYTES, COMET_PARAMS, LM_EVAL_MAX_GEN_TOKS,
                              LORA_FRACTION_R16, PROMPT_OVERHEAD_TOKENS, TABLE4_TEMPLATE_TOKENS, JudgeUse, Plan,
                              Stage, parameters, text_tokens)
from radis.seeds import method_of
from radis.settings import REPO_ROOT

#: where the paper config's data comes from when it is not a mirror: the local copies (same files)
SHARED_ALMA = REPO_ROOT.parent / "shared" / "data" / "alma"
SHARED_GENERAL = REPO_ROOT.parent / "shared" / "data"


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


def _prompt_tokens(items) -> tuple[list[float], int]:
    """A benchmark's :class:`radis.benchmarks.PlanItems` as the plan counts them: per item the
    tokens of its user turns, and the turns a model answers."""
    return [text_tokens(*texts) for texts in items.texts], items.turns


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
        sets[section] = _prompt_tokens(items(data_dir, gen[section].get("limit"), seed))
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
    from radis.benchmarks import module
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
            sets[s] = _prompt_tokens(module(s).plan_items(data_dir, gen[s].get("limit"), config["seed"]))
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
