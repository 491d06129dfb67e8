"""The ``radis`` command: one subcommand per workflow action; argument parsing only.

Each subcommand names the function that does the action, in the module that owns it, and calls it
with its arguments as keywords (``--data-dir`` → ``data_dir``). Snakemake rules call these with
file paths and a ``--settings`` JSON of exactly the config values the step depends on (which is
also what Snakemake's params-based rerun trigger compares), and its hardware settings apart
(``--hardware``, radis.config.HARDWARE_SETTINGS), merged back here.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from radis.device import DeviceError
from radis.io import InputError


def _settings(text: str, flag: str = "--settings") -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{flag} is not JSON: {e}") from None


def build_parser() -> argparse.ArgumentParser:
    from radis.benchmarks import benchmarks, datasets, response_sets
    from radis.methods import synthesis_kinds

    parser = argparse.ArgumentParser(prog="radis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, action, help_, *arguments):
        """Subcommand ``name`` runs ``action`` ("module:function")."""
        p = sub.add_parser(name, help=help_)
        for flags, kwargs in arguments:
            p.add_argument(*flags, **kwargs)
        if any(flags == ["--settings"] for flags, _ in arguments):
            p.add_argument("--hardware", default="{}", help="JSON: the step's hardware settings, apart from --settings")
        p.set_defaults(action=action)

    req = {"required": True}
    per_direction = ((["--directions"], {"nargs": "+", **req}),
                     (["--data-dir"], {"required": True, "help": "holds {direction}.jsonl"}),
                     (["--out-dir"], {"required": True, "help": "gets {direction}[.hyp].jsonl and .meta.json"}))
    settings = (["--settings"], {"required": True, "help": "JSON of the config values this step uses"})
    add("config-doc", "radis.config_doc:write_config_doc", "write config/README.md (every config key) from the schema",
        (["--out"], {"default": "config/README.md"}))
    add("validate", "radis.config:check_config_file", "validate a config file (with overlays merged on top)",
        (["config"], {}), (["overlay"], {"nargs": "*"}))
    add("prepare-data", "radis.data.alma:prepare_direction", "ALMA/WMT22 data of one direction as JSONL",
        (["--direction"], req), (["--split"], {"choices": ["train", "test"], **req}), (["--out"], req), settings)
    add("materialise", "radis.backbones:materialise_backbone", "a backbone as a local HF model directory",
        (["--name"], req), (["--out"], req), settings)
    add("synthesize", "radis.synth:synthesize_directions", "rationales / Seq-KD translations / SDFT paraphrases",
        (["--kind"], {"choices": list(synthesis_kinds()), **req}), (["--model"], req), *per_direction,
        settings)
    add("build-trainset", "radis.methods:write_trainset", "a method's training set (chat examples)",
        (["--data"], {"nargs": "+", **req}), (["--synth-dir"], {}), (["--out"], req), settings)
    add("train", "radis.training.trainer:fine_tune", "LoRA or full fine-tuning with resume",
        (["--backbone"], req), (["--trainset"], req), (["--out"], req), (["--checkpoints"], req),
        (["--runs-dir"], {"help": "where TensorBoard (settings report_to) writes the training curves"}), settings)
    add("merge", "radis.training.merge:merge_adapter", "merge a LoRA adapter into its backbone",
        (["--backbone"], req), (["--adapter"], req), (["--out"], req), settings)
    add("translate", "radis.evaluate.translation:translate", "greedy translation of the test sets",
        (["--model"], req), *per_direction, settings)
    many = {"nargs": "+", **req}
    add("score", "radis.evaluate.translation:score", "BLEU/chrF/COMET of table cells (one per --hypotheses file)",
        (["--hypotheses"], many), (["--generation-meta"], many), (["--backbone"], req), (["--method"], req),
        (["--out"], many), settings)
    add("download-comet", "radis.evaluate.translation:download_comet",
        "COMET and its encoder's tokenizer into the hub cache, at their pinned or locked commits",
        (["--out"], {"required": True, "help": "gets what was fetched (JSON)"}), settings)
    add("tables", "radis.tables.steps:write_translation_tables", "Tables 1 (EN→X) and 2 (X→EN)",
        (["--results"], {"nargs": "+", **req}), (["--table1"], req), (["--table2"], req), settings)
    add("fetch-general", "radis.data.general:fetch_dataset", "MT-Bench / AlpacaEval / AdvBench / GSM8K files",
        (["--dataset"], {"choices": list(datasets()), **req}), (["--out-dir"], req),
        settings)
    add("generate-general", "radis.evaluate.general:generate_responses", "a model's responses to the general-ability benchmarks",
        (["--benchmarks"], {"dest": "response_sets", "nargs": "+", "choices": response_sets(benchmarks()), **req}),
        (["--model"], req), (["--data-dir"], req), (["--out-dir"], req), settings)
    model = ((["--backbone"], req), (["--method"], req))
    add("judge", "radis.evaluate.general:judge_responses", "judge a model's responses: MT-Bench, AlpacaEval 1/2, AdvBench",
        (["--eval-dir"], {"required": True, "help": "holds {set}.responses.jsonl; gets {benchmark}.json"}),
        (["--data-dir"], req), (["--cache-dir"], req),
        (["--judge-model"], {"nargs": "*", "default": [], "help": "BACKBONE=DIR of each judge served for this job"}),
        *model, settings)
    add("plan", "radis.plan.render:print_plan", "what a run will cost: jobs, tokens, GPU-hours or CPU time, judge calls, disk",
        (["--configfile"], {"nargs": "*", "default": [], "help": "overlays on config/config.yaml, as Snakemake takes them"}))
    add("lock", "radis.hublock:lock_config", "lock every unpinned hub revision of a config to the commit it points at now",
        (["--configfile"], {"nargs": "*", "default": [], "help": "overlays on config/config.yaml, as Snakemake takes them"}),
        (["--directory"], {"default": ".", "help": "the run's working directory (as snakemake --directory); "
                                                   "the locks go to its results/locks"}))
    add("slurm-profile", "radis.cluster:write_fitted_profile",
        "the SLURM profile fitted to the cluster at hand (every job's CPUs, memory and time within its nodes)",
        (["--out"], {"required": True, "help": "the profile directory to write (gets config.yaml)"}),
        (["--profile"], {"default": "profiles/slurm/config.yaml", "help": "the profile to fit"}),
        (["--max-cpus"], {"type": int, "help": "ask at most this many CPUs per job (a few CPUs of a shared cluster)"}),
        (["--max-mem-mb"], {"type": int, "help": "ask at most this much memory per job"}))
    add("gsm8k", "radis.evaluate.gsm8k:evaluate", "GSM8K 5-shot exact match through lm-eval",
        (["--model"], req), (["--data-dir"], req), (["--samples"], req), (["--work-dir"], req), *model,
        (["--out"], req), settings)
    add("drift", "radis.evaluate.drift:drift", "drift from backbone: KL and NLL change along the backbone's general-ability answers",
        (["--backbone-model"], req), (["--model"], req),
        (["--answers-dir"], {"required": True, "help": "holds the backbone's {mtbench,alpacaeval,advbench}.responses.jsonl"}),
        *model, (["--out"], req), settings)
    drift = (["--drift"], {"nargs": "*", "default": [], "help": "drift.json files (with settings drift: true)"})
    add("table3", "radis.tables.steps:write_table3", "Table 3 (general ability, RP)",
        (["--results"], {"nargs": "+", **req}), drift, (["--out"], req), settings)
    add("figure1", "radis.tables.steps:write_figure1", "Figure 1 (translation vs MT-Bench)",
        (["--translation"], {"nargs": "+", **req}), (["--mtbench"], {"nargs": "+", **req}), (["--out"], req),
        (["--points"], req), (["--settings"], {"default": "{}", "help": "JSON: {prior: [[name, {label}], ...]}"}))
    add("drift-figure", "radis.tables.steps:write_drift_figure", "translation gain vs drift from backbone (not in the paper)",
        (["--translation"], {"nargs": "+", **req}), (["--drift"], {"nargs": "+", **req}), (["--out"], req),
        (["--points"], req), (["--settings"], {"default": "{}", "help": "JSON: {bootstrap: {samples, seed}, seeds: [...]}"}))
    add("claims", "radis.claims:write_claims", "the paper's claims tested on this run (yes / no / not distinguishable)",
        (["--translation"], {"nargs": "+", **req}), drift, (["--out"], {"required": True, "help": "stem of claims.md/.json"}),
        settings)
    add("table5", "radis.tables.steps:write_table5", "Table 5 (RaDis with rationales from other models)",
        (["--translation"], {"nargs": "+", **req}), (["--general"], {"nargs": "+", **req}), drift, (["--out"], req),
        settings)
    add("reproduction", "radis.reproduction:write_reproduction",
        "ours beside the paper's numbers, one table per paper table (interval, difference, outside mark)",
        (["--tables"], {"nargs": "+", **req, "help": "the run's rendered table CSVs (table1.csv, ...)"}),
        (["--table4"], {"nargs": "*", "default": [], "help": "rationale_categories.json of each backbone"}),
        (["--out"], {"required": True, "help": "stem of reproduction.md/.csv"}), settings)
    add("loss-curves", "radis.curves:write_loss_figure", "the training-loss figure of one backbone (one line per method)",
        (["--adapters"], {"nargs": "+", **req}), (["--methods"], {"nargs": "+", **req}), (["--backbone"], req),
        (["--out"], req), (["--points"], req))
    add("table4", "radis.analysis.rationales:table4", "Table 4 (rationale categories, LLM judge)",
        (["--synth-dir"], req), (["--directions"], {"nargs": "+", **req}), (["--prompt"], req),
        (["--cache-dir"], req), (["--judge-model"], {"nargs": "*", "default": []}), (["--out"], req),
        (["--table"], {"required": True, "help": "stem of the .md/.csv/.tex table"}), settings)
    add("figure4", "radis.analysis.gradients:figure4", "Figure 4 (gradient similarity per layer)",
        (["--model"], req), (["--rationale-dir"], req), (["--seqkd-dir"], req),
        (["--directions"], {"nargs": "+", **req}), (["--out"], req), (["--result"], req), settings)
    add("cell", "radis.cells:cell", "the result file(s) of one table cell and the command that rebuilds it",
        (["table"], {"type": int, "choices": [1, 2, 3, 4, 5]}), (["backbone"], {}),
        (["method"], {"help": "Table 4: radis (the backbone's self-generated rationales)"}),
        (["column"], {"help": "a language (Czech, cs), a benchmark (MT-Bench, GSM8K), Avg., RP, X→EN, EN→X; "
                              "Table 4: a category (Grammar, 'Word/phrase translation')"}),
        (["--configfile"], {"nargs": "*", "default": [], "help": "the run's config overlays (as for snakemake)"}),
        (["--config-base"], {"default": "config/config.yaml"}),
        (["--profile"], {"default": "profiles/local"}),
        (["--force"], {"action": "store_true", "help": "recompute the cell even if it is up to date"}),
        (["--run"], {"action": "store_true", "help": "run the command"}),
        (["--seed"], {"type": int, "help": "this seed's chain alone (default: every seed of experiment.seeds)"}))
    return parser


def main(argv: list[str] | None = None) -> int:
    from radis import interrupt
    from radis.config import merge_hardware
    from radis.io import sweep_temporaries
    from radis.judges.client import JudgeError, MissingKeyError
    from radis.settings import ConfigError, step_settings
    from radis.training.trainer import TrainingDiverged

    args = build_parser().parse_args(argv)
    interrupt.install()  # SLURM's SIGTERM: a clean stop (temporaries removed), not a dead process
    outs = getattr(args, "out", None) or []
    for out in [outs] if isinstance(outs, str) else outs:  # what a killed earlier run left (a 13 GB merge)
        sweep_temporaries(out)
    kwargs = {k: v for k, v in vars(args).items() if k not in ("command", "action")}
    module, function = args.action.split(":")
    try:
        action = getattr(importlib.import_module(module), function)
        if isinstance(kwargs.get("settings"), str):
            given = merge_hardware(_settings(kwargs["settings"]), _settings(kwargs.pop("hardware", "{}"), "--hardware"))
            kwargs["settings"] = step_settings(action, given)
        action(**kwargs)
    except (InputError, ConfigError, MissingKeyError, JudgeError, DeviceError, TrainingDiverged) as e:
        print(f"radis {args.command}: error: {e}", file=sys.stderr)
        return 2
    except interrupt.Terminated as e:
        print(f"radis {args.command}: {e}", file=sys.stderr)
        return interrupt.EXIT_STATUS
    return 0


if __name__ == "__main__":
    sys.exit(main())
