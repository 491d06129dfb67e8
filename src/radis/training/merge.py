"""Merging a LoRA adapter into its backbone, so that generation loads one plain model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from radis.io import InputError, atomic_dir, write_json
from radis.provenance import provenance
from radis.settings import MergeStep


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


def merge_adapter(backbone: str, adapter: str, out: str, settings: MergeStep) -> None:
    """``radis merge``: the adapter merged into its backbone, the model every evaluation loads."""
    merge(Path(backbone), Path(adapter), Path(out), bf16=settings.bf16, trust_remote_code=settings.trust_remote_code)
