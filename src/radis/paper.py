"""The paper's reported numbers (RaDis, Tables 1-5) as data: ``workflow/resources/paper_results.yaml``.

Why a data file and not numbers in code: a reproduction is judged cell by cell against the paper, and
the paper we have is an OCR'd text (``../shared/paper/radis-paper.txt``) whose tables are garbled in
places (merged, lost or repeated cells, arrows read as Greek letters). Each cell is therefore written
down once, with how it was obtained: ``printed`` (read off the recorded line), ``derived`` (a cell the
OCR lost, rebuilt from the paper's own arithmetic: its printed deltas or its Avg column; ``how`` says
which numbers), ``not-reported`` (the paper prints "-") or ``illegible`` (lost and not rebuildable).
Everything that compares with the paper reads it through :func:`load_paper_results` and
:func:`paper_value`, so a misread cell is fixed in one place, and tests/test_paper_results.py checks
the file against the paper's text.

The file is validated when read (unknown keys, missing fields, unknown names, a cell given twice are
:class:`radis.io.InputError` naming the entry and its line): a typo in a hand-written data file would
otherwise surface as a silently missing comparison.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from radis.io import InputError
from radis.layout import BASE

#: the file in this checkout
PAPER_RESULTS = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "paper_results.yaml"

BACKBONES = ("llama-2-7b-chat", "mistral-7b-instruct-v0.2")
#: Tables 1-3, per backbone, in the paper's row order ("base" is the "Backbone LLM" row)
METHODS = (BASE, "vanilla", "seqkd", "sdft", "radis")
#: Tables 1-3, "Prior LLM-based MT models": each is its own backbone, method "base" (as radis.tables)
PRIOR_MODELS = ("parrot-7b", "bigtrans-13b", "bayling-7b", "alma-7b")
#: Table 5 (the ablation), all on the Mistral backbone; "radis" is "RaDis (Self-generated)"
TABLE5_BACKBONE = "mistral-7b-instruct-v0.2"
TABLE5_METHODS = (BASE, "vanilla", "radis", "radis-llama-2-7b-chat", "radis-llama-3-70b-instruct")
GENERAL_COLUMNS = ("mtbench", "alpacaeval", "alpacaeval2", "advbench", "gsm8k")
TABLE_COLUMNS: dict[int, tuple[str, ...]] = {
    1: ("en-cs", "en-de", "en-ru", "en-zh", "avg"),
    2: ("cs-en", "de-en", "ru-en", "zh-en", "avg"),
    3: (*GENERAL_COLUMNS, "rp"),
    4: ("occurrence",),
    5: ("x-en", "en-x", *GENERAL_COLUMNS),
}
#: how a cell was obtained; the first two carry a number, the last two are null with a note
READS = ("printed", "derived", "not-reported", "illegible")
#: what a derived cell was rebuilt from: a printed row value and its delta, or the row's Avg
DERIVED_FROM = ("deltas", "avg")

TOP_KEYS = {"source", "avg_exceptions", "values"}
REQUIRED = {"table", "column", "value", "read", "line"}
#: the row: backbone and method (Tables 1-3, 5), or the rationale category (Table 4)
ROW_KEYS = {"backbone", "method", "category"}
OPTIONAL = {"delta", "derived_from", "tolerance", "how", "ocr", "note"}
KNOWN = REQUIRED | ROW_KEYS | OPTIONAL


def _categories() -> tuple[str, ...]:
    from radis.analysis.rationales import CATEGORIES

    return tuple(c.name for c in CATEGORIES)


def _entry_lines(text: str) -> list[int | None]:
    """The 1-based line of each entry of ``values`` (from the YAML node tree), for error messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, node in root.value:
        if getattr(key, "value", None) == "values" and isinstance(node, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in node.value]
    return []


def cell_key(entry: dict) -> tuple:
    """(table, backbone, method or category, column): what makes a cell unique."""
    row = entry.get("method", entry.get("category"))
    return (entry.get("table"), entry.get("backbone"), row, entry.get("column"))


def _describe(entry: Any) -> str:
    if not isinstance(entry, dict):
        return repr(entry)
    names = ("backbone", "method", "category", "column")
    parts = [f"table {entry['table']}" if "table" in entry else None,
             *(str(entry[k]) for k in names if entry.get(k) is not None)]
    return " ".join(p for p in parts if p)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_entry(entry: Any) -> str | None:
    """What is wrong with one entry, or None."""
    if not isinstance(entry, dict):
        return f"expected a mapping, got {type(entry).__name__}"
    unknown = sorted(set(entry) - KNOWN)
    if unknown:
        return f"unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(sorted(KNOWN))})"
    missing = sorted(REQUIRED - set(entry))
    if missing:
        return f"missing field(s) {', '.join(map(repr, missing))}"
    table = entry["table"]
    if table not in TABLE_COLUMNS:
        return f"table {table!r} is not one of {sorted(TABLE_COLUMNS)}"
    if table == 4:
        if "category" not in entry or {"backbone", "method"} & set(entry):
            return "a Table 4 entry names its 'category' (and no backbone or method)"
        if entry["category"] not in _categories():
            return f"unknown category {entry['category']!r} (known: {', '.join(_categories())})"
    else:
        if "category" in entry or not {"backbone", "method"} <= set(entry):
            return f"a Table {table} entry names its 'backbone' and 'method' (and no category)"
        backbone, method = entry["backbone"], entry["method"]
        if table == 5:
            if backbone != TABLE5_BACKBONE or method not in TABLE5_METHODS:
                return (f"Table 5 rows are backbone {TABLE5_BACKBONE!r} with method one of "
                        f"{', '.join(TABLE5_METHODS)}; got {backbone!r}, {method!r}")
        elif backbone in PRIOR_MODELS:
            if method != BASE:
                return f"a prior model's row has method 'base', got {method!r}"
        elif backbone not in BACKBONES:
            return f"unknown backbone {backbone!r} (known: {', '.join(BACKBONES + PRIOR_MODELS)})"
        elif method not in METHODS:
            return f"unknown method {method!r} (known: {', '.join(METHODS)})"
    if entry["column"] not in TABLE_COLUMNS[table]:
        return f"column {entry['column']!r} is not one of Table {table}'s: {', '.join(TABLE_COLUMNS[table])}"
    read, value = entry["read"], entry["value"]
    if read not in READS:
        return f"read {read!r} is not one of {', '.join(READS)}"
    if read in ("printed", "derived") and not _is_number(value):
        return f"a {read} cell has a number as its value, got {value!r}"
    if read in ("not-reported", "illegible"):
        if value is not None:
            return f"a {read} cell has value null, got {value!r}"
        if not entry.get("note"):
            return f"a {read} cell says why in a 'note'"
    if read == "derived":
        if not entry.get("how"):
            return "a derived cell says how in 'how'"
        if entry.get("derived_from") not in DERIVED_FROM:
            return f"a derived cell has derived_from one of {', '.join(DERIVED_FROM)}"
    elif {"how", "derived_from", "tolerance", "ocr"} & set(entry):
        return "'how', 'derived_from', 'tolerance' and 'ocr' belong to derived cells"
    if "tolerance" in entry and not (_is_number(entry["tolerance"]) and entry["tolerance"] >= 0):
        return f"tolerance is a number >= 0, got {entry['tolerance']!r}"
    if "delta" in entry and (read != "printed" or table not in (1, 2, 3) or not _is_number(entry["delta"])):
        return "a 'delta' is the number printed beside a printed Table 1-3 cell"
    if not (isinstance(entry["line"], int) and not isinstance(entry["line"], bool) and entry["line"] > 0):
        return f"line is the line number in the paper's text, got {entry['line']!r}"
    return None


def load_paper_document(path: str | os.PathLike = PAPER_RESULTS) -> dict:
    """The whole validated file: ``source`` (provenance), ``avg_exceptions`` (rows whose printed Avg
    is not the mean of their printed directions within rounding) and ``values`` (the cells)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{where}: malformed YAML ({getattr(e, 'problem', None) or e})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a mapping with keys {', '.join(sorted(TOP_KEYS))}")
    unknown = sorted(set(doc) - TOP_KEYS)
    if unknown:
        raise InputError(f"{path}: unknown top-level key(s) {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(sorted(TOP_KEYS))})")
    for key in ("source", "values"):
        if key not in doc:
            raise InputError(f"{path}: no {key!r}")
    values = doc["values"]
    if not isinstance(values, list):
        raise InputError(f"{path}: 'values' is a list of cells, got {type(values).__name__}")
    lines = _entry_lines(text)
    seen: dict[tuple, int] = {}
    for i, entry in enumerate(values):
        where = f"{path}:{lines[i]}" if i < len(lines) else str(path)
        problem = _check_entry(entry)
        if problem:
            raise InputError(f"{where}: values[{i}] ({_describe(entry)}): {problem}")
        key = cell_key(entry)
        if key in seen:
            first = seen[key]
            at = f" (line {lines[first]})" if first < len(lines) else ""
            raise InputError(f"{where}: values[{i}] ({_describe(entry)}): duplicate of values[{first}]{at}")
        seen[key] = i
    exceptions = doc.get("avg_exceptions") or []
    if not isinstance(exceptions, list) or not all(
            isinstance(x, dict) and set(x) == {"table", "backbone", "method"} for x in exceptions):
        raise InputError(f"{path}: 'avg_exceptions' is a list of {{table, backbone, method}} mappings")
    return doc


def load_paper_results(path: str | os.PathLike = PAPER_RESULTS) -> list[dict]:
    """The paper's cells, validated (see the module docstring): one dict per cell, as in the file."""
    return load_paper_document(path)["values"]


def paper_value(results: list[dict], table: int, backbone: str | None, method: str,
                column: str) -> float | None:
    """The paper's number for one cell, or None where the paper has none (it prints "-", or the
    cell is illegible in our text: the entry's ``read`` and ``note`` say which).

    Table 4 has no backbone: pass ``backbone=None`` and the category as ``method``
    (``paper_value(r, 4, None, "Grammar", "occurrence")``). A cell the paper's tables do not have
    (a wrong name, a column of another table) is a KeyError, not None: "the paper reports nothing
    here" and "there is no such cell" must not look alike to a comparison."""
    key = (table, backbone, method, column)
    for entry in results:
        if cell_key(entry) == key:
            value = entry["value"]
            return None if value is None else float(value)
    raise KeyError(f"no paper cell table={table} backbone={backbone} method={method} column={column}")
