"""The registries' two mechanics, written once: which modules of a package extend the study (a
method in radis.methods, a benchmark in radis.evaluate), and a lookup that names what is known.

A module registers itself by declaring the package's attribute (``METHOD``, ``BENCHMARKS``), so
extending the study is one new module and nothing else names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any


def declaring(package: str, attribute: str) -> list[ModuleType]:
    """The modules of ``package`` that declare ``attribute``, by module name."""
    import importlib
    import pkgutil

    path = importlib.import_module(package).__path__
    modules = [importlib.import_module(f"{package}.{info.name}")
               for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name)]
    return [m for m in modules if hasattr(m, attribute)]


def lookup(mapping: Mapping[str, Any], key: str, what: str, error: type[Exception] = ValueError) -> Any:
    """``mapping[key]``, or ``error`` naming ``what`` and every known key."""
    try:
        return mapping[key]
    except KeyError:
        raise error(f"no {what} {key!r} (known: {', '.join(mapping)})") from None
