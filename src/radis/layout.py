"""The results layout: where each stage writes under ``results/``, in one place.

The rules (workflow/rules/common.smk) expand these patterns into their outputs and ``radis cell``
fills them to name the file behind one table cell, so both always agree.
"""

from __future__ import annotations

R = "results"
#: the method name of a backbone's own model, untouched (the tables' "Backbone LLM" row; the prior
#: MT models are each their own backbone with this method): every grid, table and cell names it so
BASE = "base"
#: the hub revisions each run resolved, one lock file per source (radis.hublock); relative to the
#: working directory, like every path here, so jobs find them without a setting of their own
LOCKS = f"{R}/locks"
#: the Hugging Face hub cache when neither the config (``hub_cache``) nor the environment
#: (``HF_HUB_CACHE``, ``HF_HOME``) names one: project storage, beside the results (radis.hublock.hub_cache)
HUB_CACHE = f"{R}/hub-cache"
#: what the local rule download_comet put into the hub cache for the score jobs (COMET and its encoder)
COMET_DOWNLOAD = f"{R}/comet/download.json"
#: Tables 1, 2 and 5 (translation): one scored direction of one model
TRANSLATION_RESULT = f"{R}/eval/{{backbone}}/{{method}}/translation/{{direction}}.json"
#: Tables 3 and 5 (general ability): one benchmark of one model
GENERAL_RESULT = f"{R}/eval/{{backbone}}/{{method}}/{{benchmark}}.json"
#: Tables 3 and 5, drift from backbone (not in the paper): one trained model
DRIFT_RESULT = f"{R}/eval/{{backbone}}/{{method}}/drift.json"
#: Table 4: the rationale categories of one backbone's self-generated rationales
TABLE4_RESULT = f"{R}/analysis/{{backbone}}/rationale_categories.json"


def model_dir(backbone: str, method: str) -> str:
    """`base` is the backbone untouched; every other method is its merged fine-tuned model."""
    if method == BASE:
        return f"{R}/backbones/{backbone}"
    return f"{R}/models/{backbone}/{method}/merged"


def job_log(step: str, which: str = "") -> str:
    """A job's log: ``results/logs/{step}.log``, or ``results/logs/{step}/{which}.log`` where
    ``which`` names the job among the step's (its wildcards, as a Snakemake pattern)."""
    return f"{R}/logs/{step}/{which}.log" if which else f"{R}/logs/{step}.log"


def job_benchmark(step: str, which: str = "") -> str:
    """A job's time and memory (Snakemake's ``benchmark``), beside its log under ``results/benchmarks``."""
    return f"{R}/benchmarks/{step}/{which}.tsv" if which else f"{R}/benchmarks/{step}.tsv"
