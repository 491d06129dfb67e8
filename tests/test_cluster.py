"""What a SLURM cluster can run (radis.cluster), without a controller: sinfo's and scontrol's text
as real clusters print it. tests/test_slurm.py checks the same code against a real controller."""

from __future__ import annotations

import pytest

from radis.cluster import (
    NodeKind,
    Request,
    fitted_profile,
    misfits,
    parse_minutes,
    parse_sinfo,
    status_settings,
)

#: `sinfo -h -e -o "%P|%c|%m|%G|%l"` of a site with a default CPU partition, two kinds of GPU node
#: in one partition (one with socket bindings in its GRES) and a debug partition with a time limit
SINFO = """cpu*|64|256000|(null)|7-00:00:00
gpu|32|512000|gpu:a100:4(S:0-1)|2-00:00:00
gpu|16|128000|gpu:v100:2,gpu:a100:1|2-00:00:00
debug|4|16000|(null)|30:00
"""


def _request(**kw) -> Request:
    base = dict(rule="train", wildcards="backbone=b, method=m", partition="gpu", cpus=8, mem_mb=64000, gpus=1,
                gpu_model="a100", runtime=60)
    return Request(**{**base, **kw})


def test_sinfo_lines_become_node_kinds():
    nodes = parse_sinfo(SINFO)
    assert nodes[0] == NodeKind("cpu", 64, 256000, {}, 7 * 24 * 60, default=True)
    assert nodes[1] == NodeKind("gpu", 32, 512000, {"a100": 4}, 2 * 24 * 60, default=False)
    assert nodes[2].gpus == {"v100": 2, "a100": 1}
    assert nodes[3].max_minutes == 30


@pytest.mark.parametrize("text, minutes", [("infinite", None), ("UNLIMITED", None), ("30:00", 30), ("2:00:00", 120),
                                           ("1-00:00:00", 1440), ("1-12", 2160), ("90", 90), ("1:30", 2)])
def test_slurm_time_limits(text, minutes):
    assert parse_minutes(text) == minutes


def test_a_request_that_some_node_of_its_partition_holds_fits():
    nodes = parse_sinfo(SINFO)
    assert misfits([_request(), _request(gpus=4, cpus=32, mem_mb=500000, runtime=2880),
                    _request(partition="", gpus=0, gpu_model="", cpus=64)], nodes) == []


def test_a_request_no_node_holds_stops_with_the_rule_the_request_and_the_override():
    nodes = parse_sinfo(SINFO)
    problems = misfits([_request(cpus=64, mem_mb=600000), _request(rule="synthesize", gpus=8),
                        _request(rule="merge", partition="", gpus=0, gpu_model="", runtime=20000),
                        _request(rule="translate", partition="nosuch")], nodes)
    text = "\n".join(problems)
    assert "rule train (backbone=b, method=m) asks partition 'gpu' for 64 CPUs, 600000 MB" in text
    # the largest node that has the GPUs it asks for bounds what to ask instead
    assert "--set-resources train:cpus_per_task=32 train:mem_mb=512000" in text
    assert "rule synthesize" in text and "8 GPUs (a100)" in text and "no node of partition 'gpu' has" in text
    assert "merge:runtime=10080" in text and "partition 'cpu' (the cluster's default)" in text
    assert "partition 'nosuch' does not exist (partitions: cpu, gpu, debug)" in text


def test_the_gpu_model_asked_for_must_be_there():
    nodes = parse_sinfo(SINFO)
    assert misfits([_request(gpu_model="h100")], nodes)
    assert misfits([_request(gpus=2, gpu_model="v100")], nodes) == []
    assert misfits([_request(gpus=2, gpu_model="")], nodes) == []  # any model, 4 a100 or 2 v100


def test_one_message_per_rule_and_request():
    nodes = parse_sinfo(SINFO)
    problems = misfits([_request(cpus=128, wildcards=f"backbone=b{i}") for i in range(5)], nodes)
    assert len(problems) == 1 and "5 jobs" in problems[0]


@pytest.mark.parametrize("config, init, expected", [
    ("AccountingStorageType   = accounting_storage/none\nMinJobAge = 300 sec\n", 40, {"status_command": "squeue"}),
    ("AccountingStorageType   = accounting_storage/slurmdbd\nMinJobAge = 300 sec\n", 40, {}),
    # squeue sees a finished job for MinJobAge only: the plugin wants its first check within a third of it
    ("AccountingStorageType = accounting_storage/none\nMinJobAge = 60 sec\n", 40,
     {"status_command": "squeue", "init_seconds_before_status_checks": 15}),
])
def test_the_status_command_that_sees_finished_jobs(config, init, expected):
    assert status_settings(config, init) == expected


def test_a_fitted_profile_asks_what_the_nodes_have_on_every_attempt():
    profile = {"default-resources": {"mem_mb": "int(8000 * (1 + (attempt - 1) / 2))", "cpus_per_task": 1,
                                     "runtime": "int(60 * (1 + (attempt - 1) / 2))"},
               "set-resources": {"train": {"cpus_per_task": 32, "mem_mb": "int(240000 * (1 + (attempt - 1) / 2))",
                                           "runtime": "int(1440 * (1 + (attempt - 1) / 2))"}},
               "set-threads": {"train": 8, "merge": 1}}
    nodes = [NodeKind("cpu", 4, 16000, {}, 600, default=True), NodeKind("gpu", 8, 32000, {"a100": 2}, None)]
    fitted = fitted_profile(profile, nodes, ["cpu", "gpu"])
    train = fitted["set-resources"]["train"]
    for attempt, mem in ((1, 16000), (2, 16000)):
        assert eval(train["mem_mb"], {"attempt": attempt}) == mem
    assert train["cpus_per_task"] == 4 and fitted["set-threads"] == {"train": 4, "merge": 1}
    assert eval(train["runtime"], {"attempt": 1}) == 600
    assert eval(fitted["default-resources"]["mem_mb"], {"attempt": 1}) == 8000  # what fits is kept
    tighter = fitted_profile(profile, nodes, ["cpu", "gpu"], max_cpus=1, max_mem_mb=2000)
    assert tighter["set-resources"]["train"]["cpus_per_task"] == 1
    assert eval(tighter["set-resources"]["train"]["mem_mb"], {"attempt": 2}) == 2000
    assert profile["set-resources"]["train"]["cpus_per_task"] == 32  # the shipped profile is not changed
