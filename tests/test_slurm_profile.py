"""The SLURM profile as a file (profiles/slurm/config.yaml): what a week on a shared cluster needs,
checked without a controller (tests/test_slurm.py runs it on a real one)."""

from __future__ import annotations

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
