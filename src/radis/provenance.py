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
            "sacrebleu", "unbabel-comet", "vllm", "lm-eval", "alpaca-eval")


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
