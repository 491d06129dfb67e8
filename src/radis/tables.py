"""Tables 1-2 of the paper (translation quality, EN→X and X→EN) built from per-cell result files.

Each cell of a table is one JSON file under ``results/eval/{backbone}/{method}/translation/``; this
module gathers them into the paper's layout: one block per backbone, its untouched "Backbone LLM"
row first, then one row per method with the delta to that row, one column per language plus the
average. A missing cell is an error, never a blank: a silently incomplete table is the worst kind
of wrong result. One :class:`Table` renders to Markdown (reading), CSV (machines) and LaTeX (paper).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from radis.io import InputError, read_json, write_text
from radis.languages import Direction, language_name

METHOD_NAMES: dict[str, str] = {
    "base": "Backbone LLM",
    "vanilla": "w/ Vanilla-FT",
    "seqkd": "w/ Seq-KD",
    "sdft": "w/ SDFT",
    "radis": "w/ RaDis",
}
METRIC_NAMES: dict[str, str] = {"comet": "COMET", "chrf": "chrF", "bleu": "BLEU"}
BASE = "base"
# Scores and deltas are rounded once, when the table is built, so that every rendering shows the
# same numbers and each printed delta is exactly the difference of the two printed scores.
DECIMALS = 2


@dataclass(frozen=True)
class Row:
    method: str
    label: str
    scores: tuple[float, ...]  # one per column, "Avg." last
    deltas: tuple[float, ...] | None  # to the backbone row; None for the backbone row itself


@dataclass(frozen=True)
class Group:
    backbone: str
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]  # ("Models", language columns..., "Avg.")
    groups: tuple[Group, ...]
    metric: str

    @property
    def columns(self) -> tuple[str, ...]:
        return self.header[1:]


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def load_translation_results(paths: Iterable[Path]) -> list[dict]:
    """Read per-cell translation result files, checking the keys the tables rely on."""
    results = []
    for path in paths:
        record = read_json(path)
        if not isinstance(record, dict):
            raise InputError(f"{path}: expected a JSON object, got {type(record).__name__}")
        for key, kind in (("backbone", str), ("method", str), ("direction", str), ("metrics", dict)):
            if not isinstance(record.get(key), kind):
                raise InputError(f"{path}: missing or malformed {key!r} (expected {kind.__name__})")
        try:
            Direction.parse(record["direction"])
        except ValueError as e:
            raise InputError(f"{path}: {e}") from None
        results.append(record)
    return results


def choose_metric(results: list[dict]) -> str:
    """COMET (the paper's metric) when every cell has it; otherwise chrF, which needs no model, so
    a table never mixes metrics when COMET was unavailable for some runs."""
    if not results:
        raise ValueError("no translation results to choose a metric from")
    return "comet" if all(r["metrics"].get("comet") is not None for r in results) else "chrf"


def _column_labels(directions: list[Direction]) -> list[str]:
    """Name a column by its non-English language, as the paper does; spell out both languages
    when the table is not one-sided around English (the short names would be ambiguous)."""
    if all(d.src == "en" for d in directions):
        return [language_name(d.tgt) for d in directions]
    if all(d.tgt == "en" for d in directions):
        return [language_name(d.src) for d in directions]
    return [f"{language_name(d.src)}→{language_name(d.tgt)}" for d in directions]


def _default_title(directions: list[Direction], metric: str) -> str:
    name = METRIC_NAMES.get(metric, metric)
    if all(d.src == "en" for d in directions):
        return f"Table 1: EN→X translation ({name})"
    if all(d.tgt == "en" for d in directions):
        return f"Table 2: X→EN translation ({name})"
    return f"Translation ({name})"


def translation_table(
    results: list[dict],
    backbones: list[str],
    methods: list[str],
    directions: list[str],
    metric: str,
    *,
    title: str | None = None,
    backbone_names: dict[str, str] | None = None,
) -> Table:
    """Lay out ``metric`` for ``backbones`` × (backbone row + ``methods``) × ``directions``.

    ``methods`` may include ``base`` or not: the backbone row always comes first, since every
    delta is measured against it. Raises ``ValueError`` listing every missing cell.
    """
    if not directions:
        raise ValueError("a translation table needs at least one direction")
    dirs = [Direction.parse(d) for d in directions]
    index: dict[tuple[str, str, str], float | None] = {}
    for r in results:
        key = (r["backbone"], r["method"], str(Direction.parse(r["direction"])))
        if key in index:
            raise ValueError(f"two results for backbone={key[0]} method={key[1]} direction={key[2]}")
        index[key] = r["metrics"].get(metric)

    row_methods = [BASE] + [m for m in methods if m != BASE]
    missing = [
        f"backbone={b} method={m} direction={d}" + ("" if (b, m, str(d)) not in index else f" (no {metric})")
        for b in backbones
        for m in row_methods
        for d in dirs
        if index.get((b, m, str(d))) is None
    ]
    if missing:
        raise ValueError(f"missing {metric} results for {len(missing)} table cell(s): " + "; ".join(missing))

    groups = []
    for b in backbones:
        rows: list[Row] = []
        base_scores: tuple[float, ...] = ()
        for m in row_methods:
            raw = [float(index[(b, m, str(d))]) for d in dirs]  # type: ignore[arg-type]
            scores = tuple(round(x, DECIMALS) for x in [*raw, sum(raw) / len(raw)])
            if m == BASE:
                base_scores, deltas = scores, None
            else:
                deltas = tuple(round(s - s0, DECIMALS) + 0.0 for s, s0 in zip(scores, base_scores))
            rows.append(Row(method=m, label=method_name(m), scores=scores, deltas=deltas))
        display = (backbone_names or {}).get(b, b)
        groups.append(Group(backbone=b, title=f"Backbone LLM: {display}", rows=tuple(rows)))

    return Table(
        title=title or _default_title(dirs, metric),
        header=("Models", *_column_labels(dirs), "Avg."),
        groups=tuple(groups),
        metric=metric,
    )


def _fmt(x: float) -> str:
    return f"{x:.{DECIMALS}f}"


def _cell(score: float, delta: float | None, up: str, down: str, same: str) -> str:
    if delta is None:
        return _fmt(score)
    arrow = up if delta > 0 else down if delta < 0 else same
    return f"{_fmt(score)} {arrow}{_fmt(abs(delta))}"


def _cells(row: Row, up: str = "↑", down: str = "↓", same: str = "±") -> list[str]:
    deltas = row.deltas or (None,) * len(row.scores)
    return [_cell(s, d, up, down, same) for s, d in zip(row.scores, deltas)]


def render_markdown(table: Table) -> str:
    def line(cells: Iterable[str]) -> str:
        return "| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |"

    blank = [""] * len(table.columns)
    out = [f"**{table.title}**", "", line(table.header), "|" + "---|" + "---:|" * len(table.columns)]
    for group in table.groups:
        out.append(line([f"*{group.title}*", *blank]))
        out.extend(line([row.label, *_cells(row)]) for row in group.rows)
    return "\n".join(out) + "\n"


def render_csv(table: Table) -> str:
    """One line per row; score and delta in separate columns (delta empty on the backbone row)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["metric", "backbone", "method", "model"]
    for col in table.columns:
        header += [col, f"{col} delta"]
    writer.writerow(header)
    for group in table.groups:
        for row in group.rows:
            deltas = row.deltas or (None,) * len(row.scores)
            values = [v for s, d in zip(row.scores, deltas) for v in (_fmt(s), "" if d is None else _fmt(d))]
            writer.writerow([table.metric, group.backbone, row.method, row.label, *values])
    return buf.getvalue()


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "→": r"$\rightarrow$",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def render_latex(table: Table) -> str:
    """A booktabs ``table``; the caption drops the "Table N:" prefix, which LaTeX numbers itself."""
    ncols = len(table.header)
    caption = re.sub(r"^Table \d+:\s*", "", table.title)
    out = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_latex_escape(caption)}}}",
        r"\begin{tabular}{l" + "r" * (ncols - 1) + "}",
        r"\toprule",
        " & ".join(_latex_escape(h) for h in table.header) + r" \\",
    ]
    for group in table.groups:
        group_title = rf"\multicolumn{{{ncols}}}{{c}}{{\textit{{{_latex_escape(group.title)}}}}} \\"
        out += [r"\midrule", group_title, r"\midrule"]
        for row in group.rows:
            cells = _cells(row, up=r"$\uparrow$", down=r"$\downarrow$", same=r"$\pm$")
            out.append(" & ".join([_latex_escape(row.label), *cells]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def write_table(table: Table, stem: Path) -> list[Path]:
    """Write ``stem.md``, ``stem.csv`` and ``stem.tex`` (each atomically); return their paths."""
    written = []
    for suffix, render in ((".md", render_markdown), (".csv", render_csv), (".tex", render_latex)):
        path = Path(f"{stem}{suffix}")  # not with_suffix: a stem may contain dots
        write_text(path, render(table))
        written.append(path)
    return written
