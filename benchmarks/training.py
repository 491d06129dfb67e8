"""Benchmark 2: training throughput of ``radis.train.train`` against a plain Trainer + peft run.

Both fine-tune the embedded model with the default config's LoRA settings on the same RaDis
training set (real rationales from benchmark 1), with the same features (``build_features``: loss
on the assistant reply and its end-of-turn token), effective batch, seed and step count. The plain
run is what one writes first: ``transformers.Trainer`` with a collator that pads each micro-batch
to its longest sequence, shuffled batches without length grouping, the model's own loss.
Throughput counts trained (assistant) tokens per second of the training loop
(``train_runtime``); rounds alternate which side goes first, and the ratio is their median.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from common import WORK, Report, default_config, embedded_model, median, timed

PLAIN_DIR = WORK / "train-plain"
OURS_DIR = WORK / "train-ours"


_loop_cpu: list[float] = []


def _record_loop_cpu() -> None:
    """Wrap ``Trainer.train`` (ours subclasses it) to record the CPU time of the training loop:
    steadier than wall-clock time when other jobs share the cores."""
    from transformers import Trainer

    if getattr(Trainer.train, "_benchmarked", False):
        return
    original = Trainer.train

    def train(self, *args, **kwargs):
        t0 = _cpu_self()
        try:
            return original(self, *args, **kwargs)
        finally:
            _loop_cpu.append(_cpu_self() - t0)

    train._benchmarked = True
    Trainer.train = train


def _cpu_self() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def plain_train(backbone_dir: Path, trainset: list[dict], settings: dict, seed: int) -> dict:
    """The baseline: a plain Trainer + peft with the default padding collator."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from radis.train import IGNORE_INDEX, PaddingCounter, build_features, gradient_accumulation

    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(backbone_dir)
    features = [build_features(tokenizer, ex["messages"], settings["max_length"]) for ex in trainset]
    dataset = [{"input_ids": f.input_ids, "labels": f.labels} for f in features]
    model = AutoModelForCausalLM.from_pretrained(backbone_dir, dtype=torch.bfloat16 if settings["bf16"] else torch.float32)
    lora = settings["lora"]
    model = get_peft_model(model, LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                                             target_modules=lora["target_modules"], task_type="CAUSAL_LM"))
    args = TrainingArguments(
        output_dir=str(PLAIN_DIR), per_device_train_batch_size=settings["micro_batch_size"],
        gradient_accumulation_steps=gradient_accumulation(settings["batch_size"], settings["micro_batch_size"], 1),
        num_train_epochs=settings["epochs"], learning_rate=settings["learning_rate"],
        lr_scheduler_type=settings["lr_scheduler"],
        warmup_steps=math.ceil(settings["warmup_ratio"] * math.ceil(len(features) / settings["batch_size"])
                               * settings["epochs"]),
        bf16=settings["bf16"], activation_checkpointing=settings["gradient_checkpointing"],
        activation_checkpointing_kwargs={"use_reentrant": False},
        save_strategy="no", logging_steps=1, seed=seed, data_seed=seed, report_to=[],
        remove_unused_columns=False, disable_tqdm=True)
    collator = PaddingCounter(DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX))
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    result = trainer.train()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return {"steps": trainer.state.global_step, "train_loss": result.training_loss, "last_loss": losses[-1],
            "loss_curve": losses, "train_runtime_s": result.metrics["train_runtime"],
            "padding_waste": collator.waste, "target_tokens": sum(f.n_target for f in features)}


def ours_train(backbone_dir: Path, trainset: list[dict], settings: dict, seed: int) -> dict:
    from radis.train import train

    if OURS_DIR.exists():
        shutil.rmtree(OURS_DIR)  # no resume: every round trains from step 0
    return train(backbone_dir, trainset, {**settings, "save_steps": 10**6}, OURS_DIR / "adapter",
                 OURS_DIR / "checkpoints", seed)


def run(trainset: list[dict], rounds: int, report: Report) -> None:
    from radis.config import method_training

    config = default_config()
    settings = {**method_training(config, "radis"), "epochs": 1}
    if settings["finetuning"] != "lora" or settings["bf16"]:
        raise SystemExit("the training benchmark compares fp32 LoRA runs (the default config)")
    model = embedded_model()
    seed = config["seed"]
    _record_loop_cpu()
    runs = {"ours": [], "plain": []}
    walls = {"ours": [], "plain": []}
    for r in range(rounds):
        for side in (("ours", "plain") if r % 2 == 0 else ("plain", "ours")):
            with timed() as t:
                out = (ours_train if side == "ours" else plain_train)(model, trainset, settings, seed)
            out["loop_cpu_s"] = _loop_cpu[-1]
            runs[side].append(out)
            walls[side].append(t.wall)
            print(f"  training round {r + 1}/{rounds} {side}: {out['steps']} steps, loop "
                  f"{out['train_runtime_s']:.1f}s, CPU {out['loop_cpu_s']:.1f}s (call {t.wall:.1f}s), last loss {out['last_loss']:.4f}", flush=True)
    shutil.rmtree(PLAIN_DIR, ignore_errors=True)

    ours, plain = runs["ours"][0], runs["plain"][0]
    tokens = ours["target_tokens"] * settings["epochs"]
    tps = {side: [tokens / o["train_runtime_s"] for o in runs[side]] for side in runs}
    ratios = [o / p for o, p in zip(tps["ours"], tps["plain"])]
    ratio = median(ratios)
    call_ratio = median([p / o for o, p in zip(walls["ours"], walls["plain"])])
    cpu_ratio = median([p["loop_cpu_s"] / o["loop_cpu_s"] for o, p in zip(runs["ours"], runs["plain"])])
    last_gap = abs(ours["last_loss"] - plain["last_loss"]) / plain["last_loss"]
    mean_gap = abs(ours["train_loss"] - plain["train_loss"]) / plain["train_loss"]
    section = "2 training"
    report.add(section, f"RaDis set: examples / assistant tokens / steps (batch {settings['batch_size']} = "
                        f"{settings['micro_batch_size']} x {settings['batch_size'] // settings['micro_batch_size']}, "
                        f"LoRA r{settings['lora']['r']}, fp32)",
               f"{len(trainset)} / {tokens} / {ours['steps']}")
    report.add(section, "radis.train.train, trained tokens/s", f"{median(tps['ours']):.1f}")
    report.add(section, "plain Trainer + peft, trained tokens/s", f"{median(tps['plain']):.1f}")
    report.add(section, "speed-up (median over rounds, training loop)", f"{ratio:.2f}x", ">= 1.3x", ratio >= 1.3,
               f"per round {', '.join(f'{x:.2f}' for x in ratios)}; CPU-time ratio {cpu_ratio:.2f}x; "
               f"whole call incl. loading {call_ratio:.2f}x")
    report.add(section, "padding waste: ours / plain", f"{ours['padding_waste']:.1%} / {plain['padding_waste']:.1%}")
    report.add(section, "final (last-step) loss: ours / plain", f"{ours['last_loss']:.4f} / {plain['last_loss']:.4f}",
               "within 2%", last_gap <= 0.02, f"gap {last_gap:.2%}; mean loss gap {mean_gap:.2%}")
    report.add(section, "logits only at labelled positions", str(ours.get("target_only_logits")))
