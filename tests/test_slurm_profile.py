"""The SLURM profile as a file (profiles/slurm/config.yaml): what a week on a shared cluster needs,
checked without a controller (tests/test_slurm.py runs it on a real one)."""

from __future__ import annotations

import collections
import importlib.metadata
import re
from pathlib import Path

import pytest
import yaml

PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "slurm" / "config.yaml"


class StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (PyYAML keeps the last one silently)."""


def _no_duplicates(loader, node, deep=False):
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise yaml.constructor.ConstructorError(None, None, f"duplicated keys {twice}", node.start_mark)
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


@pytest.fixture(scope="module")
def profile() -> dict:
    return yaml.load(PROFILE.read_text(), Loader=StrictLoader)


def evaluate(value, attempt: int) -> int:
    """A resource value as Snakemake evaluates a profile's expression (``attempt`` in scope)."""
    return int(eval(value, {"attempt": attempt})) if isinstance(value, str) else int(value)


def test_no_key_is_given_twice():
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicated keys"):
        yaml.load("a:\n  b: 1\n  b: 2\n", Loader=StrictLoader)
    yaml.load(PROFILE.read_text(), Loader=StrictLoader)


def test_header_names_the_installed_plugin_version():
    version = importlib.metadata.version("snakemake-executor-plugin-slurm")
    named = re.search(r"snakemake-executor-plugin-slurm (\d+\.\d+)", PROFILE.read_text()).group(1)
    assert version.startswith(named + "."), (named, version)


def test_one_failed_cell_does_not_stop_the_grid(profile):
    assert profile["keep-going"] is True and profile["retries"] >= 1


def test_a_retry_asks_for_more_memory_and_time(profile):
    """After an out-of-memory or time-limit failure the resubmission must not fail the same way."""
    for name, resources in [("default-resources", profile["default-resources"]), *profile["set-resources"].items()]:
        for key in ("mem_mb", "runtime"):
            if key in resources:
                first, second = evaluate(resources[key], 1), evaluate(resources[key], 2)
                assert second > first > 0, (name, key, first, second)


def test_training_is_warned_before_its_time_limit(profile):
    """SLURM sends SIGTERM to the job's steps before the limit (the rules run in `srun` steps), the
    trainer checkpoints at the end of the step and exits (radis.interrupt); the retry resumes."""
    extra = evaluate_text(profile["set-resources"]["train"]["slurm_extra"])
    minutes = int(re.fullmatch(r"--signal=TERM@(\d+)", extra).group(1)) / 60
    assert 5 <= minutes < evaluate(profile["set-resources"]["train"]["runtime"], 1)


def evaluate_text(value: str) -> str:
    try:
        return str(eval(value, {}))
    except (NameError, SyntaxError):
        return value


# --- every GPU job reaches a GPU node, decided in one place (issue 26 item 11) ---------------------

@pytest.fixture(scope="module")
def paper_plan(tmp_path_factory) -> list[dict]:
    """The paper grid's jobs as `snakemake --profile profiles/slurm -n -p` plans them, with the
    partitions and QoS a site exports."""
    import os
    import subprocess
    import sys

    from test_dag import planned_jobs

    repo = PROFILE.parents[2]
    env = {**os.environ, "RADIS_SLURM_GPU_PARTITION": "a100", "RADIS_SLURM_CPU_PARTITION": "cpus",
           "RADIS_SLURM_GPU_QOS": "gpu-qos", "RADIS_SLURM_CPU_QOS": "cpu-qos"}
    cmd = [str(Path(sys.executable).with_name("snakemake")), "all", "--snakefile", str(repo / "Snakefile"),
           "--directory", str(tmp_path_factory.mktemp("paper-plan")), "--profile", str(PROFILE.parent), "-n", "-p",
           "--configfile", str(repo / "config/paper.yaml")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    return planned_jobs(run.stdout)


def test_every_job_that_asks_for_gpus_goes_to_the_gpu_partition_and_no_other(paper_plan):
    rules = collections.defaultdict(set)
    for job in paper_plan:
        gpus = int(job["resources"].get("gpu", 0))
        expected = ("a100", "gpu-qos") if gpus else ("cpus", "cpu-qos")
        assert (job["resources"].get("slurm_partition"), job["resources"].get("qos")) == expected, job
        rules[bool(gpus)].add(job["rule"])
    # both kinds are in the plan, the rules a per-rule list once missed among them
    assert {"train", "synthesize", "drift", "drift_answers"} <= rules[True] and "merge" in rules[False]


def test_every_rule_that_asks_for_gpus_is_sized_in_the_profile_and_none_routed_there(profile, paper_plan):
    """The profile sizes GPU jobs (CPUs, memory, time for a 7B model on an A100); the default, a
    small CPU job of 1 CPU and 8 GB, would not do. Where they go is not the profile's to say."""
    gpu_rules = {job["rule"] for job in paper_plan if int(job["resources"].get("gpu", 0))}
    unsized = sorted(gpu_rules - set(profile["set-resources"]))
    assert not unsized, f"GPU rules without a set-resources entry: {unsized}"
    for job in paper_plan:
        if job["rule"] in gpu_rules:
            assert int(job["resources"]["cpus_per_task"]) >= 8 and int(job["resources"]["mem_mb"]) >= 64000, job
    routed = [name for name, res in [("default-resources", profile["default-resources"]),
                                     *profile["set-resources"].items()] if {"slurm_partition", "qos"} & set(res)]
    assert not routed, f"partitions set per rule in the profile: {routed}"
