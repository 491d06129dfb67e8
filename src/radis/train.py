"""Fine-tuning (LoRA or full) with loss on assistant tokens only, checkpoints, resume, and merge.

One trainer for every method: the methods differ only in their training sets (radis.methods).
Loss covers the assistant's reply through its end-of-turn token: chat models whose pad token is
their eos would otherwise never learn to stop, so labels are built explicitly from character
offsets rather than from the padding mask.

Speed without changing what is learned (benchmarks/run.py measures it against a plain Trainer):
each optimizer step gets the very examples that transformers' own shuffled loader gives it with
the same seed (the same permutation, cut into the same windows), but inside the window the examples are sorted by length and split into micro-batches so that little
padding is computed; the loss is normalised by the window's target tokens, so the gradient is the
same whatever the split. Logits are computed only where a label is learned (the 49k-vocabulary
head and its softmax are a fifth of the compute of a small model, and prompts are half the tokens).
On CPU no padding is computed at all: a micro-batch runs as its sequences laid end to end, with
position ids restarting per sequence and attention confined to each (``segment_attention``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from radis import interrupt
from radis.config import split_hardware
from radis.io import InputError, atomic_dir, write_json, write_text
from radis.prompts import render_conversation, render_generation_prompt
from radis.provenance import config_hash, model_identity, provenance

IGNORE_INDEX = -100
#: what ``training.overlong`` may say about an example whose end-of-turn token lies past max_length
OVERLONG = ("error", "drop")
#: written into every checkpoint: the hardware settings (radis.config.HARDWARE_SETTINGS) it was made with
HARDWARE_RECORD = "radis_hardware.json"


class TrainingDiverged(RuntimeError):
    """The loss or gradient norm stopped being finite; the message names the step and the last
    good checkpoint (a rerun with other settings, e.g. a lower learning rate, starts afresh)."""


@dataclass(frozen=True)
class Features:
    input_ids: list[int]
    labels: list[int]
    truncated: bool
    #: cut before its end-of-turn token: trained on, the model would never learn to stop there
    lost_end_of_turn: bool = False

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
    return Features(ids[:max_length], labels[:max_length], truncated, lost_end_of_turn=ends[-1] >= max_length)


def keep_whole_turns(features: list[Features], names: list[str], max_length: int, overlong: str,
                     source: str) -> list[Features]:
    """The examples to train on: those that keep their end-of-turn token within ``max_length``.

    Cutting an example's end of turn teaches the model a reply that never ends, so such examples
    are refused (``overlong: error``, one message before the model loads) or left out and counted
    (``overlong: drop``). A cut in template text after the end of turn is harmless and kept."""
    if overlong not in OVERLONG:
        raise InputError(f"training.overlong must be one of {', '.join(OVERLONG)}, not {overlong!r}")
    cut = [name for name, f in zip(names, features, strict=True) if f.lost_end_of_turn]
    if cut and overlong == "error":
        shown = ", ".join(cut[:3])
        raise InputError(
            f"{source}: {len(cut)} of {len(features)} example(s) are longer than training.max_length "
            f"({max_length} tokens) and would lose their end-of-turn token, e.g. {shown}; raise "
            "training.max_length, or set training.overlong: drop to leave them out (counted in the summary)")
    return [f for f in features if not f.lost_end_of_turn]


def gradient_accumulation(batch_size: int, micro_batch_size: int, world_size: int) -> int:
    """Steps to accumulate so that micro × devices × steps equals the effective batch exactly."""
    per_step = micro_batch_size * world_size
    if batch_size % per_step:
        raise InputError(
            f"training.batch_size {batch_size} is not a multiple of micro_batch_size {micro_batch_size} "
            f"× {world_size} device(s)"
        )
    return batch_size // per_step


def checkpoint_complete(checkpoint: Path) -> bool:
    """Whether the Trainer finished writing ``checkpoint``: it writes ``trainer_state.json`` last
    (after weights, optimizer, scheduler and RNG states), so a job killed while saving leaves a
    directory without it, or with a truncated one."""
    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
        return isinstance(state["global_step"], int)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def last_checkpoint(checkpoint_dir: Path, fingerprint: str) -> str | None:
    """The checkpoint to resume from, if it was written by a run with the same settings.

    Checkpoints of a run with other settings (the fingerprint file differs) are discarded, so a
    changed learning rate never resumes a stale optimizer state; so are checkpoints that a killed
    job left half-written (:func:`checkpoint_complete`), so the resume starts from the last whole one.
    """
    from transformers.trainer_utils import get_last_checkpoint

    stamp = checkpoint_dir / "fingerprint.txt"
    if checkpoint_dir.exists() and (not stamp.exists() or stamp.read_text().strip() != fingerprint):
        shutil.rmtree(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    write_text(stamp, fingerprint + "\n")
    while (last := get_last_checkpoint(str(checkpoint_dir))) is not None and not checkpoint_complete(last):
        shutil.rmtree(last)
    return last


def last_complete_checkpoint(checkpoint_dir: Path) -> str | None:
    """The newest checkpoint that was written whole (a resume would start there), or None."""
    steps = sorted(((int(p.name.split("-")[-1]), p) for p in Path(checkpoint_dir).glob("checkpoint-*")
                    if p.name.split("-")[-1].isdigit() and checkpoint_complete(p)), reverse=True)
    return str(steps[0][1]) if steps else None


def training_fingerprint(settings: dict, seed: int, features: list[Features], backbone: str,
                         world_size: int | None = None) -> str:
    """What a checkpoint must share with a run to be resumed by it: the settings that change what
    is learned (not the hardware ones of radis.config.HARDWARE_SETTINGS: a lower micro-batch after
    an out-of-memory error keeps the checkpoints), the seed, the tokenised examples and the
    backbone's identity (radis.provenance.model_identity: a revision bump with the same tokenizer
    must not merge an old adapter into a new backbone). ``world_size`` where the checkpoint format
    depends on it (DeepSpeed ZeRO shards the optimizer state per process)."""
    result_settings, _ = split_hardware(settings, "training")
    return config_hash({"settings": result_settings, "seed": seed, "n": len(features),
                        "data": config_hash([[f.input_ids, f.labels] for f in features]),
                        "backbone": backbone, "world_size": world_size})


def micro_batch_split(lengths: list[int], n_parts: int) -> list[int]:
    """Sizes of ``n_parts`` consecutive micro-batches of length-sorted examples (longest first)
    with the fewest padded tokens: each micro-batch pads to its first (longest) example.

    No micro-batch holds more padded tokens than ``ceil(len/n_parts)`` copies of the longest
    example, the most a fixed-size split could need, so memory never grows.
    """
    n = len(lengths)
    if not 1 <= n_parts <= n:
        raise ValueError(f"cannot split {n} examples into {n_parts} micro-batches")
    cap = math.ceil(n / n_parts) * lengths[0]
    inf = float("inf")
    # cost[k][i]: fewest padded tokens for the first i examples in k micro-batches
    cost = [[inf] * (n + 1) for _ in range(n_parts + 1)]
    cut = [[0] * (n + 1) for _ in range(n_parts + 1)]
    cost[0][0] = 0
    for k in range(1, n_parts + 1):
        for i in range(k, n - (n_parts - k) + 1):
            for j in range(k - 1, i):  # the k-th micro-batch is examples j..i-1, padded to lengths[j]
                tokens = (i - j) * lengths[j]
                if tokens <= cap and cost[k - 1][j] + tokens < cost[k][i]:
                    cost[k][i], cut[k][i] = cost[k - 1][j] + tokens, j
    sizes, i = [], n
    for k in range(n_parts, 0, -1):
        sizes.append(i - cut[k][i])
        i = cut[k][i]
    return sizes[::-1]


class WindowSortedBatchSampler:
    """Micro-batches whose optimizer steps see the same examples as a shuffled loader would.

    Per epoch the permutation of the Trainer's own seeded sampler (``randperm`` seeded with
    ``data_seed + epoch``) is cut into windows of ``micro_batch_size × accumulation × world_size``
    examples (one optimizer step each, over all processes); within a window the examples are sorted
    by length and split by :func:`micro_batch_split`. The number of micro-batches per window, and so
    the step count, equals that of a plain loader (``ceil(window / micro_batch_size)``).

    With several processes (DDP on the paper's 4 GPUs) every process builds the same sequence and
    accelerate's ``BatchSamplerShard`` deals micro-batch ``i`` to process ``i % world_size``, so each
    optimizer step still sees exactly one window, length-sorted, on every GPU; the loss is
    normalised by the window's target tokens across processes, so the gradient does not depend on
    the split.
    """

    def __init__(self, lengths: list[int], micro_batch_size: int, accumulation: int, seed: int,
                 world_size: int = 1):
        self.lengths, self.micro, self.seed = lengths, micro_batch_size, seed
        self.window = micro_batch_size * accumulation * world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.micro)

    def __iter__(self):
        import torch

        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        for start in range(0, len(order), self.window):
            window = sorted(order[start:start + self.window], key=lambda i: -self.lengths[i])
            sizes = micro_batch_split([self.lengths[i] for i in window], math.ceil(len(window) / self.micro))
            for size in sizes:
                yield window[:size]
                window = window[size:]


#: architectures whose logits are exactly ``lm_head(final hidden state)`` (no soft-capping, no
#: scaling), so computing them only at labelled positions gives the same loss.
PLAIN_HEAD_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})
#: attention implementation name of :func:`segment_attention`
SEGMENT_ATTENTION = "radis_segments"


def _target_only_logits_ok(model) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    return (getattr(config, "model_type", None) in PLAIN_HEAD_MODEL_TYPES
            and hasattr(base, "get_decoder") and base.get_output_embeddings() is not None
            and not getattr(config, "final_logit_softcapping", None) and not getattr(config, "logit_scale", None))


def segment_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                      segment_lengths=None, **kwargs):
    """SDPA over unpadded sequences laid end to end: causal attention within each segment only,
    exactly what each sequence gets on its own row. Without ``segment_lengths`` it is plain SDPA."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if segment_lengths is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    parts = zip(query.split(segment_lengths, dim=2), key.split(segment_lengths, dim=2),
                value.split(segment_lengths, dim=2))
    outs = [sdpa_attention_forward(module, q, k, v, None, dropout=dropout, scaling=scaling, is_causal=True)[0]
            for q, k, v in parts]
    return torch.cat(outs, dim=1), None


def _register_segment_attention() -> None:
    """Make :func:`segment_attention` selectable by name, with the masks SDPA gets."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(SEGMENT_ATTENTION, segment_attention)
    AttentionMaskInterface.register(SEGMENT_ATTENTION, sdpa_mask)


class PaddingCounter:
    """Wraps a collator and counts real and padded tokens (reported as padding waste)."""

    def __init__(self, collator):
        self.collator, self.real, self.padded = collator, 0, 0

    def __call__(self, examples):
        batch = self.collator(examples)
        self.real += int(batch["attention_mask"].sum())
        self.padded += batch["input_ids"].numel()
        return batch

    @property
    def waste(self) -> float:
        return 1 - self.real / self.padded if self.padded else 0.0


class TargetCollator(PaddingCounter):
    """The padding collator plus, worked out here on the CPU (so that a training step never waits
    for the GPU to find them), the positions whose next token is learned and those tokens:
    ``radis_index`` into the flattened batch (or, ``unpadded``, into its real tokens end to end),
    ``radis_targets``, and ``radis_lengths`` of the sequences."""

    unpadded = False

    def __call__(self, examples):
        import torch

        batch = super().__call__(examples)
        real = batch["attention_mask"].bool()
        # the label each position predicts (the next token's), as transformers' ForCausalLMLoss shifts
        targets = torch.nn.functional.pad(batch["labels"][:, 1:], (0, 1), value=IGNORE_INDEX)
        targets = targets[real] if self.unpadded else targets.flatten()
        index = (targets != IGNORE_INDEX).nonzero().flatten()
        batch.update(radis_index=index, radis_targets=targets[index], radis_lengths=real.sum(dim=1))
        return batch


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
            checkpoint = self.checkpoint_dir / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and checkpoint.is_dir():
                write_json(checkpoint / HARDWARE_RECORD, self.hardware)

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
                                       and _target_only_logits_ok(self.model))
            # On a GPU a padded batch costs little more than the same tokens unpadded, and the
            # per-sequence attention loop would cost kernel launches; on a CPU padding is paid in full.
            self.unpadded = (self.target_only_logits and self.args.device.type == "cpu"
                             and self.args.world_size == 1)
            self._base_attention = None
            self._padded_calls = 0
            if self.target_only_logits:
                self.data_collator.unpadded = self.unpadded
            if self.unpadded:
                _register_segment_attention()
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

    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(backbone_dir, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    features = [build_features(tokenizer, ex["messages"], settings["max_length"]) for ex in trainset]
    if not features:
        raise InputError(f"{source}: the training set is empty")
    n_read = len(features)
    # called by radis.train's callers outside the DAG too, whose settings may predate the key
    features = keep_whole_turns(features, [ex.get("id", f"example {i}") for i, ex in enumerate(trainset)],
                                settings["max_length"], settings.get("overlong", "error"), source)
    if not features:
        raise InputError(f"{source}: every example is longer than training.max_length {settings['max_length']}")
    # tokenised once, kept as plain lists (a sized sequence is all the Trainer needs)
    dataset = [{"input_ids": f.input_ids, "labels": f.labels} for f in features]

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
    steps_per_epoch = math.ceil(len(features) / (settings["micro_batch_size"] * world_size) / accumulation)
    # warmup as a step count: transformers 5 dropped TrainingArguments.warmup_ratio
    warmup_steps = math.ceil(settings["warmup_ratio"] * steps_per_epoch * settings["epochs"])
    args = TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=settings["micro_batch_size"],
        gradient_accumulation_steps=accumulation,
        num_train_epochs=settings["epochs"],
        learning_rate=settings["learning_rate"],
        lr_scheduler_type=settings["lr_scheduler"],
        warmup_steps=warmup_steps,
        bf16=settings["bf16"],
        # without CUDA (compute.device: cpu, or a CPU host) say so: accelerate then joins several
        # processes with gloo (MULTI_CPU) instead of leaving each one alone, thinking it is rank 0
        use_cpu=not torch.cuda.is_available(),
        activation_checkpointing=settings["gradient_checkpointing"],
        # reentrant checkpointing computes no gradients for LoRA (frozen inputs): use the non-reentrant one
        activation_checkpointing_kwargs={"use_reentrant": False},
        save_strategy="steps",
        save_steps=settings["save_steps"],
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
    sampler = WindowSortedBatchSampler([len(f.input_ids) for f in features], settings["micro_batch_size"],
                                       accumulation, seed, world_size)
    with _tensorboard_dir(runs_dir):  # read when the Trainer makes its TensorBoard callback
        trainer = _trainer_class()(model=model, args=args, train_dataset=dataset, data_collator=collator,
                                   batch_sampler=sampler)
    # One process decides about stale checkpoints; the others wait for it, then find the same one.
    # The fingerprint covers the examples themselves, so a changed training set never resumes.
    fingerprint = training_fingerprint(settings, seed, features, model_identity(backbone_dir),
                                       world_size if trainer.is_deepspeed_enabled else None)
    hardware = {**split_hardware(settings, "training")[1], "world_size": world_size}
    with trainer.args.main_process_first(local=False, desc="checkpoint check"):
        if trainer.is_world_process_zero():
            resume = last_checkpoint(checkpoint_dir, fingerprint)
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


def merge(backbone_dir: Path, adapter_dir: Path, out_dir: Path, bf16: bool = False,
          trust_remote_code: bool = False) -> None:
    """Merge a LoRA adapter into its backbone (paper §4.3: merged before testing).

    A full fine-tuning output is already a whole model and is copied as is.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if not (adapter_dir / "adapter_config.json").exists():
        if not (adapter_dir / "config.json").exists():
            raise InputError(f"{adapter_dir}: neither a LoRA adapter nor a model directory")
        with atomic_dir(out_dir) as tmp:
            shutil.copytree(adapter_dir, tmp, dirs_exist_ok=True)
        return
    from peft import PeftModel

    dtype = torch.bfloat16 if bf16 else torch.float32
    base = AutoModelForCausalLM.from_pretrained(backbone_dir, dtype=dtype, trust_remote_code=trust_remote_code)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    prov = json.loads((adapter_dir / "radis_provenance.json").read_text())
    with atomic_dir(out_dir) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(tmp)
        write_json(tmp / "radis_provenance.json", provenance(merged_from=str(adapter_dir), training=prov))
