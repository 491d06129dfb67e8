"""Training you can watch: TensorBoard event files under the job's runs/ (training.report_to), and the
report's loss-curve figure from the trained models' own records. A tiny model trains in seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tiny_lm import build_tiny_lm

from radis.prompts import assistant, user

SETTINGS = {"finetuning": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"},
            "epochs": 1, "learning_rate": 1e-2, "lr_scheduler": "constant", "warmup_ratio": 0.0, "batch_size": 2,
            "micro_batch_size": 1, "max_length": 96, "bf16": False, "gradient_checkpointing": False,
            "save_steps": 10}
TRAINSET = [{"id": str(i), "messages": [user(f"Translate:\nHallo {i}"), assistant(f"Hello {i}")]} for i in range(6)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from radis.training.trainer import train

    root = tmp_path_factory.mktemp("curves")
    backbone = build_tiny_lm(root / "backbone")
    summary = train(backbone, TRAINSET, SETTINGS, root / "adapter", root / "checkpoints", seed=0,
                    report_to=["tensorboard"], runs_dir=root / "runs")
    return root, summary


def test_tensorboard_curves_are_written_under_the_jobs_runs_dir(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, summary = trained
    assert list((root / "runs").glob("events.out.tfevents.*"))
    assert not (root / "checkpoints" / "runs").exists()  # not in the Trainer's default place
    assert "TENSORBOARD_LOGGING_DIR" not in os.environ  # set only while the Trainer was built
    events = EventAccumulator(str(root / "runs"))
    events.Reload()
    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == [1, 2, 3] == list(range(1, summary["steps"] + 1))
    assert [e.value for e in losses] == pytest.approx(summary["loss_curve"], rel=1e-5)
    assert "train/learning_rate" in events.Tags()["scalars"]


def test_no_tracker_writes_no_event_files(tmp_path):
    from radis.training.trainer import train

    backbone = build_tiny_lm(tmp_path / "backbone")
    train(backbone, TRAINSET[:2], SETTINGS, tmp_path / "adapter", tmp_path / "checkpoints", seed=0,
          report_to=[], runs_dir=tmp_path / "runs")
    assert not list(tmp_path.rglob("events.out.tfevents.*"))


def test_loss_figure_has_one_line_per_method(trained, tmp_path, repo_root):
    root, summary = trained
    png, points = tmp_path / "loss.png", tmp_path / "loss.json"
    proc = subprocess.run(
        [sys.executable, "-m", "radis", "loss-curves", "--adapters", str(root / "adapter"), str(root / "adapter"),
         "--methods", "vanilla", "radis", "--backbone", "tiny", "--out", str(png), "--points", str(points)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(repo_root / "src")}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes().startswith(b"\x89PNG")
    plotted = json.loads(points.read_text())
    assert [p["method"] for p in plotted] == ["w/ Vanilla-FT"] * 3 + ["w/ RaDis"] * 3
    assert [p["loss"] for p in plotted[:3]] == summary["loss_curve"] and plotted[2]["step"] == 3


def test_a_model_without_a_loss_record_is_named(tmp_path):
    from radis.curves import loss_curve
    from radis.io import InputError, write_json

    write_json(tmp_path / "radis_provenance.json", {"summary": {}})
    with pytest.raises(InputError, match="no summary.loss_curve"):
        loss_curve(tmp_path)
