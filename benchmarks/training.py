"""Benchmark 2: training throughput of ``radis.training.trainer.train`` against TRL's ``SFTTrainer``.

Both fine-tune the embedded model with the default config's LoRA settings on the same RaDis
training set (real rationales from benchmark 1), with the same labels (the assistant reply through
its end-of-turn token), effective batch, epochs, seed and step count; TRL is configured as a
careful user would (``benchmarks/trl_sft.py``: prompt-completion data, completion-only loss,
``padding_free``). Each side runs as its own command, in one process and in two (DDP over gloo on
CPU, under ``torch.distributed.run``, the path of the paper's 4 GPUs), with the same threads per
process. Throughput counts trained (completion) tokens per second of the training loop
(``train_runtime``); rounds alternate which side goes first, and the ratio is their median.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from common import REPO, WORK, Report, default_config, embedded_model, median

TRAIN_DIR = WORK / "train"


def _command(side: str, processes: int, backbone: Path, trainset: Path, settings: dict, out: Path) -> list[str]:
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_port", "29571"]
    common = ["--backbone", str(backbone), "--trainset", str(trainset), "--settings", json.dumps(settings)]
    if side == "ours":
        return [*launcher, "-m", "radis", "train", *common, "--out", str(out / "adapter"),
                "--checkpoints", str(out / "checkpoints")]
    return [*launcher, str(REPO / "benchmarks" / "trl_sft.py"), *common, "--out", str(out)]


def run_side(side: str, processes: int, backbone: Path, trainset: Path, settings: dict, threads: int) -> dict:
    """One training run as its own command; the summary that process rank 0 prints."""
    out = TRAIN_DIR / f"{side}-{processes}"
    shutil.rmtree(out, ignore_errors=True)  # no resume: every round trains from step 0
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO / "src"),
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(_command(side, processes, backbone, trainset, settings, out), capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=3600, check=False)
    if done.returncode:
        raise SystemExit(f"{side} training ({processes} process(es)) failed:\n{done.stderr[-4000:]}")
    key = "trl" if side == "trl" else "examples"
    for line in done.stdout.splitlines():
        if line.startswith(f'{{"{key}"'):  # the Trainer's own log lines are Python dicts, not JSON
            summary = json.loads(line)
            return summary["trl"] if side == "trl" else summary
    raise SystemExit(f"{side} training printed no summary:\n{done.stdout[-2000:]}")


def run(trainset: list[dict], rounds: int, report: Report, threads: int = 1) -> None:
    from radis.config import method_training
    from radis.io import write_jsonl

    config = default_config()
    training = {**method_training(config, "radis"), "epochs": 1, "save_steps": 10**6}
    if training["finetuning"] != "lora" or training["bf16"]:
        raise SystemExit("the training benchmark compares fp32 LoRA runs (the default config)")
    settings = {"device": "cpu", "seed": config["seed"], "training": training}
    backbone = embedded_model()
    TRAIN_DIR.mkdir(parents=True, exist_ok=True)
    data = TRAIN_DIR / "trainset.jsonl"
    write_jsonl(data, trainset)
    section = "2 training"
    report.add(section, f"RaDis set: examples (batch {training['batch_size']} = micro {training['micro_batch_size']} "
                        f"x accumulation x processes, LoRA r{training['lora']['r']}, fp32, {threads} thread(s) per "
                        "process)", str(len(trainset)))
    for processes in (1, 2):
        runs = {"ours": [], "trl": []}
        for r in range(rounds):
            for side in (("ours", "trl") if r % 2 == 0 else ("trl", "ours")):
                out = run_side(side, processes, backbone, data, settings, threads)
                runs[side].append(out)
                print(f"  training, {processes} process(es), round {r + 1}/{rounds} {side}: {out['steps']} steps, "
                      f"loop {out['train_runtime_s']:.1f}s, {out['target_tokens']} trained tokens, "
                      f"last loss {out['last_loss']:.4f}", flush=True)
        ours, trl = runs["ours"][0], runs["trl"][0]
        tps = {side: [o["target_tokens"] / o["train_runtime_s"] for o in runs[side]] for side in runs}
        ratios = [o / t for o, t in zip(tps["ours"], tps["trl"])]
        ratio = median(ratios)
        last_gap = abs(ours["last_loss"] - trl["last_loss"]) / trl["last_loss"]
        mean_gap = abs(ours["train_loss"] - trl["train_loss"]) / trl["train_loss"]
        label = "1 process" if processes == 1 else f"{processes} processes (DDP, gloo)"
        report.add(section, f"{label}: trained tokens / steps, ours and TRL",
                   f"{ours['target_tokens']} / {ours['steps']}; {trl['target_tokens']} / {trl['steps']}",
                   "equal", ours["target_tokens"] == trl["target_tokens"] and ours["steps"] == trl["steps"])
        report.add(section, f"{label}: radis.training.trainer.train, trained tokens/s", f"{median(tps['ours']):.1f}")
        report.add(section, f"{label}: TRL SFTTrainer (padding-free, completion-only), trained tokens/s",
                   f"{median(tps['trl']):.1f}")
        report.add(section, f"{label}: ours / TRL (median over rounds, training loop)", f"{ratio:.2f}x", ">= 1.5x",
                   ratio >= 1.5, "per round " + ", ".join(f"{x:.2f}" for x in ratios))
        report.add(section, f"{label}: final (last-step) loss, ours / TRL",
                   f"{ours['last_loss']:.4f} / {trl['last_loss']:.4f}", "within 2%", last_gap <= 0.02,
                   f"gap {last_gap:.2%}; mean loss gap {mean_gap:.2%}")
    shutil.rmtree(TRAIN_DIR, ignore_errors=True)
