"""The ``radis`` command: one subcommand per workflow action; argument parsing only.

Snakemake rules call these with file paths and a ``--settings`` JSON of exactly the config values
the step depends on (which is also what Snakemake's params-based rerun trigger compares).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from radis.device import DeviceError, enforce_device
from radis.io import InputError, read_jsonl, write_json, write_jsonl, write_text


def _direction(text: str):
    from radis.languages import Direction

    try:
        return Direction.parse(text)
    except ValueError as e:
        raise InputError(str(e)) from None


def _settings(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"--settings is not JSON: {e}") from None


def _prior(settings: dict) -> dict[str, dict]:
    """The prior MT models, in the order the rules listed them ([name, spec] pairs)."""
    return dict(settings.get("prior") or [])


def cmd_validate(args) -> None:
    from radis.config import load_config

    load_config(args.config, *args.overlay)
    print(f"{args.config}: valid")


def cmd_prepare_data(args) -> None:
    from radis.data import alma

    s = _settings(args.settings)
    direction = _direction(args.direction)
    sums = s.get("sha256") or {}
    if s["source"] == "mirror":
        if not sums:
            print("warning: data.sha256 is empty: the mirror's files are not verified", file=sys.stderr)
        records = alma.read_mirror(Path(s["mirror"]), direction, args.split, sha256=sums or None)
    else:
        hub = s["hub"]["train" if args.split == "train" else "test"]
        if not any(key.startswith(f"{hub['id']}/") for key in sums):
            print(f"warning: data.sha256 pins no file of {hub['id']}: read at revision {hub['revision']}, "
                  "unverified", file=sys.stderr)
        records = alma.read_hub(direction, args.split, hub["id"], hub["revision"], sha256=sums)
    records = alma.prepare(records, s["limit"], s["seed"])
    alma.write_direction(Path(args.out), records)
    print(f"{args.out}: {len(records)} records")


def cmd_materialise(args) -> None:
    from radis.backbones import materialise

    s = _settings(args.settings)
    record = materialise(args.name, s, Path(args.out))
    print(json.dumps(record, indent=2))


def _generator(s: dict, model_dir: str):
    from radis.generation import load_generator

    g = s["generation"]
    return load_generator(g["backend"], model_dir, batch_size=g["batch_size"], dtype=g["dtype"],
                          tensor_parallel_size=s.get("tensor_parallel_size", g.get("tensor_parallel_size", 1)),
                          trust_remote_code=s.get("trust_remote_code", False), seed=s["seed"])


def _check_prompts_fit(s: dict, model: str, build_prompts, records: list[dict], step: str) -> None:
    """Refuse records whose prompt would not fit the model's context, before its weights load."""
    from radis.generation import check_prompts_fit, load_tokenizer

    tokenizer = load_tokenizer(model, s.get("trust_remote_code", False))
    check_prompts_fit(model, tokenizer, build_prompts(tokenizer, records), s["decoding"]["max_new_tokens"],
                      [r.get("id", f"record {i}") for i, r in enumerate(records)], step)


def _per_direction(args, suffix: str) -> list[tuple]:
    """(direction, input path, output path, meta path) for every direction of a multi-direction job."""
    return [(_direction(d), Path(args.data_dir) / f"{d}.jsonl", Path(args.out_dir) / f"{d}{suffix}.jsonl",
             Path(args.out_dir) / f"{d}{suffix}.meta.json") for d in args.directions]


def _regroup(flat: list, batches: list[list]) -> list[list]:
    """Cut a flat list of results back into the per-direction batches it was made from."""
    groups, start = [], 0
    for batch in batches:
        groups.append(flat[start:start + len(batch)])
        start += len(batch)
    return groups


def cmd_synthesize(args) -> None:
    """All directions in one job: the model is loaded once and batches mix directions by length.

    Work is written in shards to ``{out-dir}.shards/`` (beside the outputs, which Snakemake deletes
    when a job fails; the shards it leaves alone), so a killed job's rerun generates only the shards
    it had not finished; the directory is removed once the outputs are written.
    """
    import shutil

    from radis.config import DecodingParams, split_hardware
    from radis.provenance import config_hash, model_identity, provenance
    from radis.synth import SHARD_SIZE, SYNTHESIZERS, summarize, synthesize_in_shards, with_instructions

    s = _settings(args.settings)
    enforce_device("synthesize", s)
    jobs = _per_direction(args, "")
    batches = [with_instructions(read_jsonl(data), direction, s["seed"]) for direction, data, _, _ in jobs]
    records = [r for batch in batches for r in batch]
    out_dir = Path(args.out_dir)
    shard_dir = out_dir.parent / f"{out_dir.name}.shards"
    _check_prompts_fit(s, args.model, SYNTHESIZERS[args.kind][0], records, f"synthesize {args.kind}")
    key_settings, hardware = split_hardware(s)
    out, shards = synthesize_in_shards(
        args.kind, lambda: _generator(s, args.model), records, DecodingParams.from_config(s["decoding"]), shard_dir,
        key_settings, model_identity(args.model),
        shard_size=s["generation"].get("shard_size", SHARD_SIZE),
        log=lambda line: print(line, flush=True), hardware=hardware)
    for (direction, _, out_path, meta_path), part in zip(jobs, _regroup(out, batches)):
        summary = summarize(args.kind, part)
        write_jsonl(out_path, part)
        write_json(meta_path, provenance(kind=args.kind, model_dir=args.model, direction=str(direction),
                                         config_hash=config_hash(s), decoding=s["decoding"],
                                         generation=s["generation"], summary=summary, shards=shards))
        print(direction, json.dumps(summary))
    shutil.rmtree(shard_dir)


def cmd_build_trainset(args) -> None:
    from radis.methods import SYNTH_KIND, build_trainset
    from radis.synth import with_instructions

    s = _settings(args.settings)
    kind = SYNTH_KIND[s["builder"]]
    records = []
    for data_path in args.data:
        direction = _direction(Path(data_path).stem)
        if kind is None:
            records += with_instructions(read_jsonl(data_path), direction, s["seed"])
        else:
            synth_path = Path(args.synth_dir) / f"{direction}.jsonl"
            records += read_jsonl(synth_path)
    examples = build_trainset(s["builder"], records)
    write_jsonl(args.out, examples)
    print(f"{args.out}: {len(examples)} examples from {len(records)} sentence pairs")


def cmd_train(args) -> None:
    from radis.training.trainer import train

    s = _settings(args.settings)
    enforce_device("train", s)
    summary = train(Path(args.backbone), read_jsonl(args.trainset), s["training"], Path(args.out),
                    Path(args.checkpoints), seed=s["seed"], trust_remote_code=s.get("trust_remote_code", False),
                    source=args.trainset, report_to=s.get("report_to"),
                    runs_dir=Path(args.runs_dir) if args.runs_dir else None)
    print(json.dumps({k: v for k, v in summary.items() if k != "loss_curve"}))


def cmd_merge(args) -> None:
    from radis.training.merge import merge

    s = _settings(args.settings)
    merge(Path(args.backbone), Path(args.adapter), Path(args.out), bf16=s["bf16"],
          trust_remote_code=s.get("trust_remote_code", False))


def cmd_translate(args) -> None:
    """Every test direction of one model in one job: the model is loaded once."""
    from radis.config import DecodingParams
    from radis.evaluate.translation import extract_translation, translation_prompts
    from radis.provenance import config_hash, provenance

    s = _settings(args.settings)
    enforce_device("translate", s)
    ev = s["evaluation"]
    jobs = _per_direction(args, ".hyp")
    batches = [read_jsonl(data) for _, data, _, _ in jobs]
    records = [r for batch in batches for r in batch]
    _check_prompts_fit(s, args.model,
                       lambda tok, rs: translation_prompts(tok, rs, ev["instruction"], s.get("prompt_format")),
                       records, "translate")
    generator = _generator(s, args.model)
    prompts = translation_prompts(generator.tokenizer, records, ev["instruction"], s.get("prompt_format"))
    generations = generator.generate(prompts, DecodingParams.from_config(s["decoding"]))
    out = []
    for r, g in zip(records, generations):
        hypothesis, rules = extract_translation(g.text, ev["postprocess"])
        out.append({**r, "output": g.text, "hypothesis": hypothesis, "extraction": rules,
                    "generated_tokens": g.n_tokens, "finished": g.finished})
    for (direction, _, out_path, meta_path), part in zip(jobs, _regroup(out, batches)):
        write_jsonl(out_path, part)
        write_json(meta_path, provenance(model_dir=args.model, direction=str(direction), config_hash=config_hash(s),
                                         decoding=s["decoding"], generation=s["generation"], evaluation=ev,
                                         prompt_format=(s.get("prompt_format") or {}).get("name"), n=len(part)))


def cmd_score(args) -> None:
    """Every direction of one model in one job: COMET is loaded once (load_comet caches it), and
    each direction still gets its own result file, the table cell."""
    from radis.evaluate.translation import extraction_counts, score_translations
    from radis.io import read_json
    from radis.provenance import provenance

    s = _settings(args.settings)
    if not len(args.hypotheses) == len(args.generation_meta) == len(args.out):
        raise InputError("score: give one --generation-meta and one --out per --hypotheses file, in the same order")
    comet_gpus = s.get("comet_gpus", 0) if s["comet_model"] else 0
    if comet_gpus and enforce_device("score (COMET on GPU)", s) == "cpu":
        comet_gpus = 0
    for hypotheses, meta, out in zip(args.hypotheses, args.generation_meta, args.out):
        rows = read_jsonl(hypotheses)
        if not rows:
            raise InputError(f"{hypotheses}: no hypotheses")
        metrics = score_translations([r["source"] for r in rows], [r["hypothesis"] for r in rows],
                                     [r["reference"] for r in rows], rows[0]["tgt_lang"],
                                     comet_model=s["comet_model"], comet_batch_size=s["comet_batch_size"],
                                     comet_gpus=comet_gpus)
        write_json(out, {
            "backbone": args.backbone, "method": args.method,
            "direction": f"{rows[0]['src_lang']}-{rows[0]['tgt_lang']}",
            "metrics": {k: metrics[k] for k in ("bleu", "chrf", "comet")},
            "n": len(rows),
            "extraction": extraction_counts([r.get("extraction", []) for r in rows]),
            "provenance": provenance(signatures={k: v for k, v in metrics.items() if k not in ("bleu", "chrf", "comet")},
                                     generation=read_json(meta)),
        })
        print(out, json.dumps(metrics))


def cmd_tables(args) -> None:
    from radis.languages import Direction
    from radis.tables import choose_metric, load_translation_results, translation_table, write_table

    s = _settings(args.settings)
    results = load_translation_results([Path(p) for p in args.results])
    metric = choose_metric(results)
    directions = [Direction.parse(d) for d in s["directions"]]
    methods = ["base", *s["methods"]]
    for stem, wanted in ((args.table1, lambda d: d.src == "en"), (args.table2, lambda d: d.tgt == "en")):
        chosen = [str(d) for d in directions if wanted(d)]
        if chosen:
            table = translation_table(results, s["backbones"], methods, chosen, metric, prior=_prior(s))
            write_table(table, Path(stem))
        else:  # a grid without this side still gets a file saying so
            for ext in ("md", "csv", "tex"):
                write_text(f"{stem}.{ext}", "n/a: no direction of this side in experiment.directions\n")


def cmd_fetch_general(args) -> None:
    from radis.data.general import fetch

    s = _settings(args.settings)
    for path in fetch(args.dataset, Path(args.out_dir), s["source"], s.get("mirror")):
        print(path)


def cmd_generate_general(args) -> None:
    """Every response set of one model in one job: the model is loaded once."""
    from radis.config import DecodingParams
    from radis.evaluate.general import generate

    s = _settings(args.settings)
    enforce_device("generate-general", s)
    generator = _generator(s, args.model)
    for benchmark in args.benchmarks:
        b = s["benchmarks"][benchmark]
        records = generate(benchmark, generator, Path(args.data_dir), DecodingParams.from_config(b["decoding"]),
                           b["limit"], s["seed"], b.get("temperatures") or "fastchat")
        out = Path(args.out_dir) / f"{benchmark}.responses.jsonl"
        write_jsonl(out, records)
        print(f"{out}: {len(records)} responses")


def _cell(args, benchmark: str, metrics: dict, **extra) -> dict:
    """One general-ability table cell with its provenance."""
    from radis.provenance import config_hash, provenance

    s = _settings(args.settings)
    return {"backbone": args.backbone, "method": args.method, "benchmark": benchmark, "metrics": metrics,
            "provenance": provenance(config_hash=config_hash(s), settings=s, **extra)}


def cmd_judge(args) -> None:
    """Every judged benchmark of one model in one job: a served judge model is started once."""
    from radis.evaluate.general import judge_all

    s = _settings(args.settings)
    if any("serve" in (spec["judge"] or {}) for spec in s["judged"].values()):
        enforce_device("judge (served judge model)", s)
    eval_dir = Path(args.eval_dir)
    judge_models = dict(item.split("=", 1) for item in args.judge_model)
    results = judge_all(s["judged"], eval_dir, Path(args.data_dir), Path(args.cache_dir), judge_models,
                        eval_dir / "judge.work", f"{args.backbone}/{args.method}")
    for benchmark, result in results.items():
        write_jsonl(eval_dir / f"{benchmark}.judgments.jsonl", result["details"])
        write_json(eval_dir / f"{benchmark}.json", _cell(args, benchmark, result["metrics"], judge=result["judge"]))
        print(benchmark, json.dumps(result["metrics"])[:300])


def cmd_gsm8k(args) -> None:
    from radis.evaluate.general import data_path
    from radis.evaluate.gsm8k import run_gsm8k

    s = _settings(args.settings)
    enforce_device("gsm8k", s)
    g = s["gsm8k"]
    metrics = run_gsm8k(
        Path(args.model), test_file=data_path(Path(args.data_dir), "gsm8k", 0),
        train_file=data_path(Path(args.data_dir), "gsm8k", 1), limit=g.get("limit"),
        num_fewshot=g.get("num_fewshot", 5), apply_chat_template=g.get("apply_chat_template", True),
        fewshot_as_multiturn=g.get("fewshot_as_multiturn", True), backend=s["backend"],
        batch_size=g.get("batch_size", 8), max_gen_toks=g.get("max_gen_toks"), seed=s["seed"],
        work_dir=Path(args.work_dir), samples_path=Path(args.samples), dtype=s["dtype"],
        tensor_parallel_size=s.get("tensor_parallel_size", 1))
    write_json(args.out, _cell(args, "gsm8k", metrics))
    print(json.dumps(metrics))


def cmd_drift(args) -> None:
    """Drift from backbone of one trained model on the backbone's greedy general-ability answers."""
    from radis.evaluate.drift import DRIFT_SETS, answers_from_responses, measure_drift, summarize
    from radis.provenance import config_hash, provenance

    s = _settings(args.settings)
    enforce_device("drift", s)
    answers = [a for name in DRIFT_SETS
               for a in answers_from_responses(name, read_jsonl(Path(args.answers_dir) / f"{name}.responses.jsonl"))]
    per_answer = measure_drift(Path(args.backbone_model), Path(args.model), answers, batch_size=s["batch_size"],
                               dtype=s["dtype"], trust_remote_code=s.get("trust_remote_code", False))
    metrics = summarize(per_answer)
    write_json(args.out, {
        "backbone": args.backbone, "method": args.method, "metrics": metrics,
        "per_answer": per_answer,
        "provenance": provenance(config_hash=config_hash(s), settings=s, backbone_model=args.backbone_model,
                                 model=args.model, answers_dir=args.answers_dir),
    })
    print(json.dumps({k: v for k, v in metrics.items() if k != "per_set"}))


def cmd_table3(args) -> None:
    from radis.io import read_json
    from radis.tables import general_table, write_table

    s = _settings(args.settings)
    results = [read_json(p) for p in args.results]
    drift = [read_json(p) for p in args.drift] if s.get("drift") else None
    write_table(general_table(results, s["backbones"], ["base", *s["methods"]], s["benchmarks"], prior=_prior(s),
                              drift=drift), Path(args.out))


def cmd_drift_figure(args) -> None:
    from radis.io import read_json
    from radis.tables import choose_metric, drift_figure, load_translation_results

    translation = load_translation_results([Path(p) for p in args.translation])
    points = drift_figure(translation, [read_json(p) for p in args.drift], Path(args.out), choose_metric(translation))
    write_json(args.points, points)


def cmd_figure1(args) -> None:
    from radis.io import read_json
    from radis.tables import choose_metric, figure1, load_translation_results

    translation = load_translation_results([Path(p) for p in args.translation])
    prior = _prior(_settings(args.settings)) if args.settings else None
    points = figure1(translation, [read_json(p) for p in args.mtbench], Path(args.out), choose_metric(translation),
                     prior=prior)
    write_json(args.points, points)


def cmd_loss_curves(args) -> None:
    """The training-loss figure of one backbone: one line per method."""
    from radis.curves import loss_curve, loss_figure
    from radis.tables import method_name

    if len(args.adapters) != len(args.methods):
        raise InputError(f"{len(args.adapters)} adapters for {len(args.methods)} methods")
    curves = {method_name(m): loss_curve(Path(a)) for m, a in zip(args.methods, args.adapters)}
    write_json(args.points, loss_figure(curves, args.backbone, Path(args.out)))


def cmd_table5(args) -> None:
    from radis.io import read_json
    from radis.tables import choose_metric, load_translation_results, table5, write_table

    s = _settings(args.settings)
    translation = load_translation_results([Path(p) for p in args.translation])
    drift = [read_json(p) for p in args.drift] if s.get("drift") else None
    table = table5(translation, [read_json(p) for p in args.general], s["backbones"], s["methods"],
                   s["generators"], s["benchmarks"], choose_metric(translation), s.get("backbone_names"), drift=drift)
    write_table(table, Path(args.out))


def _records_by_direction(directory: str, directions: list[str]) -> dict[str, list[dict]]:
    return {d: read_jsonl(Path(directory) / f"{d}.jsonl") for d in directions}


def cmd_table4(args) -> None:
    """Table 4: an LLM judge labels a seeded sample of rationales with the paper's categories."""
    from radis.analysis import rationales
    from radis.evaluate.general import judge_endpoint
    from radis.judges.client import JudgeClient, JudgeConfig

    s = _settings(args.settings)
    if "serve" in s["judge"]:
        enforce_device("table4 (served judge model)", s)
    records = _records_by_direction(args.synth_dir, args.directions)
    samples = rationales.sample_rationales(records, s["per_direction"], s["seed"])
    template = Path(args.prompt).read_text(encoding="utf-8")
    judge_models = dict(item.split("=", 1) for item in args.judge_model)
    out = Path(args.out)
    with judge_endpoint(s["judge_name"], s["judge"], judge_models.get(s["judge"].get("serve", "")),
                        out.with_suffix(".judge-server.log")) as base_url:
        config = JudgeConfig.from_config(s["judge_name"], s["judge"])
        client = JudgeClient(config, Path(args.cache_dir) / s["judge_name"], base_url=base_url,
                             model_dir=judge_models.get(s["judge"].get("serve", "")))
        if config.scoring == "logprobs":
            labels, raw = rationales.classify_by_logprobs(client, samples, template)
        else:
            labels, raw = rationales.classify_rationales(client, samples, template, s.get("max_tokens", 64))
    result = rationales.table4_result(samples, labels, raw, records, template, s["per_direction"], s["seed"],
                                      s["judge_name"], config.scoring)
    write_json(out, result)
    for ext, text in zip(("md", "csv", "tex"), rationales.render_table4(result)):
        write_text(f"{args.table}.{ext}", text)


def cmd_figure4(args) -> None:
    """Figure 4: per-layer cosine of the MT-loss and regulariser gradients, Seq-KD and RaDis."""
    from radis.analysis.gradients import gradient_similarity, plot_figure4

    s = _settings(args.settings)
    enforce_device("figure4", s)
    results = {}
    for method, synth_dir in (("seqkd", args.seqkd_dir), ("radis", args.rationale_dir)):
        records = [r for rs in _records_by_direction(synth_dir, args.directions).values() for r in rs]
        results[method] = gradient_similarity(Path(args.model), records, method, s["per_direction"], s["seed"],
                                              max_length=s.get("max_length", 512), lora_r=s.get("lora_r", 8))
    positive = plot_figure4(results, Path(args.out))
    write_json(args.result, {"positive_layers": positive, "results": results})
    print(json.dumps(positive))


def cmd_plan(args) -> None:
    from radis.config import REPO_ROOT, load_config
    from radis.plan import make_plan, render

    config = load_config(REPO_ROOT / "config" / "config.yaml", *args.configfile)
    print(render(make_plan(config), config["compute"].get("gpu_model")))


def cmd_cell(args) -> None:
    """Print (or run) the file target and Snakemake command of one table cell."""
    import subprocess

    from radis.cells import cell_targets, describe, format_command, snakemake_command
    from radis.config import load_config

    config = load_config(args.config_base, *args.configfile)
    targets = cell_targets(args.table, args.backbone, args.method, args.column, config["experiment"]["directions"])
    overlays = [str(p) for p in args.configfile]
    cmd = snakemake_command(targets, profile=args.profile, configfiles=overlays or None, force=args.force)
    print(describe(args.table, args.backbone, args.method, args.column))
    print("\n".join(targets))
    print(format_command(cmd))
    if args.run:
        raise SystemExit(subprocess.call(cmd))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="radis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, func, help_, *arguments):
        p = sub.add_parser(name, help=help_)
        for flags, kwargs in arguments:
            p.add_argument(*flags, **kwargs)
        p.set_defaults(func=func)

    req = {"required": True}
    per_direction = ((["--directions"], {"nargs": "+", **req}),
                     (["--data-dir"], {"required": True, "help": "holds {direction}.jsonl"}),
                     (["--out-dir"], {"required": True, "help": "gets {direction}[.hyp].jsonl and .meta.json"}))
    settings = (["--settings"], {"required": True, "help": "JSON of the config values this step uses"})
    add("validate", cmd_validate, "validate a config file (with overlays merged on top)",
        (["config"], {}), (["overlay"], {"nargs": "*"}))
    add("prepare-data", cmd_prepare_data, "ALMA/WMT22 data of one direction as JSONL",
        (["--direction"], req), (["--split"], {"choices": ["train", "test"], **req}), (["--out"], req), settings)
    add("materialise", cmd_materialise, "a backbone as a local HF model directory",
        (["--name"], req), (["--out"], req), settings)
    add("synthesize", cmd_synthesize, "rationales / Seq-KD translations / SDFT paraphrases",
        (["--kind"], {"choices": ["rationale", "seqkd", "sdft"], **req}), (["--model"], req), *per_direction,
        settings)
    add("build-trainset", cmd_build_trainset, "a method's training set (chat examples)",
        (["--data"], {"nargs": "+", **req}), (["--synth-dir"], {}), (["--out"], req), settings)
    add("train", cmd_train, "LoRA or full fine-tuning with resume",
        (["--backbone"], req), (["--trainset"], req), (["--out"], req), (["--checkpoints"], req),
        (["--runs-dir"], {"help": "where TensorBoard (settings report_to) writes the training curves"}), settings)
    add("merge", cmd_merge, "merge a LoRA adapter into its backbone",
        (["--backbone"], req), (["--adapter"], req), (["--out"], req), settings)
    add("translate", cmd_translate, "greedy translation of the test sets",
        (["--model"], req), *per_direction, settings)
    many = {"nargs": "+", **req}
    add("score", cmd_score, "BLEU/chrF/COMET of table cells (one per --hypotheses file)",
        (["--hypotheses"], many), (["--generation-meta"], many), (["--backbone"], req), (["--method"], req),
        (["--out"], many), settings)
    add("tables", cmd_tables, "Tables 1 (EN→X) and 2 (X→EN)",
        (["--results"], {"nargs": "+", **req}), (["--table1"], req), (["--table2"], req), settings)
    add("fetch-general", cmd_fetch_general, "MT-Bench / AlpacaEval / AdvBench / GSM8K files",
        (["--dataset"], {"choices": ["mtbench", "alpacaeval", "advbench", "gsm8k"], **req}), (["--out-dir"], req),
        settings)
    add("generate-general", cmd_generate_general, "a model's responses to the general-ability benchmarks",
        (["--benchmarks"], {"nargs": "+", "choices": ["mtbench", "alpacaeval", "advbench"], **req}),
        (["--model"], req), (["--data-dir"], req), (["--out-dir"], req), settings)
    model = ((["--backbone"], req), (["--method"], req))
    add("judge", cmd_judge, "judge a model's responses: MT-Bench, AlpacaEval 1/2, AdvBench",
        (["--eval-dir"], {"required": True, "help": "holds {set}.responses.jsonl; gets {benchmark}.json"}),
        (["--data-dir"], req), (["--cache-dir"], req),
        (["--judge-model"], {"nargs": "*", "default": [], "help": "BACKBONE=DIR of each judge served for this job"}),
        *model, settings)
    add("plan", cmd_plan, "what a run will cost: jobs, tokens, GPU-hours or CPU time, judge calls, disk",
        (["--configfile"], {"nargs": "*", "default": [], "help": "overlays on config/config.yaml, as Snakemake takes them"}))
    add("gsm8k", cmd_gsm8k, "GSM8K 5-shot exact match through lm-eval",
        (["--model"], req), (["--data-dir"], req), (["--samples"], req), (["--work-dir"], req), *model,
        (["--out"], req), settings)
    add("drift", cmd_drift, "drift from backbone: KL and NLL change along the backbone's general-ability answers",
        (["--backbone-model"], req), (["--model"], req),
        (["--answers-dir"], {"required": True, "help": "holds the backbone's {mtbench,alpacaeval,advbench}.responses.jsonl"}),
        *model, (["--out"], req), settings)
    drift = (["--drift"], {"nargs": "*", "default": [], "help": "drift.json files (with settings drift: true)"})
    add("table3", cmd_table3, "Table 3 (general ability, RP)",
        (["--results"], {"nargs": "+", **req}), drift, (["--out"], req), settings)
    add("figure1", cmd_figure1, "Figure 1 (translation vs MT-Bench)",
        (["--translation"], {"nargs": "+", **req}), (["--mtbench"], {"nargs": "+", **req}), (["--out"], req),
        (["--points"], req), (["--settings"], {"help": "JSON: {prior: [[name, {label}], ...]}"}))
    add("drift-figure", cmd_drift_figure, "translation gain vs drift from backbone (not in the paper)",
        (["--translation"], {"nargs": "+", **req}), (["--drift"], {"nargs": "+", **req}), (["--out"], req),
        (["--points"], req))
    add("table5", cmd_table5, "Table 5 (RaDis with rationales from other models)",
        (["--translation"], {"nargs": "+", **req}), (["--general"], {"nargs": "+", **req}), drift, (["--out"], req),
        settings)
    add("loss-curves", cmd_loss_curves, "the training-loss figure of one backbone (one line per method)",
        (["--adapters"], {"nargs": "+", **req}), (["--methods"], {"nargs": "+", **req}), (["--backbone"], req),
        (["--out"], req), (["--points"], req))
    add("table4", cmd_table4, "Table 4 (rationale categories, LLM judge)",
        (["--synth-dir"], req), (["--directions"], {"nargs": "+", **req}), (["--prompt"], req),
        (["--cache-dir"], req), (["--judge-model"], {"nargs": "*", "default": []}), (["--out"], req),
        (["--table"], {"required": True, "help": "stem of the .md/.csv/.tex table"}), settings)
    add("figure4", cmd_figure4, "Figure 4 (gradient similarity per layer)",
        (["--model"], req), (["--rationale-dir"], req), (["--seqkd-dir"], req),
        (["--directions"], {"nargs": "+", **req}), (["--out"], req), (["--result"], req), settings)
    add("cell", cmd_cell, "the result file(s) of one table cell and the command that rebuilds it",
        (["table"], {"type": int, "choices": [1, 2, 3, 4, 5]}), (["backbone"], {}),
        (["method"], {"help": "Table 4: radis (the backbone's self-generated rationales)"}),
        (["column"], {"help": "a language (Czech, cs), a benchmark (MT-Bench, GSM8K), Avg., RP, X→EN, EN→X; "
                              "Table 4: a category (Grammar, 'Word/phrase translation')"}),
        (["--configfile"], {"nargs": "*", "default": [], "help": "the run's config overlays (as for snakemake)"}),
        (["--config-base"], {"default": "config/config.yaml"}),
        (["--profile"], {"default": "profiles/local"}),
        (["--force"], {"action": "store_true", "help": "recompute the cell even if it is up to date"}),
        (["--run"], {"action": "store_true", "help": "run the command"}))
    return parser


def main(argv: list[str] | None = None) -> int:
    from radis import interrupt
    from radis.config import ConfigError
    from radis.io import sweep_temporaries
    from radis.judges.client import JudgeError, MissingKeyError
    from radis.training.trainer import TrainingDiverged

    args = build_parser().parse_args(argv)
    interrupt.install()  # SLURM's SIGTERM: a clean stop (temporaries removed), not a dead process
    outs = getattr(args, "out", None) or []
    for out in [outs] if isinstance(outs, str) else outs:  # what a killed earlier run left (a 13 GB merge)
        sweep_temporaries(out)
    try:
        args.func(args)
    except (InputError, ConfigError, MissingKeyError, JudgeError, DeviceError, TrainingDiverged) as e:
        print(f"radis {args.command}: error: {e}", file=sys.stderr)
        return 2
    except interrupt.Terminated as e:
        print(f"radis {args.command}: {e}", file=sys.stderr)
        return interrupt.EXIT_STATUS
    return 0


if __name__ == "__main__":
    sys.exit(main())
