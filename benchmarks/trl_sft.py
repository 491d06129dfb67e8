#!/usr/bin/env python3
"""TRL's ``SFTTrainer`` on a radis training set, as a careful user configures it (benchmark 2's
baseline); one process, or several under ``torch.distributed.run`` (DDP, gloo on CPU).

    python benchmarks/trl_sft.py --backbone DIR --trainset FILE.jsonl --settings JSON --out DIR

- prompt-completion data, so the loss is on the completion only: the prompt is the chat template's
  rendering up to the open assistant turn and the completion is the reply through its end-of-turn
  token, which are exactly the tokens and labels radis trains on (TRL's conversational form would
  also train on the template's newline after the end-of-turn token, which radis leaves out);
- ``padding_free``: the micro-batch runs as its sequences end to end (transformers builds the
  per-sequence mask from the position ids with SDPA, so it is exact on CPU); no packing, which
  would merge examples and change the number per optimizer step;
- LoRA through ``peft_config``, the same effective batch, epochs, learning rate, schedule and seeds
  as ``radis.training.trainer.train``; the default shuffled sampler, whose per-step windows radis reproduces.

Prints one JSON line per process (``{"trl": ...}``) with the loss curve and the training loop's time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path


def prompt_completion(tokenizer, messages: list[dict]) -> dict:
    """The example as prompt / completion text with the same split and labels as radis' features."""
    from radis.prompts import render_conversation, render_generation_prompt

    prompt = render_generation_prompt(tokenizer, messages[:-1])
    full = render_conversation(tokenizer, messages)
    end = full.rindex(tokenizer.eos_token) + len(tokenizer.eos_token)
    return {"prompt": prompt, "completion": full[len(prompt):end]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", type=Path, required=True)
    parser.add_argument("--trainset", type=Path, required=True)
    parser.add_argument("--settings", required=True, help="JSON: {training: ..., seed: ...} as radis train takes")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = json.loads(args.settings)
    training, seed = settings["training"], settings["seed"]

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    from radis.io import read_jsonl
    from radis.training.sampler import gradient_accumulation

    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(args.backbone)
    examples = [prompt_completion(tokenizer, ex["messages"]) for ex in read_jsonl(args.trainset)]
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    accumulation = gradient_accumulation(training["batch_size"], training["micro_batch_size"], world_size)
    steps = math.ceil(len(examples) / (training["micro_batch_size"] * world_size) / accumulation)
    model = AutoModelForCausalLM.from_pretrained(args.backbone, dtype=torch.bfloat16 if training["bf16"] else torch.float32)
    lora = training["lora"]
    config = SFTConfig(
        output_dir=str(args.out), per_device_train_batch_size=training["micro_batch_size"],
        gradient_accumulation_steps=accumulation, num_train_epochs=training["epochs"],
        learning_rate=training["learning_rate"], lr_scheduler_type=training["lr_scheduler"],
        warmup_steps=math.ceil(training["warmup_ratio"] * steps * training["epochs"]),
        bf16=training["bf16"], use_cpu=not torch.cuda.is_available(), seed=seed, data_seed=seed,
        padding_free=True, max_length=None, completion_only_loss=True, packing=False,
        save_strategy="no", logging_steps=1, report_to=[], disable_tqdm=True, ddp_find_unused_parameters=False)
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(examples),
                         processing_class=tokenizer,
                         peft_config=LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                                                target_modules=lora["target_modules"], task_type="CAUSAL_LM"))
    result = trainer.train()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    target = sum(sum(1 for label in ex["labels"] if label != -100) for ex in trainer.train_dataset)
    print(json.dumps({"trl": {"steps": trainer.state.global_step, "world_size": world_size,
                              "train_loss": result.training_loss, "last_loss": losses[-1], "loss_curve": losses,
                              "train_runtime_s": result.metrics["train_runtime"], "target_tokens": target}}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
