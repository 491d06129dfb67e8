"""`radis plan`: the cost plan agrees with the DAG Snakemake plans, counts the real data, and its
CPU estimate for the embedded default is within 2x of a measured default run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from radis.config import load_config
from radis.plan import (BYTES_PER_TOKEN, PROMPT_OVERHEAD_TOKENS, SHARED_ALMA, SHARED_GENERAL, make_plan, parameters,
                        render)

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
#: the measured reference: the default run of benchmarks/RESULTS.md (2026-12-05 at b61634b, fresh clone, 2 idle
#: cores, `snakemake --profile profiles/local all`, two one-thread jobs at a time): job time summed over its 90
#: jobs, the quantity the plan estimates, 25.0 min (wall 13.3 min)
MEASURED_DEFAULT_RUN_MIN = 25.0


def dry_run_jobs(tmp_path: Path, *overlays: Path) -> dict[str, int]:
    cmd = [str(SNAKEMAKE), "all", "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--cores", "1"]
    for overlay in overlays:
        cmd += ["--configfile", str(overlay)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    stats = (run.stdout + run.stderr).split("Job stats:")[1].split("total")[0]
    jobs: dict[str, int] = {}
    for rule, count in re.findall(r"^(\w+)\s+(\d+)$", stats, re.M):
        rule = "fetch_general_data" if rule.startswith("fetch_") else rule
        jobs[rule] = jobs.get(rule, 0) + int(count)
    return jobs


@pytest.fixture(scope="module")
def default():
    return load_config(REPO / "config/config.yaml")


#: the paper config reads the hub; the plan counts its tokens in the full real files of ../shared/data
needs_full_data = pytest.mark.skipif(not (SHARED_ALMA.is_dir() and SHARED_GENERAL.is_dir()),
                                     reason="the full real data (../shared/data) is not beside the repository")


@pytest.fixture(scope="module")
def paper():
    return load_config(REPO / "config/config.yaml", REPO / "config/paper.yaml")


def test_job_counts_are_the_dry_runs(tmp_path, default):
    assert make_plan(default).job_counts() == dry_run_jobs(tmp_path)


@pytest.mark.parametrize("sampled", [False, True], ids=["greedy-synthesis", "sampled-synthesis"])
def test_job_counts_with_seeds_are_the_dry_runs(tmp_path, default, sampled):
    """Two seeds: every trained model's chain twice; synthesis twice only where it samples (or its
    generator is a trained model: Table 5's); the plan says so."""
    import copy

    overlay = {"experiment": {"seeds": [42, 7]}}
    if sampled:
        overlay["decoding"] = {"rationale": {"temperature": 0.7}}
    (tmp_path / "seeds.yaml").write_text(yaml.safe_dump(overlay))
    config = copy.deepcopy(default)
    config["experiment"]["seeds"] = [42, 7]
    if sampled:
        config["decoding"]["rationale"]["temperature"] = 0.7
    plan = make_plan(config)
    jobs = plan.job_counts()
    assert jobs == dry_run_jobs(tmp_path, tmp_path / "seeds.yaml")
    one = make_plan(default).job_counts()
    assert jobs["train"] == 2 * one["train"] and jobs["translate"] == one["translate"] + one["train"]
    assert jobs["synthesize"] == one["synthesize"] + (2 if sampled else 1)  # radis-vanilla's; radis's if sampled
    assert "Seeds: 2 (42, 7, experiment.seeds)" in render(plan)
    assert make_plan(default).seconds < plan.seconds


@needs_full_data
def test_paper_job_counts_are_the_dry_runs(tmp_path, paper):
    assert make_plan(paper).job_counts() == dry_run_jobs(tmp_path, REPO / "config/paper.yaml")


def test_translation_tokens_come_from_the_demo_data(default):
    """Tokens of the translate stage, counted here straight from the shipped WMT22 files: the
    prompts (source + template) and the generated translations (as long as their references)."""
    from radis.data import subset

    demo = REPO / "workflow/resources/demo/human_written_data"
    expected = 0.0
    for direction in default["experiment"]["directions"]:
        src, tgt = direction.split("-")
        xx = src if tgt == "en" else tgt
        records = json.loads((demo / f"{xx}en/test.{src}-{tgt}.json").read_text())
        for r in subset(records, default["data"]["test_limit"], default["seed"]):
            expected += (len(r["translation"][src].encode()) + len(r["translation"][tgt].encode())) / BYTES_PER_TOKEN
            expected += PROMPT_OVERHEAD_TOKENS
    stage = make_plan(default).stages["translate"]
    assert expected > 1000 and stage.tokens / stage.jobs == pytest.approx(expected)


def test_cpu_estimate_of_the_default_run_is_within_2x_of_the_measured_one(default):
    minutes = make_plan(default).seconds / 60
    assert MEASURED_DEFAULT_RUN_MIN / 2 <= minutes <= MEASURED_DEFAULT_RUN_MIN * 2, minutes


@needs_full_data
def test_paper_plan_prices_the_api_judges_and_counts_gpu_hours(paper):
    plan = make_plan(paper)
    models = plan.stages["translate"].jobs
    # MT-Bench: 80 questions, two turns, one judgement each, per model
    assert plan.judges["gpt-4"].calls == 80 * 2 * models
    assert plan.judges["gpt-4"].completion_tokens == 80 * 2 * models * 2048
    assert plan.prices["gpt-4"] == (30, 60)
    assert plan.judges["llama-guard-3-8b"].served and plan.prices["llama-guard-3-8b"] is None
    assert plan.stages["train"].seconds("cuda") > 0 and plan.stages["synthesize"].seconds("cuda") > 0
    text = render(plan, "a100")
    assert "GPU-hours (A100" in text and "$" in text and "FLOP-based" in text


@pytest.mark.parametrize("name,entry,expected", [
    ("llama-2-7b-chat", {}, 7e9), ("smollm2-135m", {}, 135e6), ("bigtrans-13b", {}, 13e9),
    ("local-judge", {"source": {"kind": "hub", "id": "meta-llama/Llama-Guard-3-8B"}}, 8e9),
    ("meta-llama-3-70b", {}, 70e9),
])
def test_parameters_from_the_name(name, entry, expected):
    assert parameters(name, entry) == expected


def test_a_model_without_a_size_in_its_name_is_refused():
    with pytest.raises(ValueError, match="parameter count"):
        parameters("mystery", {"source": {"kind": "hub", "id": "org/mystery"}})


@needs_full_data
def test_cli_prints_the_plan():
    run = subprocess.run([sys.executable, "-m", "radis", "plan", "--configfile", "config/paper.yaml"], cwd=REPO,
                         capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(REPO / "src"),
                                                                           "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert "| train |" in run.stdout and "| gpt-4 |" in run.stdout and "Assumptions" in run.stdout
