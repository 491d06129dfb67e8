"""One training run: the Trainer, its safeguards, and what it writes.

One trainer for every method: the methods differ only in their training sets (radis.methods).
A run stops where going on would lose what was learned: a non-finite loss raises
:class:`TrainingDiverged` before that step is checkpointed, SIGTERM ends the step with a
checkpoint to resume from, and no adapter is written unless training finished.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from pathlib import Path

from radis import interrupt
from radis.config import split_hardware
from radis.io import InputError, atomic_dir, grant_umask, write_json
from radis.provenance import model_identity, provenance
from radis.settings import TrainingSettings, TrainStep
from radis.training.attention import (
    SEGMENT_ATTENTION,
    PaddingCounter,
    TargetCollator,
    register_segment_attention,
    target_only_logits_ok,
)
from radis.training.checkpoints import (
    HARDWARE_RECORD,
    last_checkpoint,
    last_complete_checkpoint,
    training_key,
)
from radis.training.features import IGNORE_INDEX, build_features, keep_whole_turns
from radis.training.sampler import WindowSortedBatchSampler, gradient_accumulation


class TrainingDiverged(RuntimeError):
    """The loss or gradient norm stopped being finite; the message names the step and the last
    good checkpoint (a rerun with other settings, e.g. a lower learning rate, starts afresh)."""


def _step_counter_class():
    from transformers import TrainerCallback

    class StepCounter(TrainerCallback):
        """Counts the optimizer steps a process really makes (a resumed run skips the finished ones)."""

        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            self.steps += 1

    return StepCounter


def _agreed(flag: bool, device) -> bool:
    """``flag`` of any process, on every process (a stop must happen at the same step on all)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _safeguards_class():
    from transformers import TrainerCallback

    class Safeguards(TrainerCallback):
        """Stops that keep what was learned: a non-finite loss or gradient norm raises
        :class:`TrainingDiverged` before that step is checkpointed (the Trainer logs before it
        saves; its ``logging_nan_inf_filter``, turned off, would hide it); SIGTERM (radis.interrupt,
        deferred) saves a checkpoint at the end of the step and stops; every checkpoint records
        the hardware settings it was made with."""

        def __init__(self, checkpoint_dir: Path, hardware: dict):
            self.checkpoint_dir, self.hardware = Path(checkpoint_dir), hardware
            self.stopped_by_signal = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            bad = {k: v for k, v in (logs or {}).items()
                   if k in ("loss", "grad_norm") and isinstance(v, (int, float)) and not math.isfinite(v)}
            if bad:
                last = last_complete_checkpoint(self.checkpoint_dir)
                raise TrainingDiverged(
                    f"non-finite {', '.join(f'{k} {v}' for k, v in bad.items())} at step {state.global_step}; "
                    f"last good checkpoint: {last or f'none in {self.checkpoint_dir}'}. Lower "
                    "training.learning_rate (or check the training set); changed settings start afresh")

        def on_step_end(self, args, state, control, **kwargs):
            if _agreed(interrupt.requested(), args.device):
                self.stopped_by_signal = True
                control.should_save = True
                control.should_training_stop = True

        def on_save(self, args, state, control, **kwargs):
            import torch.distributed as dist

            checkpoint = self.checkpoint_dir / f"checkpoint-{state.global_step}"
            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                dist.barrier()  # every rank has written its part (ZeRO shards, RNG state) before the record
            if state.is_world_process_zero and checkpoint.is_dir():
                write_json(checkpoint / HARDWARE_RECORD, self.hardware)
                grant_umask(checkpoint)  # the Trainer's safetensors are 0600

    return Safeguards


def _trainer_class():
    import torch
    from torch.utils.data import DataLoader
    from transformers import Trainer

    class RadisTrainer(Trainer):
        """Trainer with window-sorted micro-batches, logits only at labelled positions and, on CPU,
        no computation on padding (sequences are run end to end with per-sequence attention)."""

        def __init__(self, *args, batch_sampler=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.radis_batch_sampler = batch_sampler
            self.target_only_logits = (isinstance(self.data_collator, TargetCollator)
                                       and target_only_logits_ok(self.model))
            # On a GPU a padded batch costs little more than the same tokens unpadded, and the
            # per-sequence attention loop would cost kernel launches; on a CPU padding is paid in full.
            self.unpadded = (self.target_only_logits and self.args.device.type == "cpu"
                             and self.args.world_size == 1)
            self._base_attention = None
            self._padded_calls = 0
            if self.target_only_logits:
                self.data_collator.unpadded = self.unpadded
            if self.unpadded:
                register_segment_attention()
                config = self._base().config
                self._base_attention = config._attn_implementation
                config._attn_implementation = SEGMENT_ATTENTION

        def _base(self):
            return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

        def restore_attention(self) -> None:
            if self._base_attention is not None:
                self._base().config._attn_implementation = self._base_attention

        @property
        def padding_waste(self) -> float:
            """Share of the token positions computed that were padding."""
            counter = self.data_collator
            if not isinstance(counter, PaddingCounter):
                return float("nan")
            return 0.0 if self.unpadded and not self._padded_calls else counter.waste

        def get_train_dataloader(self):
            if self.radis_batch_sampler is None:
                return super().get_train_dataloader()
            return self.accelerator.prepare(DataLoader(
                self.train_dataset, batch_sampler=self.radis_batch_sampler, collate_fn=self.data_collator,
                num_workers=self.args.dataloader_num_workers))

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            extra = {k: inputs.pop(k) for k in [k for k in inputs if k.startswith("radis_")]}
            # Only where the model is not wrapped (one process): calling its decoder directly
            # would bypass DistributedDataParallel's gradient hooks.
            if (return_outputs or not extra or "labels" not in inputs
                    or model is not self.accelerator.unwrap_model(model) or self.args.n_gpu > 1):
                self._padded_calls += 1
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            ids, mask = inputs["input_ids"], inputs.get("attention_mask")
            if self.unpadded:
                lengths = extra["radis_lengths"].tolist()
                positions = torch.cat([torch.arange(n, device=ids.device) for n in lengths])[None]
                hidden = base.get_decoder()(input_ids=ids[mask.bool()][None], position_ids=positions, use_cache=False,
                                            segment_lengths=lengths).last_hidden_state[0]
            else:
                hidden = base.get_decoder()(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
                hidden = hidden.reshape(-1, hidden.shape[-1])
            # the same loss as ForCausalLMLoss: fp32 logits, summed and divided by the labelled
            # tokens of the whole accumulation window (or averaged when that count is absent)
            logits = base.get_output_embeddings()(hidden.index_select(0, extra["radis_index"])).float()
            targets = extra["radis_targets"]
            if num_items_in_batch is None:
                return torch.nn.functional.cross_entropy(logits, targets, reduction="mean")
            loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
            if torch.is_tensor(num_items_in_batch):
                num_items_in_batch = num_items_in_batch.to(loss.device)
            loss = loss / num_items_in_batch
            if self.args.average_tokens_across_devices and self.model_accepts_loss_kwargs:
                loss = loss * self.accelerator.num_processes
            return loss

    return RadisTrainer


@contextlib.contextmanager
def _tensorboard_dir(runs_dir: Path | None):
    """transformers 5 takes TensorBoard's directory from TENSORBOARD_LOGGING_DIR only (default: under
    the checkpoints); set it while the Trainer is built, and restore it after."""
    if runs_dir is None:
        yield
        return
    before = os.environ.get("TENSORBOARD_LOGGING_DIR")
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(runs_dir)
    try:
        yield
    finally:
        if before is None:
            del os.environ["TENSORBOARD_LOGGING_DIR"]
        else:
            os.environ["TENSORBOARD_LOGGING_DIR"] = before


def train(backbone_dir: Path, trainset: list[dict], settings: dict, out_dir: Path, checkpoint_dir: Path,
          seed: int, trust_remote_code: bool = False, source: str = "the training set",
          report_to: list[str] | None = None, runs_dir: Path | None = None) -> dict:
    """Fine-tune ``backbone_dir`` on chat examples; writes the adapter (or full model) to ``out_dir``.

    ``source`` names the training set in messages. Runs under radis.interrupt's deferred SIGTERM:
    a signal stops training at the end of the step with a checkpoint, and no adapter is written.
    ``report_to``: the Trainer's trackers (config ``training.report_to``; none by default), which log
    every step's loss, learning rate and gradient norm; TensorBoard writes its event files to
    ``runs_dir``, so a run can be watched while it trains (``tensorboard --logdir results/models``).
    """
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        TrainingArguments,
        set_seed,
    )

    # typed once (radis.settings); the mapping as given keys the checkpoints and goes to the provenance
    cfg = TrainingSettings.from_config(settings)
    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(backbone_dir, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    features = [build_features(tokenizer, ex["messages"], cfg.max_length) for ex in trainset]
    if not features:
        raise InputError(f"{source}: the training set is empty")
    n_read = len(features)
    features = keep_whole_turns(features, [ex.get("id", f"example {i}") for i, ex in enumerate(trainset)],
                                cfg.max_length, cfg.overlong, source)
    if not features:
        raise InputError(f"{source}: every example is longer than training.max_length {cfg.max_length}")
    # tokenised once, kept as plain lists (a sized sequence is all the Trainer needs)
    dataset = [{"input_ids": f.input_ids, "labels": f.labels} for f in features]

    dtype = torch.bfloat16 if cfg.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(backbone_dir, dtype=dtype, trust_remote_code=trust_remote_code)
    if cfg.finetuning == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
            target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM"))
    if cfg.gradient_checkpointing:
        model.config.use_cache = False

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    accumulation = gradient_accumulation(cfg.batch_size, cfg.micro_batch_size, world_size)
    steps_per_epoch = math.ceil(len(features) / (cfg.micro_batch_size * world_size) / accumulation)
    # warmup as a step count: transformers 5 dropped TrainingArguments.warmup_ratio
    warmup_steps = math.ceil(cfg.warmup_ratio * steps_per_epoch * cfg.epochs)
    args = TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=accumulation,
        num_train_epochs=cfg.epochs,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=warmup_steps,
        bf16=cfg.bf16,
        # without CUDA (compute.device: cpu, or a CPU host) say so: accelerate then joins several
        # processes with gloo (MULTI_CPU) instead of leaving each one alone, thinking it is rank 0
        use_cpu=not torch.cuda.is_available(),
        activation_checkpointing=cfg.gradient_checkpointing,
        # reentrant checkpointing computes no gradients for LoRA (frozen inputs): use the non-reentrant one
        activation_checkpointing_kwargs={"use_reentrant": False},
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        logging_steps=1,
        seed=seed,
        data_seed=seed,
        logging_nan_inf_filter=False,  # a non-finite loss must reach the logs (Safeguards stops on it)
        report_to=list(report_to or []),
        remove_unused_columns=False,
        # LoRA freezes most parameters; DDP's search for unused ones would cost a graph walk per step
        ddp_find_unused_parameters=False,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    collator = TargetCollator(DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX,
                                                     pad_to_multiple_of=8 if torch.cuda.is_available() else None))
    sampler = WindowSortedBatchSampler([len(f.input_ids) for f in features], cfg.micro_batch_size,
                                       accumulation, seed, world_size)
    with _tensorboard_dir(runs_dir):  # read when the Trainer makes its TensorBoard callback
        trainer = _trainer_class()(model=model, args=args, train_dataset=dataset, data_collator=collator,
                                   batch_sampler=sampler)
    # One process decides about stale checkpoints; the others wait for it, then find the same one.
    # The key covers the examples themselves, so a changed training set never resumes.
    key = training_key(settings, seed, features, model_identity(backbone_dir),
                       world_size if trainer.is_deepspeed_enabled else None)
    hardware = {**split_hardware(settings, "training")[1], "world_size": world_size}
    with trainer.args.main_process_first(local=False, desc="checkpoint check"):
        if trainer.is_world_process_zero():
            resume = last_checkpoint(checkpoint_dir, key)
        else:
            from transformers.trainer_utils import get_last_checkpoint

            resume = get_last_checkpoint(str(checkpoint_dir))
    if resume is not None and trainer.is_world_process_zero():
        print(f"resuming from {Path(resume).name} of {checkpoint_dir}", file=sys.stderr, flush=True)
    record = Path(resume or "") / HARDWARE_RECORD  # read now: checkpoint rotation may remove it
    resumed_hardware = json.loads(record.read_text()) if resume and record.is_file() else None
    counter = _step_counter_class()()
    trainer.add_callback(counter)
    safeguards = _safeguards_class()(checkpoint_dir, hardware)
    trainer.add_callback(safeguards)
    try:
        with interrupt.deferred():
            result = trainer.train(resume_from_checkpoint=resume)
            if safeguards.stopped_by_signal:
                raise interrupt.Terminated(
                    f"stopped by SIGTERM after step {trainer.state.global_step} of {trainer.state.max_steps}; "
                    f"{last_complete_checkpoint(checkpoint_dir)} saved: rerun to resume")
    finally:
        trainer.restore_attention()

    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    summary = {
        "examples": len(features),
        "target_tokens": sum(f.n_target for f in features),
        "truncated": sum(f.truncated for f in features),  # cut after their end of turn (harmless)
        "dropped_overlong": n_read - len(features),  # cut before it: left out (training.overlong: drop)
        "hardware": hardware,
        "resumed_hardware": resumed_hardware,  # what the checkpoint resumed from was made with
        "steps": trainer.state.global_step,
        "steps_per_epoch": steps_per_epoch,
        "gradient_accumulation": accumulation,
        "world_size": world_size,
        "resumed_from": resume,
        "steps_run": counter.steps,  # optimizer steps this process made (fewer than "steps" after a resume)
        "train_loss": result.training_loss,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "loss_curve": losses,
        "train_runtime_s": result.metrics.get("train_runtime"),
        "padding_waste": trainer.padding_waste,  # share of computed token positions that were padding
        "target_only_logits": trainer.target_only_logits,
        "unpadded": trainer.unpadded,
    }
    # DeepSpeed ZeRO-3 shards the weights over the processes: every process takes part in gathering
    # them (stage3_gather_16bit_weights_on_model_save), and rank 0 saves the whole model, not its shard.
    state_dict = trainer.accelerator.get_state_dict(trainer.model_wrapped) if trainer.is_deepspeed_enabled else None
    if trainer.is_world_process_zero():
        with atomic_dir(out_dir) as tmp:  # a job killed while saving leaves no half adapter
            trainer.accelerator.unwrap_model(trainer.model).save_pretrained(tmp, state_dict=state_dict,
                                                                            safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            write_json(tmp / "radis_provenance.json", provenance(
                backbone_dir=str(backbone_dir), backbone_identity=model_identity(backbone_dir), settings=settings,
                seed=seed, summary=summary))
    return summary


def fine_tune(backbone: str, trainset: str, out: str, checkpoints: str, runs_dir: str | None,
              settings: TrainStep) -> None:
    """``radis train``: one method's LoRA or full fine-tuning of its backbone, resumed from its last
    matching checkpoint; ``runs_dir`` gets the training curves (``report_to``)."""
    import json

    from radis.device import enforce_device
    from radis.io import read_jsonl

    enforce_device("train", settings.device)
    summary = train(Path(backbone), read_jsonl(trainset), settings.training, Path(out), Path(checkpoints),
                    seed=settings.seed, trust_remote_code=settings.trust_remote_code, source=trainset,
                    report_to=list(settings.report_to), runs_dir=Path(runs_dir) if runs_dir else None)
    print(json.dumps({k: v for k, v in summary.items() if k != "loss_curve"}))
