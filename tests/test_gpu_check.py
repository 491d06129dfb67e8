"""workflow/scripts/gpu_check.py on a machine without a GPU: a clear refusal, and its plumbing.

The figures come from a GPU host (the script's docstring); here only that it fails gracefully and
that its stages run end to end at toy sizes (--cpu-smoke), so the script does not rot.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "workflow" / "scripts" / "gpu_check.py"


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(cuda(), reason="this machine has a GPU")
def test_without_a_gpu_it_says_so_and_exits_2(tmp_path):
    out = tmp_path / "report.json"
    run = subprocess.run([sys.executable, SCRIPT, "--out", out], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "no usable CUDA GPU" in run.stdout
    report = json.loads(out.read_text())
    assert report["exit_status"] == 2 and report["gpu"] is None and report["stages"] == {}


def test_stages_run_end_to_end_at_toy_sizes(tmp_path, embedded_backbone):
    out = tmp_path / "report.json"
    run = subprocess.run([sys.executable, SCRIPT, "--cpu-smoke", "--model", embedded_backbone, "--requests", "2",
                          "--max-new-tokens", "3", "--batch-size", "2", "--dtype", "float32", "--train-examples", "2",
                          "--train-batch", "2", "--skip", "zero2", "--time-limit", "900", "--out", out, "--workdir", tmp_path / "work"],
                         capture_output=True, text=True, timeout=1000)
    report = json.loads(out.read_text())
    stages = report["stages"]
    assert stages["hf"].get("generated_tokens") == 2 * 3, stages["hf"]  # min_new_tokens = max: exactly 3 each
    assert "vllm" in stages and ("skipped" in stages["vllm"] or "outputs" in stages["vllm"])
    assert stages["train"].get("steps") == 1 and stages["train"]["tokens_per_s"] > 0, stages["train"]
    # Exit 1 while radis.train's gradient checkpointing fails with LoRA (the check reports it and
    # measures without); 0 once it works.
    expected = 1 if stages["train"].get("gradient_checkpointing_error") else 0
    assert run.returncode == expected, run.stdout[-3000:]
