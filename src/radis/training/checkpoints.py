"""Which checkpoint a run may resume: one written whole, by a run with the same settings.

A resume must learn what an uninterrupted run would: checkpoints of other settings, other
examples or another backbone are set aside (never deleted), those a killed job left half-written
are removed.
Hardware settings (micro-batch, GPUs) stay out of that key, so a run may resume on other
hardware; each checkpoint records them (``HARDWARE_RECORD``) so the summary can say so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from radis.config import split_hardware
from radis.io import key_differences, set_aside, write_json
from radis.provenance import config_hash
from radis.training.features import Features

#: written into every checkpoint: the hardware settings (radis.config.HARDWARE_SETTINGS) it was made with
HARDWARE_RECORD = "radis_hardware.json"


def checkpoint_complete(checkpoint: Path) -> bool:
    """Whether the Trainer finished writing ``checkpoint``: it writes ``trainer_state.json`` last
    (after weights, optimizer, scheduler and RNG states), so a job killed while saving leaves a
    directory without it, or with a truncated one."""
    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
        return isinstance(state["global_step"], int)
    except (OSError, ValueError, KeyError, TypeError):
        return False


#: the key of the run that wrote a checkpoint directory (:func:`training_key`), beside its checkpoints
KEY_RECORD = "key.json"


def last_checkpoint(checkpoint_dir: Path, key: dict) -> str | None:
    """The checkpoint to resume from, if it was written by a run with the same key.

    Checkpoints of a run with another key (or none recorded) are set aside, never deleted
    (radis.io.set_aside: ``{checkpoint_dir}.stale/``, naming the fields of the key that differ), so
    a changed learning rate never resumes a stale optimizer state and a mistaken overlay costs no
    GPU-days; checkpoints that a killed job left half-written (:func:`checkpoint_complete`) are
    removed, so the resume starts from the last whole one.
    """
    from transformers.trainer_utils import get_last_checkpoint

    stamp = checkpoint_dir / KEY_RECORD
    if checkpoint_dir.exists() and any(checkpoint_dir.iterdir()):
        try:
            recorded = json.loads(stamp.read_text())
        except (OSError, ValueError):
            recorded = None
        if recorded != key:
            why = ("training key differs in: " + ", ".join(key_differences(recorded, key)) if recorded is not None
                   else f"no readable {KEY_RECORD}: the key these checkpoints were written with is unknown")
            set_aside(list(checkpoint_dir.iterdir()), checkpoint_dir, why)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    write_json(stamp, key)
    while (last := get_last_checkpoint(str(checkpoint_dir))) is not None and not checkpoint_complete(last):
        shutil.rmtree(last)
    return last


def last_complete_checkpoint(checkpoint_dir: Path) -> str | None:
    """The newest checkpoint that was written whole (a resume would start there), or None."""
    steps = sorted(((int(p.name.split("-")[-1]), p) for p in Path(checkpoint_dir).glob("checkpoint-*")
                    if p.name.split("-")[-1].isdigit() and checkpoint_complete(p)), reverse=True)
    return str(steps[0][1]) if steps else None


def training_key(settings: dict, seed: int, features: list[Features], backbone: str,
                 world_size: int | None = None) -> dict:
    """What a checkpoint must share with a run to be resumed by it: the settings that change what
    is learned (not the hardware ones of radis.config.HARDWARE_SETTINGS: a lower micro-batch after
    an out-of-memory error keeps the checkpoints), the seed, the tokenised examples and the
    backbone's identity (radis.provenance.model_identity: a revision bump with the same tokenizer
    must not merge an old adapter into a new backbone). ``world_size`` where the checkpoint format
    depends on it (DeepSpeed ZeRO shards the optimizer state per process). Field by field, so that
    a mismatch can say which field moved."""
    result_settings, _ = split_hardware(settings, "training")
    return json.loads(json.dumps({"settings": result_settings, "seed": seed, "n": len(features),
                                  "data": config_hash([[f.input_ids, f.labels] for f in features]),
                                  "backbone": backbone, "world_size": world_size}))
