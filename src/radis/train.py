"""Fine-tuning (LoRA or full) with loss on assistant tokens only, checkpoints, resume, and merge.

One trainer for every method: the methods differ only in their training sets (radis.methods).
Loss covers the assistant's reply through its end-of-turn token: chat models whose pad token is
their eos would otherwise never learn to stop, so labels are built explicitly from character
offsets rather than from the padding mask.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from radis.io import InputError, write_json
from radis.prompts import render_conversation, render_generation_prompt
from radis.provenance import config_hash, provenance

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Features:
    input_ids: list[int]
    labels: list[int]
    truncated: bool

    @property
    def n_target(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def build_features(tokenizer, messages: list[dict], max_length: int) -> Features:
    """Token ids and labels of one chat example: labels are the ids of the last assistant turn
    (its content and the end-of-turn token), ``IGNORE_INDEX`` everywhere else."""
    prompt = render_generation_prompt(tokenizer, messages[:-1])
    full = render_conversation(tokenizer, messages)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently inside the full conversation")
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    labels = [tok if start >= len(prompt) else IGNORE_INDEX for tok, (start, _) in zip(ids, enc["offset_mapping"])]
    eos = tokenizer.eos_token_id
    ends = [i for i, tok in enumerate(ids) if tok == eos and labels[i] != IGNORE_INDEX]
    if not ends:
        raise ValueError(f"the chat template does not close the assistant turn with eos {tokenizer.eos_token!r}")
    labels[ends[-1] + 1:] = [IGNORE_INDEX] * (len(labels) - ends[-1] - 1)  # template text after the turn
    truncated = len(ids) > max_length
    return Features(ids[:max_length], labels[:max_length], truncated)


def gradient_accumulation(batch_size: int, micro_batch_size: int, world_size: int) -> int:
    """Steps to accumulate so that micro × devices × steps equals the effective batch exactly."""
    per_step = micro_batch_size * world_size
    if batch_size % per_step:
        raise InputError(
            f"training.batch_size {batch_size} is not a multiple of micro_batch_size {micro_batch_size} "
            f"× {world_size} device(s)"
        )
    return batch_size // per_step


def last_checkpoint(checkpoint_dir: Path, fingerprint: str) -> str | None:
    """The checkpoint to resume from, if it was written by a run with the same settings.

    Checkpoints of a run with other settings (the fingerprint file differs) are discarded, so a
    changed learning rate never resumes a stale optimizer state.
    """
    from transformers.trainer_utils import get_last_checkpoint

    stamp = checkpoint_dir / "fingerprint.txt"
    if checkpoint_dir.exists() and (not stamp.exists() or stamp.read_text().strip() != fingerprint):
        shutil.rmtree(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint + "\n")
    return get_last_checkpoint(str(checkpoint_dir))


def train(backbone_dir: Path, trainset: list[dict], settings: dict, out_dir: Path, checkpoint_dir: Path,
          seed: int, trust_remote_code: bool = False) -> dict:
    """Fine-tune ``backbone_dir`` on chat examples; writes the adapter (or full model) to ``out_dir``."""
    import torch
    from datasets import Dataset
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer,
                              TrainingArguments, set_seed)

    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(backbone_dir, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    features = [build_features(tokenizer, ex["messages"], settings["max_length"]) for ex in trainset]
    if not features:
        raise InputError("the training set is empty")
    dataset = Dataset.from_list([{"input_ids": f.input_ids, "labels": f.labels} for f in features])

    dtype = torch.bfloat16 if settings["bf16"] else torch.float32
    model = AutoModelForCausalLM.from_pretrained(backbone_dir, dtype=dtype, trust_remote_code=trust_remote_code)
    if settings["finetuning"] == "lora":
        from peft import LoraConfig, get_peft_model

        lora = settings["lora"]
        model = get_peft_model(model, LoraConfig(
            r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
            target_modules=lora["target_modules"], task_type="CAUSAL_LM"))
    if settings["gradient_checkpointing"]:
        model.config.use_cache = False

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    accumulation = gradient_accumulation(settings["batch_size"], settings["micro_batch_size"], world_size)
    args = TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=settings["micro_batch_size"],
        gradient_accumulation_steps=accumulation,
        num_train_epochs=settings["epochs"],
        learning_rate=settings["learning_rate"],
        lr_scheduler_type=settings["lr_scheduler"],
        warmup_ratio=settings["warmup_ratio"],
        bf16=settings["bf16"],
        gradient_checkpointing=settings["gradient_checkpointing"],
        save_strategy="steps",
        save_steps=settings["save_steps"],
        save_total_limit=2,
        logging_steps=1,
        seed=seed,
        data_seed=seed,
        group_by_length=True,
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX,
                                      pad_to_multiple_of=8 if torch.cuda.is_available() else None)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    resume = last_checkpoint(checkpoint_dir, config_hash({"settings": settings, "seed": seed, "n": len(features)}))
    result = trainer.train(resume_from_checkpoint=resume)

    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    summary = {
        "examples": len(features),
        "target_tokens": sum(f.n_target for f in features),
        "truncated": sum(f.truncated for f in features),
        "steps": trainer.state.global_step,
        "steps_per_epoch": math.ceil(len(features) / (settings["micro_batch_size"] * world_size) / accumulation),
        "gradient_accumulation": accumulation,
        "world_size": world_size,
        "resumed_from": resume,
        "train_loss": result.training_loss,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "loss_curve": losses,
    }
    if trainer.is_world_process_zero():
        out_dir = Path(out_dir)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        trainer.model.save_pretrained(out_dir, safe_serialization=True)
        tokenizer.save_pretrained(out_dir)
        write_json(out_dir / "radis_provenance.json", provenance(
            backbone_dir=str(backbone_dir), settings=settings, seed=seed, summary=summary))
    return summary


def merge(backbone_dir: Path, adapter_dir: Path, out_dir: Path, bf16: bool = False,
          trust_remote_code: bool = False) -> None:
    """Merge a LoRA adapter into its backbone (paper §4.3: merged before testing).

    A full fine-tuning output is already a whole model and is copied as is.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    if not (adapter_dir / "adapter_config.json").exists():
        if not (adapter_dir / "config.json").exists():
            raise InputError(f"{adapter_dir}: neither a LoRA adapter nor a model directory")
        shutil.copytree(adapter_dir, out_dir)
        return
    from peft import PeftModel

    dtype = torch.bfloat16 if bf16 else torch.float32
    base = AutoModelForCausalLM.from_pretrained(backbone_dir, dtype=dtype, trust_remote_code=trust_remote_code)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out_dir)
    prov = json.loads((adapter_dir / "radis_provenance.json").read_text())
    write_json(out_dir / "radis_provenance.json", provenance(merged_from=str(adapter_dir), training=prov))
