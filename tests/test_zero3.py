"""Full fine-tuning with DeepSpeed ZeRO-3, run: 2 CPU processes through ``python -m radis.launch``.

The paper config fine-tunes on 4 A100s; ``training.zero_stage: 3`` shards the weights, gradients and
optimizer states over them, and the model is saved by gathering the shards on rank 0. On CPU the
same path runs as 2 processes over gloo (``compute.device: cpu``, ``training.gpus: 2``:
accelerate's DeepSpeed launcher, ``DS_ACCELERATOR=cpu``). The saved model must be whole (every
weight of the backbone, none empty) and equal to the same training in one process; a ZeRO-3 run
killed with SIGKILL after a checkpoint resumes from it (DeepSpeed's sharded checkpoint) and ends
with the weights of the run never killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from radis.io import write_jsonl
from radis.prompts import assistant, user

REPO = Path(__file__).resolve().parents[1]
TRAINING = {"finetuning": "full", "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"},
            "epochs": 2, "learning_rate": 1e-3, "lr_scheduler": "cosine", "warmup_ratio": 0.0, "batch_size": 4,
            "micro_batch_size": 1, "max_length": 256, "overlong": "error", "bf16": False,
            "gradient_checkpointing": False, "save_steps": 2, "zero_stage": 3}
STEPS = 8  # 16 examples / batch 4 = 4 steps per epoch, 2 epochs


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    from tiny_lm import build_tiny_lm

    root = tmp_path_factory.mktemp("zero3")
    build_tiny_lm(root / "backbone")
    write_jsonl(root / "train.jsonl", [{"id": str(i), "messages": [
        user(f"Translate from German to English:\nHallo {i}" + " und mehr" * (i % 3)),
        assistant(f"Hello {i}" + " and more" * (i % 3))]} for i in range(16)])
    return root


def command(work: Path, run: str, gpus: int) -> list[str]:
    """The train rule's command (workflow/rules/train.smk) for a CPU config with ``training.gpus``."""
    settings = {"device": "cpu", "seed": 3, "trust_remote_code": False, "training": {**TRAINING, "gpus": gpus}}
    return [sys.executable, "-m", "radis.launch", "--gpus", "0", "--", "train", "--backbone", str(work / "backbone"),
            "--trainset", str(work / "train.jsonl"), "--out", str(work / run / "model"),
            "--checkpoints", str(work / run / "checkpoints"), "--settings", json.dumps(settings)]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def train(work: Path, run: str, gpus: int) -> list[dict]:
    """Run it to the end; the summary line of each process."""
    done = subprocess.run(command(work, run, gpus), capture_output=True, text=True, env=env(), cwd=work, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"examples"')]


def weights(model_dir: Path) -> dict:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir).state_dict()  # reloaded as a user would


@pytest.fixture(scope="module")
def zero3_run(work) -> dict:
    summaries = train(work, "zero3", 2)
    assert len(summaries) == 2  # both ranks trained
    return summaries[0]


def test_zero3_in_two_processes_saves_the_whole_model_and_equals_one_process(work, zero3_run):
    one = train(work, "one", 1)
    assert len(one) == 1 and one[0]["world_size"] == 1
    assert zero3_run["world_size"] == 2 and zero3_run["steps"] == one[0]["steps"] == STEPS
    assert zero3_run["train_loss"] == pytest.approx(one[0]["train_loss"], abs=1e-4)
    curves = [json.loads((work / run / "model/radis_provenance.json").read_text())["summary"]["loss_curve"]
              for run in ("zero3", "one")]
    assert len(curves[0]) == STEPS and curves[0] == pytest.approx(curves[1], abs=1e-4)
    backbone, sharded, single = weights(work / "backbone"), weights(work / "zero3/model"), weights(work / "one/model")
    assert sharded.keys() == backbone.keys()  # every weight gathered from the shards, none left out
    for name, tensor in sharded.items():
        assert tensor.shape == backbone[name].shape and tensor.numel() > 0, name
        assert float((tensor - single[name]).abs().max()) < 1e-4, name
    moved = max(float((sharded[k] - backbone[k]).abs().max()) for k in backbone)
    assert moved > 1e-3  # training changed the weights: the comparison is not of two untouched copies


def _complete(checkpoint: Path) -> bool:
    """Written by every rank: rank 0 records the hardware (radis_hardware.json) after a barrier that
    follows each rank's save; the Trainer's trainer_state.json alone may precede rank 1's files."""
    try:
        return (json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] > 0
                and (checkpoint / "radis_hardware.json").is_file())
    except (OSError, ValueError, KeyError):
        return False


def test_a_killed_zero3_run_resumes_from_its_checkpoint_to_the_same_model(work, zero3_run):
    cmd = command(work, "killed", 2)
    first = work / "killed/checkpoints/checkpoint-2"
    # the launcher and both ranks, killed together as SLURM kills a job
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), cwd=work,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not _complete(first):
            assert proc.poll() is None, "the run ended before its first checkpoint was written"
            assert time.monotonic() < deadline, "no checkpoint within 600 s"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert not (work / "killed/model").exists()  # killed before the end
    summaries = train(work, "killed", 2)
    resumed = summaries[0]
    assert resumed["resumed_from"] and Path(resumed["resumed_from"]).name.startswith("checkpoint-")
    assert resumed["steps_run"] < STEPS == resumed["steps"]
    again, never_killed = weights(work / "killed/model"), weights(work / "zero3/model")
    for name, tensor in never_killed.items():
        assert float((again[name] - tensor).abs().max()) < 1e-6, name
