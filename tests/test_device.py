"""No silent CPU fallback (radis.device): the decision and the message are pure and tested with
made-up environments; the commands' own check is tested for real where this machine has no GPU."""

from __future__ import annotations

import json
import os

import pytest

from radis.device import (
    NO_DRIVER,
    DeviceError,
    HostFacts,
    allocated_gpus,
    device_error_message,
    device_problem,
    device_setting,
    enforce_device,
)
from radis.settings import ConfigError


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize("env, given", [
    ({}, []),
    ({"CUDA_VISIBLE_DEVICES": ""}, []),
    ({"CUDA_VISIBLE_DEVICES": "-1"}, []),
    ({"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, []),
    ({"CUDA_VISIBLE_DEVICES": "0,1"}, ["CUDA_VISIBLE_DEVICES=0,1"]),
    ({"CUDA_VISIBLE_DEVICES": "GPU-5f1c"}, ["CUDA_VISIBLE_DEVICES=GPU-5f1c"]),
    ({"SLURM_GPUS_ON_NODE": "0"}, []),
    ({"SLURM_GPUS_ON_NODE": "4"}, ["SLURM_GPUS_ON_NODE=4"]),
    ({"SLURM_JOB_GPUS": "0"}, ["SLURM_JOB_GPUS=0"]),  # a list of indices: GPU 0, not "none"
    ({"SLURM_STEP_GPUS": "2,3"}, ["SLURM_STEP_GPUS=2,3"]),
    ({"SLURM_JOB_GPUS": ""}, []),
])
def test_allocated_gpus(env, given):
    assert allocated_gpus(env) == given


GIVEN = {"CUDA_VISIBLE_DEVICES": "0"}


@pytest.mark.parametrize("setting, env, usable, refused", [
    ("cpu", GIVEN, False, False),        # CPU on purpose: the test cluster's fake GPUs are ignored
    ("cpu", {}, True, False),
    ("cuda", {}, False, True),           # told to use CUDA: no allocation variable needed
    ("cuda", GIVEN, True, False),
    ("auto", GIVEN, False, True),        # given GPUs it cannot use: the silent fallback
    ("auto", {"SLURM_GPUS_ON_NODE": "1"}, False, True),
    ("auto", {}, False, False),          # no GPU asked for, none there: CPU is what was meant
    ("auto", GIVEN, True, False),
])
def test_device_problem(setting, env, usable, refused):
    assert (device_problem(setting, env, usable) is not None) is refused


def test_the_problem_names_the_allocation():
    assert device_problem("auto", {"CUDA_VISIBLE_DEVICES": "0,1", "SLURM_JOB_GPUS": "4,5"}, False) == (
        "the job was given GPUs (CUDA_VISIBLE_DEVICES=0,1, SLURM_JOB_GPUS=4,5)")
    assert device_problem("cuda", {}, False) == "the config says compute.device: cuda"


def test_device_setting():
    assert device_setting("cuda") == "cuda"
    with pytest.raises(ConfigError, match="compute.device: 'gpu' is not one of cpu, cuda, auto"):
        device_setting("gpu")


def _message(**facts) -> str:
    defaults = {"node": "gpu017", "torch_version": "2.13.0+cu130", "torch_cuda": "13.0", "cuda_devices": 0,
                "driver": "550.54.15"}
    return device_error_message("train", "the job was given GPUs (SLURM_GPUS_ON_NODE=4)", "auto",
                                HostFacts(**{**defaults, **facts}), {"CUDA_VISIBLE_DEVICES": "0,1,2,3"})


def test_message_names_node_torch_cuda_build_and_driver():
    text = _message()
    assert text.startswith("train: the job was given GPUs (SLURM_GPUS_ON_NODE=4), but torch cannot use CUDA here")
    for part in ("node: gpu017", "torch 2.13.0+cu130, built for CUDA 13.0", "NVIDIA driver: 550.54.15",
                 "CUDA_VISIBLE_DEVICES=0,1,2,3", "CUDA 13.x >= 580", "set `compute.device: cpu`"):
        assert part in text, part


def test_message_for_a_cpu_build_of_torch_says_how_to_install_a_cuda_one():
    text = _message(torch_version="2.13.0+cpu", torch_cuda=None)
    assert "built for CUDA none (CPU-only build)" in text
    assert "pip install --force-reinstall 'torch==2.13.0' --index-url https://download.pytorch.org/whl/cu126" in text
    assert "CUDA 13.x >= 580" not in text  # the driver is not the problem


def test_message_for_a_node_without_a_driver():
    text = _message(driver=NO_DRIVER)
    assert f"NVIDIA driver: {NO_DRIVER}" in text and "no NVIDIA driver loaded" in text and "--gres" in text


def test_cpu_hides_the_gpus_and_never_refuses(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # as the test SLURM cluster's fake GPUs
    monkeypatch.setenv("SLURM_GPUS_ON_NODE", "2")
    assert enforce_device("train", "cpu") == "cpu"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""


@pytest.mark.skipif(cuda(), reason="this machine has a GPU")
@pytest.mark.parametrize("setting, env", [("auto", {"CUDA_VISIBLE_DEVICES": "0"}), ("cuda", {})])
def test_refuses_here_without_a_gpu(monkeypatch, setting, env):
    import torch

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(DeviceError) as e:
        enforce_device("synthesize", setting)
    text = str(e.value)
    assert text.startswith("synthesize: ") and f"torch {torch.__version__}" in text and "NVIDIA driver: " in text


@pytest.mark.skipif(cuda(), reason="this machine has a GPU")
def test_auto_without_gpus_runs_on_the_cpu(monkeypatch):
    for name in ("CUDA_VISIBLE_DEVICES", "SLURM_GPUS_ON_NODE", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS"):
        monkeypatch.delenv(name, raising=False)
    assert enforce_device("translate", "auto") == "auto"


@pytest.mark.skipif(cuda(), reason="this machine has a GPU")
def test_the_command_fails_cleanly_before_loading_anything(monkeypatch, tmp_path, capsys):
    """`radis train` given GPUs it cannot use exits 2 with the message, before reading its inputs."""
    from radis.cli import main

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    missing = str(tmp_path / "missing")
    status = main(["train", "--backbone", missing, "--trainset", missing, "--out", missing, "--checkpoints", missing,
                   "--settings", json.dumps({"device": "auto", "seed": 0, "training": {}})])
    assert status == 2
    assert "radis train: error: train: the job was given GPUs (CUDA_VISIBLE_DEVICES=0)" in capsys.readouterr().err


# ---- vLLM's engine on this host (radis.device.prepare_vllm and its parts) ---------------------------

def test_vllm_cpu_binding_gives_each_tensor_parallel_rank_its_own_cores():
    from radis.device import vllm_cpu_binding

    assert vllm_cpu_binding(1, [0, 1]) == "0,1"  # one rank: every core the job may use (vLLM's auto keeps one)
    assert vllm_cpu_binding(2, [0, 1]) == "0|1"  # "Not enough allowed NUMA nodes" otherwise
    assert vllm_cpu_binding(2, [4, 5, 6, 9, 10]) == "4,5,6|9,10"  # a SLURM allocation need not be contiguous
    with pytest.raises(ConfigError, match="tensor_parallel_size 4 needs at least as many CPUs"):
        vllm_cpu_binding(4, [0, 1])


def test_vllm_environment_and_engine_arguments_only_on_the_cpu_build():
    from radis.device import CPU_KVCACHE_GIB, vllm_cli_args, vllm_engine_args, vllm_environment

    assert vllm_environment(1, "vllm", {}) == {} and vllm_engine_args(4, "vllm") == {}  # GPUs: vLLM's defaults
    cpu = vllm_environment(1, "vllm-cpu", {})
    assert cpu["VLLM_CPU_KVCACHE_SPACE"] == str(CPU_KVCACHE_GIB) and cpu["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    # a served engine always runs apart; tensor parallelism needs its worker processes
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in vllm_environment(1, "vllm-cpu", {}, in_process=False)
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in vllm_environment(2, "vllm-cpu", {})
    # what the user set wins
    assert "VLLM_CPU_KVCACHE_SPACE" not in vllm_environment(1, "vllm-cpu", {"VLLM_CPU_KVCACHE_SPACE": "8"})
    assert vllm_engine_args(1, "vllm-cpu") == {"enforce_eager": True, "distributed_executor_backend": "uni"}
    assert vllm_engine_args(2, "vllm-cpu") == {"enforce_eager": True}
    assert vllm_engine_args(1, "vllm-cpu", in_process=False) == {"enforce_eager": True}  # vllm serve
    assert vllm_cli_args(vllm_engine_args(1, "vllm-cpu")) == ["--enforce-eager", "--distributed-executor-backend",
                                                                "uni"]
