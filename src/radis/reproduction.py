"""Ours beside the paper's: one reproduction table per paper table (Tables 1-5).

Why: for a run of the paper's grid the first question is whether it reproduces the paper, cell by
cell, and with what certainty; no reproduction tool in this field answers it. Each paper cell that
this run has a counterpart for is listed with the paper's value (workflow/resources/paper_results.yaml,
radis.paper), ours with its 95% interval (the tables' own, radis.stats), the difference, and a mark
where the paper's value lies outside our interval. A run that is not the paper's setup (the embedded
default, the rehearsal, any overlay) says so first, naming the settings that differ from
config/paper.yaml and the backbones that stand in for the paper's, so its distances are read as what
they are. Built from the rendered tables (their CSVs carry each score's interval) and Table 4's
classified rationales.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radis.io import read_json, write_text
from radis.settings import ReproductionStep

#: a paper cell whose value lies outside our 95% interval
OUTSIDE = "✗"
#: the languages of the paper's Tables 1-2, each paired with English both ways
PAPER_LANGUAGES = ("cs", "de", "ru", "zh")
#: settings that cannot change a number (hardware, places, display names, the judge's patience)
_NOT_RESULT_CHANGING = ("environments", "compute", "hub_cache", "exploratory", "threads", "data.sha256",
                        "evaluation.comet_batch_size", "evaluation.bootstrap", "general.gsm8k.batch_size",
                        "general.drift.batch_size")
_NOT_RESULT_CHANGING_LEAVES = ("label", "notes", "max_concurrency", "max_retries", "timeout_s", "usd_per_mtok_prompt",
                               "usd_per_mtok_completion", "tensor_parallel_size")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def setup_differences(run: Mapping, paper: Mapping) -> list[str]:
    """The result-changing settings in which ``run`` (a validated config) differs from ``paper``
    (config/config.yaml with config/paper.yaml), as "key: ours (paper: theirs)"; hardware settings,
    places and display names are left out (radis.config.HARDWARE_SETTINGS)."""
    from radis.config import HARDWARE_SETTINGS

    ours, theirs = _flatten(run), _flatten(paper)
    # a catalogue entry only one side defines is not a setting of the run: what the run uses of the
    # catalogues shows in experiment.*, general.*.judge and the entries both define
    one_sided = {f"{section}.{name}" for section in ("backbones", "judges", "methods")
                 for name in set(run.get(section, {})) ^ set(paper.get(section, {}))}

    def counts(key: str) -> bool:
        leaf = key.rsplit(".", 1)[-1]
        return not (any(key == p or key.startswith(p + ".") for p in (*_NOT_RESULT_CHANGING, *one_sided))
                    or key in HARDWARE_SETTINGS or leaf in _NOT_RESULT_CHANGING_LEAVES
                    # a method's own training overrides: methods.<name>.training.<key>
                    or (key.startswith("methods.") and ".training." in key
                        and "training." + key.split(".training.", 1)[1] in HARDWARE_SETTINGS))

    def show(v: Any) -> str:
        text = json.dumps(v, ensure_ascii=False) if v is not None else "unset"
        return text if len(text) <= 40 else text[:39] + "…"

    return [f"{k}: {show(ours.get(k))} (paper: {show(theirs.get(k))})"
            for k in sorted(set(ours) | set(theirs)) if counts(k) and ours.get(k) != theirs.get(k)]


def _column_keys(table: int, header: list[str], directions: list[str]) -> dict[str, str]:
    """Our table's column labels -> the paper's column names (radis.paper)."""
    from radis.benchmarks import benchmarks
    from radis.languages import Direction, language_name

    ours = {str(Direction.parse(d)) for d in directions}
    # an average over other directions than the paper's four is not the paper's average
    paper_sides = {"en-x": {f"en-{x}" for x in PAPER_LANGUAGES}, "x-en": {f"{x}-en" for x in PAPER_LANGUAGES}}
    whole = {side: {d for d in ours if d.startswith("en-") == (side == "en-x")} == paper
             for side, paper in paper_sides.items()}
    keys = {b.column: name for name, b in benchmarks().items()}
    keys["RP[%]"] = "rp"
    keys.update({label: side for label, side in (("X→EN", "x-en"), ("EN→X", "en-x")) if whole[side]})
    if table in (1, 2):
        side = [Direction.parse(d) for d in directions if (Direction.parse(d).src == "en") == (table == 1)]
        keys = {language_name(d.tgt if table == 1 else d.src): str(d) for d in side}
        if whole["en-x" if table == 1 else "x-en"]:
            keys["Avg."] = "avg"
    return {label: keys[label] for label in header if label in keys}


def _rows_of_csv(path: Path) -> tuple[list[str], list[dict]]:
    text = path.read_text(encoding="utf-8")
    if text.startswith("n/a"):
        return [], []
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    columns = [h for h in (reader.fieldnames or [])[4:] if not h.endswith((" delta", " low", " high", " p"))]
    return columns, rows


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "-") else None
    except ValueError:
        return None


def compare(paper_value: float | None, ours: float | None, low: float | None, high: float | None) -> dict:
    """One reproduction line's numbers: the difference and whether the paper's value is outside our interval."""
    diff = None if paper_value is None or ours is None else round(ours - paper_value, 2) + 0.0
    outside = (paper_value is not None and low is not None and high is not None
               and not low <= paper_value <= high)
    return {"paper": paper_value, "ours": ours, "low": low, "high": high, "difference": diff, "outside": outside}


def table_lines(table: int, csv_path: Path, paper: list[dict], directions: list[str],
                stand_in: Mapping[str, str]) -> tuple[list[dict], str | None]:
    """The reproduction lines of paper Table ``table`` from our rendered table's CSV, or why none
    (a translation table scored with chrF is not comparable with the paper's COMET)."""
    from radis.paper import paper_value

    columns, rows = _rows_of_csv(csv_path)
    if not rows:
        return [], "this run has no such table"
    if table in (1, 2, 5) and rows[0]["metric"] != "comet":
        return [], f"this run scored translation with {rows[0]['metric']} (no COMET model), the paper with COMET"
    keys = _column_keys(table, columns, directions)
    lines = []
    for row in rows:
        backbone = stand_in.get(row["backbone"], row["backbone"])
        for label, key in keys.items():
            try:
                theirs = paper_value(paper, table, backbone, row["method"], key)
            except KeyError:
                continue  # not a cell of the paper's table (another method, or a prior model it did not run)
            line = compare(theirs, _number(row[label]), _number(row.get(f"{label} low")),
                           _number(row.get(f"{label} high")))
            lines.append({"table": table, "backbone": row["backbone"], "paper_backbone": backbone,
                          "method": row["method"], "model": row["model"], "column": label, **line})
    return lines, None


def table4_lines(results: list[Path], paper: list[dict], bootstrap: dict | None) -> list[dict]:
    """Table 4: each category's occurrence among our classified rationales, with its interval from
    resampling the rationales (radis.stats), beside the paper's percentage."""
    from radis.paper import paper_value
    from radis.stats import SAMPLES, SEED, interval, item_scores, resampled_items

    bootstrap = bootstrap or {}
    lines = []
    for path in results:
        result = read_json(path)
        classified = [i for i in result["items"] if i["categories"] is not None]
        for c in result["occurrence"]["categories"]:
            items = item_scores([i["id"] for i in classified], [1.0 if c["key"] in i["categories"] else 0.0
                                                                for i in classified], scale=100.0)
            low = high = None
            if classified:
                low, high = interval(resampled_items({0: items}, bootstrap.get("samples", SAMPLES),
                                                     bootstrap.get("seed", SEED))[0])
            try:
                theirs = paper_value(paper, 4, None, c["name"], "occurrence")
            except KeyError:
                continue
            lines.append({"table": 4, "backbone": path.parent.name, "paper_backbone": "", "method": c["name"],
                          "model": c["name"], "column": "Occurrence [%]", **compare(theirs, c["percent"], low, high)})
    return lines


TITLES = {1: "Table 1: EN→X translation (COMET)", 2: "Table 2: X→EN translation (COMET)",
          3: "Table 3: instruction following, safety and reasoning", 4: "Table 4: rationale categories",
          5: "Table 5: RaDis with other models' rationales"}


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def render(lines: list[dict], why_not: dict[int, str], differences: list[str], stand_in: Mapping[str, str],
           labels: Mapping[str, str]) -> tuple[str, str]:
    """(markdown, csv) of the reproduction tables: the run's setup against the paper's first."""
    md = ["# Reproduction: this run beside the paper", ""]
    if not differences and not stand_in:
        md.append("This run has the paper's setup (config/paper.yaml; hardware settings aside): a paper value "
                  f"outside our 95% interval ({OUTSIDE}) is a cell that did not reproduce.")
    else:
        md.append("**This run is not the paper's setup, so its numbers are not expected to match the paper's**; "
                  "the tables show how far they are.")
        for ours, theirs in stand_in.items():
            md.append(f"- backbone {labels.get(ours, ours)} stands in for the paper's {labels.get(theirs, theirs)}")
        if differences:
            md.append(f"- {len(differences)} result-changing setting(s) differ from config/paper.yaml:")
            md += [f"  - `{d}`" for d in differences]
    md += ["", f"Paper: workflow/resources/paper_results.yaml (the paper's printed numbers). Ours: the run's "
               f"tables, each score with its 95% bootstrap interval over the test items; {OUTSIDE}: the paper's "
               "value lies outside it.", ""]
    for table, title in TITLES.items():
        md += [f"## {title}", ""]
        mine = [line for line in lines if line["table"] == table]
        if not mine:
            md += [f"No cell to compare: {why_not.get(table, 'this run has no counterpart of its cells')}.", ""]
            continue
        md += ["| Model | Column | Paper | Ours | 95% interval | Ours − paper | |", "|---|---|---:|---:|---|---:|---|"]
        for line in mine:
            model = (line["model"] if table == 4 else
                     f"{labels.get(line['backbone'], line['backbone'])} · {line['model']}")
            spread = "-" if line["low"] is None else f"[{_fmt(line['low'])}, {_fmt(line['high'])}]"
            diff = "-" if line["difference"] is None else f"{line['difference']:+.2f}"
            md.append(f"| {model} | {line['column']} | {_fmt(line['paper'])} | {_fmt(line['ours'])} | {spread} | {diff} "
                      f"| {OUTSIDE if line['outside'] else ''} |")
        outside = sum(1 for line in mine if line["outside"])
        md += ["", f"{outside} of {len(mine)} paper value(s) outside our interval.", ""]
    buf = io.StringIO()
    fields = ["table", "backbone", "paper_backbone", "method", "model", "column", "paper", "ours", "low", "high",
              "difference", "outside"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(lines)
    return "\n".join(md), buf.getvalue()


def write_reproduction(tables: list[str], table4: list[str], out: str, settings: ReproductionStep) -> None:
    """``radis reproduction``: results/tables/reproduction.{md,csv} from the run's rendered tables
    (``tables``: table1.csv, table2.csv and, where built, table3.csv and table5.csv) and Table 4's
    classified rationales (``table4``)."""
    from radis.paper import load_paper_results

    paper = load_paper_results()
    stand_in = dict(settings.stand_in)
    lines, why_not = [], {}
    by_number = {int(Path(p).stem.removeprefix("table")): Path(p) for p in tables}
    for table in (1, 2, 3, 5):
        if table not in by_number:
            why_not[table] = "this run has no such table"
            continue
        found, reason = table_lines(table, by_number[table], paper, settings.directions, stand_in)
        lines += found
        if reason:
            why_not[table] = reason
    lines += table4_lines([Path(p) for p in table4], paper, settings.bootstrap)
    if not table4:
        why_not[4] = "this run classifies no rationales (no RaDis)"
    md, table_csv = render(lines, why_not, settings.differences, stand_in, settings.labels)
    write_text(f"{out}.md", md + "\n")
    write_text(f"{out}.csv", table_csv)
    print(f"{out}.md: {len(lines)} cells beside the paper's, {sum(1 for x in lines if x['outside'])} outside our interval")
