"""How a training job starts: plain Python on one device, ``accelerate launch`` on several GPUs.

A SLURM job of the train rule gets N GPUs (the profile's ``gpu`` resource, paper: 4×A100 80GB).
Data-parallel training then runs one process per GPU under ``accelerate launch``, with plain DDP
(LoRA) or DeepSpeed ZeRO-2/3 (full fine-tuning) (``config/accelerate/``). ``radis.training`` needs nothing else: it reads
``WORLD_SIZE`` to keep the effective batch (micro batch × GPUs × accumulation = batch_size).

The launcher is chosen when the job runs, not when the DAG is planned (``python -m radis.launch``):
the GPUs a job asked for are not always there (a laptop, the CPU-only test cluster whose fake GPUs
are /dev/null), and then training falls back to one process instead of failing.

A step that computes on CPUs on purpose (``compute.device: cpu``, as the rehearsal of the paper
run) runs ``training.gpus`` processes all the same, on the CPU, joined over gloo: the same
``accelerate launch`` (``torch.distributed.run`` underneath), DDP or DeepSpeed ZeRO (with
``DS_ACCELERATOR=cpu``), so the paper run's multi-process path runs before it meets an A100.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from radis.io import free_port
from radis.settings import REPO_ROOT

#: accelerate launch configs and DeepSpeed JSONs, in the repository (not in an installed wheel).
CONFIG_DIR = REPO_ROOT / "config" / "accelerate"
ZERO_STAGES = (2, 3)
MIXED_PRECISION = ("no", "fp16", "bf16")


def accelerate_prefix(n_processes: int, zero_stage: int | None = None, *, mixed_precision: str = "bf16",
                      python: str = sys.executable, config_dir: Path = CONFIG_DIR) -> list[str]:
    """``python -m accelerate.commands.launch ...`` (the ``accelerate launch`` CLI of the same
    interpreter, so no PATH lookup) for ``n_processes`` processes on one node, DeepSpeed
    ZeRO-``zero_stage`` (2 or 3) or plain DDP when ``zero_stage`` is None; the script or ``-m
    module`` to run follows. Config paths are absolute: jobs run in Snakemake's working
    directory, which need not be the repository."""
    if zero_stage is not None and zero_stage not in ZERO_STAGES:
        raise ValueError(f"zero_stage must be one of {ZERO_STAGES} or None, not {zero_stage!r}")
    if mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, not {mixed_precision!r}")
    config_dir = Path(config_dir).resolve()
    config_file = config_dir / ("ddp.yaml" if zero_stage is None else f"zero{zero_stage}.yaml")
    if not config_file.is_file():
        raise FileNotFoundError(f"accelerate config {config_file} not found (run from a checkout of the repository)")
    cmd = [python, "-m", "accelerate.commands.launch", "--config_file", str(config_file),
           "--num_machines", "1", "--num_processes", str(n_processes), "--mixed_precision", mixed_precision,
           # a port of its own: two training jobs on one node (an 8-GPU node, the CPU rehearsal) would
           # otherwise both rendezvous on accelerate's default 29500 and the second would fail
           "--main_process_port", str(free_port())]
    if zero_stage is not None:
        cmd += ["--deepspeed_config_file", str(config_dir / f"ds_zero{zero_stage}.json")]
    return cmd


def train_command(n_gpus: int, zero_stage: int | None = None, *, mixed_precision: str = "bf16",
                  python: str = sys.executable, config_dir: Path = CONFIG_DIR) -> list[str]:
    """The command prefix for ``radis train``: append the subcommand and its arguments.

    ``n_gpus <= 1``: ``python -m radis``. Otherwise one process per GPU under ``accelerate launch``
    (:func:`accelerate_prefix`) running ``-m radis``.
    """
    if zero_stage is not None and zero_stage not in ZERO_STAGES:
        raise ValueError(f"zero_stage must be one of {ZERO_STAGES} or None, not {zero_stage!r}")
    if mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, not {mixed_precision!r}")
    if n_gpus <= 1:
        return [python, "-m", "radis"]
    prefix = accelerate_prefix(n_gpus, zero_stage, mixed_precision=mixed_precision, python=python,
                               config_dir=config_dir)
    return [*prefix, "-m", "radis"]


def visible_gpus() -> int:
    """CUDA devices this process can use (0 without a working CUDA torch)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def launch_command(requested_gpus: int, zero_stage: int | None, mixed_precision: str,
                   args: Sequence[str], available: int | None = None) -> list[str]:
    """The full command for ``radis ARGS`` on ``min(requested, available)`` GPUs, or on
    ``training.gpus`` CPU processes when the step computes on CPUs (:func:`cpu_processes`)."""
    n = cpu_processes(args)
    if n is None:
        available = visible_gpus() if available is None else available
        n = max(0, min(requested_gpus, available))
    return [*train_command(n, zero_stage, mixed_precision=mixed_precision), *args]


def cpu_processes(args: Sequence[str]) -> int | None:
    """Processes of a step that computes on CPUs (``device: cpu`` in its settings): its
    ``training.gpus``, one per GPU of the paper run; None for a step that computes on GPUs."""
    if step_settings(args).get("device") != "cpu":
        return None
    return int(training_settings(args).get("gpus", 1) or 1)


def process_environment(args: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """What the processes of a CPU step need beside the command: DeepSpeed's CPU accelerator (it
    looks for CUDA otherwise) and an even share of the job's threads (``OMP_NUM_THREADS``, else
    its cores) per process, so N processes do not each start a thread per core."""
    n = cpu_processes(args)
    if n is None or n <= 1:
        return {}
    threads = int(env.get("OMP_NUM_THREADS") or 0) or (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    return {"DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": str(max(1, threads // n))}


def _zero(text: str) -> int | str | None:
    if text == "auto":
        return text
    return None if text.lower() in ("none", "0", "") else int(text)


def _json_argument(args: Sequence[str], flag: str) -> dict:
    """The JSON object after ``flag`` among the radis arguments ({} if none or not an object)."""
    for i, arg in enumerate(args):
        value = args[i + 1] if arg == flag and i + 1 < len(args) else (
            arg.split("=", 1)[1] if arg.startswith(f"{flag}=") else None)
        if value is not None:
            try:
                settings = json.loads(value)
            except json.JSONDecodeError:
                return {}
            return settings if isinstance(settings, dict) else {}
    return {}


def step_settings(args: Sequence[str]) -> dict:
    """The step's settings among the radis arguments: ``--settings`` with ``--hardware`` merged back
    (the rules pass the device and ``training.gpus`` there, apart: radis.config.merge_hardware)."""
    from radis.config import merge_hardware
    from radis.settings import ConfigError

    try:
        return merge_hardware(_json_argument(args, "--settings"), _json_argument(args, "--hardware"))
    except ConfigError:  # the radis command itself says so
        return _json_argument(args, "--settings")


def training_settings(args: Sequence[str]) -> dict:
    """The ``training`` section of the step's settings among the radis arguments ({} if none)."""
    return step_settings(args).get("training", {}) or {}


def resolve_auto(zero_stage, mixed_precision: str, args: Sequence[str]) -> tuple[int | None, str]:
    """``auto`` values from the step's own settings (the ``training`` section of ``--settings``).

    Mixed precision: bf16 when ``training.bf16``. ZeRO stage: ``training.zero_stage`` when the
    config has one; else plain DDP for LoRA (the trainable state is tiny, each GPU holds the
    frozen bf16 model) and ZeRO-2 for full fine-tuning (a 7B model's fp32 Adam states, 84 GB,
    are sharded over the GPUs). DeepSpeed ZeRO with LoRA currently fails under the Hugging Face
    Trainer: its optimizer has an empty no-decay parameter group that DeepSpeed drops, and the
    learning-rate scheduler, made for two groups, then stops with "zip() argument 2 is longer
    than argument 1" (seen with transformers 4.57, deepspeed 0.19.8, torch 2.13; not rechecked on 5.x).
    """
    training = training_settings(args)
    if zero_stage == "auto":
        default = None if training.get("finetuning", "lora") == "lora" else 2
        # training.zero_stage null (the config's default) means this default
        zero_stage = default if training.get("zero_stage") is None else training["zero_stage"]
    if zero_stage is not None and training.get("finetuning", "lora") == "lora":
        print(f"radis.launch: warning: DeepSpeed ZeRO-{zero_stage} with LoRA fails in the Hugging Face Trainer "
              "(empty optimizer parameter group); use --zero-stage none", file=sys.stderr, flush=True)
    if mixed_precision == "auto":
        mixed_precision = "bf16" if training.get("bf16") else "no"
    return zero_stage, mixed_precision


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m radis.launch",
        description="Run `radis ARGS` data-parallel on the job's GPUs (one process when there is at most one).",
        epilog="example: python -m radis.launch --gpus 4 -- train --backbone B --trainset T --out O "
               "--checkpoints C --settings JSON",
    )
    parser.add_argument("--gpus", type=int, default=0, help="GPUs the job asked for (SLURM: the gpu resource)")
    parser.add_argument("--zero-stage", type=_zero, default="auto",
                        help="DeepSpeed ZeRO stage 2 or 3, none for plain DDP, or auto (default): "
                             "training.zero_stage of --settings, else DDP for LoRA and 2 for full fine-tuning")
    parser.add_argument("--mixed-precision", choices=[*MIXED_PRECISION, "auto"], default="auto",
                        help="auto (default): bf16 when training.bf16 of --settings is true, else no")
    parser.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then the radis subcommand and its arguments")
    ns = parser.parse_args(argv)
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    if not args:
        parser.error("no radis subcommand given (e.g. -- train --backbone ...)")
    zero_stage, mixed_precision = resolve_auto(ns.zero_stage, ns.mixed_precision, args)
    cmd = launch_command(ns.gpus, zero_stage, mixed_precision, args)
    if ns.dry_run:
        print(shlex.join(cmd))
        return 0
    env = {**os.environ, **process_environment(args, os.environ)}
    print("radis.launch:", shlex.join(cmd), file=sys.stderr, flush=True)
    os.execve(cmd[0], cmd, env)  # the job's signals (preemption: SIGTERM) reach the launcher directly
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
