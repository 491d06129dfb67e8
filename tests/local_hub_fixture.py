"""The ``local_hub`` fixture: a Hugging Face hub cache mirroring config/paper.yaml (workflow/scripts/local_hub.py).

Built once and kept in the local-hub work cache (``$RADIS_LOCAL_HUB_CACHE``, default
``~/.cache/radis/local-hub``), so later sessions reuse it: the script rebuilds only when the
config's hub ids, the script or the chat templates change (about a minute cold on 2 cores, the
first time also a PyPI download of the llama-cpp-python sdist).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PAPER_CONFIG = REPO_ROOT / "config" / "paper.yaml"


def load_local_hub_module():
    """workflow/scripts/local_hub.py as a module (it is a script, not part of the radis package)."""
    if "local_hub" not in sys.modules:
        spec = importlib.util.spec_from_file_location("local_hub", REPO_ROOT / "workflow" / "scripts" / "local_hub.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["local_hub"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["local_hub"]


@pytest.fixture(scope="session")
def local_hub() -> Path:
    """Path of the hub cache (point HF_HUB_CACHE at it, with HF_HUB_OFFLINE=1)."""
    from radis.envs import interpreter

    hub = load_local_hub_module()
    config = hub.load_workflow_config(PAPER_CONFIG)
    out = hub.work_cache() / "hub"
    hub.build_hub(config, out, hub.work_cache(), interpreter("comet", config["environments"], REPO_ROOT))
    return out
