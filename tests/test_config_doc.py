"""config/README.md is generated from the schema and current (radis.config_doc)."""

from __future__ import annotations

from pathlib import Path

import yaml

from radis.config_doc import NAME, OUT, current, rows

REPO = Path(__file__).resolve().parents[1]


def test_config_readme_is_current():
    assert OUT.read_text(encoding="utf-8") == current(), "config/README.md is stale: run `radis config-doc`"


def _leaves(config, prefix=""):
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            yield from _leaves(value, path)
        else:
            yield path


def test_every_key_of_the_shipped_configs_is_documented():
    from radis.config import load_schema

    documented = {key for key, _ in rows(load_schema())}
    catalogues = ("backbones", "methods", "judges")
    for name in ("config.yaml", "paper.yaml", "rehearsal.yaml"):
        config = yaml.safe_load((REPO / "config" / name).read_text())
        for key in _leaves(config):
            parts = key.split(".")
            if parts[0] in catalogues and len(parts) > 1:
                parts[1] = NAME
            generic = ".".join(parts)
            assert any(generic == d or generic.startswith(d + ".") for d in documented), f"{name}: {key}"
