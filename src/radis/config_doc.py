"""config/README.md: every config key, generated from the schema (one place per fact).

Why: a researcher changing a setting needs its name, type, allowed values, default and meaning in
one page; written by hand it drifts from the schema that validates the config. This renders it
from workflow/schemas/config.schema.yaml (and the embedded default's values, config/config.yaml);
``radis config-doc`` writes it and the tests check that the file is current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from radis.settings import REPO_ROOT

OUT = REPO_ROOT / "config" / "README.md"
#: what a key of a mapping whose keys are names (backbones, methods, judges) is written as
NAME = "<name>"


def _resolve(node: dict, schema: dict) -> dict:
    ref = node.get("$ref")
    if ref:
        target = schema["$defs"][ref.rsplit("/", 1)[-1]]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _kind(node: dict, schema: dict) -> str:
    """Type and constraints in a few words."""
    node = _resolve(node, schema)
    if "enum" in node:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    for alternative in ("oneOf", "anyOf"):
        if alternative in node:
            return " or ".join(_kind(n, schema) for n in node[alternative])
    kinds = node.get("type", "any")
    text = " or ".join(kinds) if isinstance(kinds, list) else kinds
    if text == "array" and "items" in node:
        text = f"list of ({_kind(node['items'], schema)})"
    bounds = [f"{op} {node[key]}" for key, op in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                                                  ("exclusiveMaximum", "<"), ("minItems", "items ≥"),
                                                  ("minLength", "length ≥")) if key in node]
    if "pattern" in node:
        bounds.append(f"matching `{node['pattern']}`")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _describe(node: dict, schema: dict) -> str:
    node = _resolve(node, schema)
    return " ".join(str(node.get("description", "")).split())


def rows(schema: dict, node: dict | None = None, prefix: str = "") -> list[tuple[str, dict]]:
    """(dotted key, schema node) of every key, parents before children; a mapping keyed by names
    (``backbones``) lists its entries' keys under ``<name>``."""
    node = _resolve(schema if node is None else node, schema)
    out = []
    for name, child in (node.get("properties") or {}).items():
        key = f"{prefix}.{name}" if prefix else name
        out.append((key, child))
        out += rows(schema, child, key)
    entry = node.get("additionalProperties")
    if isinstance(entry, dict) and node.get("propertyNames"):
        key = f"{prefix}.{NAME}"
        out.append((key, entry))
        out += rows(schema, entry, key)
    return out


def _value(config: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(config, dict) or part not in config:
            return None
        config = config[part]
    return config


def render(schema: dict, embedded: dict) -> str:
    """The Markdown page: one table per top-level section."""
    required = set(schema.get("required", []))
    lines = ["# Configuration keys", "",
             "Generated from `workflow/schemas/config.schema.yaml` by `radis config-doc` (the tests check that it "
             "is current); do not edit by hand. The embedded default is `config/config.yaml`, the paper's grid "
             "`config/paper.yaml`; a run takes overlays with `--configfile` (README). Every object refuses keys it "
             "does not list, so a typo is an error naming the key.", "",
             " ".join(str(schema.get("description", "")).split()), ""]
    by_section: dict[str, list[tuple[str, dict]]] = {}
    for key, node in rows(schema):
        by_section.setdefault(key.split(".")[0], []).append((key, node))
    for section, keys in by_section.items():
        lines += [f"## `{section}`" + (" (required)" if section in required else ""), "",
                  "| key | type | schema default | embedded default | meaning |", "|---|---|---|---|---|"]
        for key, node in keys:
            resolved = _resolve(node, schema)
            default = f"`{json.dumps(resolved['default'])}`" if "default" in resolved else ""
            value = _value(embedded, key) if NAME not in key else None
            shown = "" if value is None or isinstance(value, dict) else f"`{json.dumps(value)}`"
            cells = [f"`{key}`", _kind(node, schema), default, shown, _describe(node, schema)]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def current() -> str:
    """The page for the schema and embedded default of this checkout."""
    import yaml

    from radis.config import load_schema

    embedded = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    return render(load_schema(), embedded)


def write_config_doc(out: str = str(OUT)) -> None:
    """``radis config-doc``: write config/README.md."""
    from radis.io import write_text

    text = current()
    write_text(Path(out), text)
    print(f"{out}: {text.count(chr(10) + '| `')} keys")
