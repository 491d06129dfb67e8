"""Which checkpoint a run may resume: one written whole, by a run with the same settings.

A resume must learn what an uninterrupted run would: checkpoints of other settings, other
examples or another backbone are discarded, and so are those a killed job left half-written.
Hardware settings (micro-batch, GPUs) stay out of that key, so a run may resume on other
hardware; each checkpoint records them (``HARDWARE_RECORD``) so the summary can say so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from radis.config import split_hardware
from radis.io import write_text
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
