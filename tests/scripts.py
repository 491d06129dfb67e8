"""workflow/scripts/*.py as modules, for the tests of what they build (they are scripts, not part
of the radis package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"


def load_script(name: str) -> ModuleType:
    """``workflow/scripts/<name>.py``, loaded once and registered under ``name``."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]
