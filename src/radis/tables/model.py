"""The table model and its renderings: a :class:`Table` of groups (one per backbone) of rows (one per
model), each cell a score with its delta, interval, paired test and spread across seeds, rendered
to Markdown (reading), CSV (machines) and LaTeX (paper), always from the same rounded numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from radis.io import write_text
from radis.layout import BASE
from radis.stats import ALPHA, SAMPLES, SEED, Uncertainty

#: the backbone's own row (radis.layout.BASE); a trained method's row is "w/ {label}" (radis.methods)
BASE_NAME = "Backbone LLM"
METRIC_NAMES: dict[str, str] = {"comet": "COMET", "chrf": "chrF", "bleu": "BLEU"}
# Scores and deltas are rounded once, when the table is built, so that every rendering shows the
# same numbers and each printed delta is exactly the difference of the two printed scores.
DECIMALS = 2
PRIOR_GROUP = "Prior LLM-based MT models"
#: a cell the paper leaves empty (a prior model not built for that direction or benchmark)
NOT_SHOWN = "-"


@dataclass(frozen=True)
class Row:
    method: str
    label: str
    #: one per column; a string is shown as is ("n/a: reason", "-") and has no delta
    scores: tuple[float | str, ...]
    #: to the reference row (Tables 1-2: the backbone; Table 3: Vanilla-FT); None for rows without one
    deltas: tuple[float | None, ...] | None
    #: the model, where it is not the group's (the prior-models group has one per row)
    backbone: str | None = None
    #: per column, whether the cell is the best of its group's compared rows (Table 5: bold)
    best: tuple[bool, ...] | None = None
    #: text shown beside a score in the Markdown and LaTeX tables ("" for none), e.g. how many
    #: judgements had no rating and are not in the mean (:func:`general_mark`)
    marks: tuple[str, ...] | None = None
    #: per column, the score's 95% interval and its delta's paired p-value (radis.stats), where
    #: the cells kept their per-item scores
    uncertainty: tuple[Uncertainty | None, ...] | None = None
    #: per column, the standard deviation of the score across the seeds of experiment.seeds (the
    #: score is their mean; radis.seeds), for rows trained once per seed
    seed_sd: tuple[float | None, ...] | None = None


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
    notes: tuple[str, ...] = ()
    #: decimals shown per column (``columns`` order); empty: DECIMALS everywhere
    decimals: tuple[int, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.header[1:]


def method_name(method: str) -> str:
    """The paper's name of a method's row: "w/ " and the label its module declares (radis.methods,
    for a method named after its builder), else its config name; a seed's chain (radis.seeds:
    ``radis@7``) says its seed."""
    from radis.methods import methods
    from radis.seeds import split_variant

    name, seed = split_variant(method)
    label = BASE_NAME if name == BASE else f"w/ {methods()[name].label or name}" if name in methods() else name
    return label + ("" if seed is None else f" (seed {seed})")


def uncertainty_notes(groups: list[Group], bootstrap: dict | None, reference: str | None,
                      missing_hint: str) -> tuple[str, ...]:
    """What ± and † mean in a table (``reference``: what deltas are to; None: no deltas), and how
    many scores have no interval and why."""
    bootstrap = bootstrap or {}
    rows = [row for g in groups for row in g.rows]
    numbers = sum(1 for row in rows for s in row.scores if not isinstance(s, str))
    with_interval = sum(1 for row in rows for u in (row.uncertainty or ()) if u is not None)
    if not with_interval:
        return (f"No intervals: the cells kept no per-item scores ({missing_hint}).",)
    notes = [f"±: half the 95% bootstrap interval over the test items ({bootstrap.get('samples', SAMPLES)} resamples, "
             f"seed {bootstrap.get('seed', SEED)})"
             + (f"; †: the delta to {reference} differs from zero at p < {ALPHA} (paired bootstrap over the same "
                "resamples, as sacrebleu's)." if reference else ".")]
    if with_interval < numbers:
        notes.append(f"{numbers - with_interval} score(s) without ± kept no per-item scores ({missing_hint}).")
    return tuple(notes)


def _fmt(x: float | str, decimals: int = DECIMALS) -> str:
    return x if isinstance(x, str) else f"{x:.{decimals}f}"


@dataclass(frozen=True)
class Style:
    """How a rendering writes a cell's arrows, bold, interval (``{}``: its half-width) and the mark
    of a delta that differs from zero (radis.stats)."""

    up: str = "↑"
    down: str = "↓"
    same: str = "="
    bold: str = "**{}**"
    spread: str = " ±{}"
    significant: str = "†"
    #: the standard deviation across seeds (radis.seeds)
    seed_spread: str = " sd {}"


LATEX = Style(up=r"$\uparrow$", down=r"$\downarrow$", same="=", bold=r"\textbf{{{}}}", spread=r"$_{{\pm {}}}$",
              significant=r"$^\dagger$", seed_spread=r" {{\scriptsize sd {}}}")


def _cell(score: float | str, delta: float | None, style: Style, decimals: int = DECIMALS,
          uncertainty: Uncertainty | None = None, seed_sd: float | None = None) -> str:
    if isinstance(score, str):
        return score
    text = _fmt(score, decimals)
    if uncertainty is not None:
        text += style.spread.format(_fmt(uncertainty.half_width, decimals))
    if seed_sd is not None:
        text += style.seed_spread.format(_fmt(seed_sd, decimals))
    if delta is None:
        return text
    arrow = style.up if delta > 0 else style.down if delta < 0 else style.same
    mark = style.significant if uncertainty is not None and uncertainty.significant else ""
    return f"{text} {arrow}{_fmt(abs(delta), decimals)}{mark}"


def _cells(row: Row, style: Style = Style(), decimals: tuple[int, ...] = ()) -> list[str]:
    n = len(row.scores)
    deltas = row.deltas or (None,) * n
    decimals = decimals or (DECIMALS,) * n
    marks = (*(row.marks or ()), *("",) * (n - len(row.marks or ())))
    best = (*(row.best or ()), *(False,) * (n - len(row.best or ())))
    spread = (*(row.uncertainty or ()), *(None,) * (n - len(row.uncertainty or ())))
    seed_sd = row.seed_sd or (None,) * n
    cells = (_cell(s, d, style, k, u, sd) + (f" ({m})" if m else "")
             for s, d, k, m, u, sd in zip(row.scores, deltas, decimals, marks, spread, seed_sd))
    return [style.bold.format(cell) if b else cell for cell, b in zip(cells, best)]


def render_markdown(table: Table) -> str:
    def line(cells: Iterable[str]) -> str:
        return "| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |"

    blank = [""] * len(table.columns)
    out = [f"**{table.title}**", "", line(table.header), "|" + "---|" + "---:|" * len(table.columns)]
    for group in table.groups:
        out.append(line([f"*{group.title}*", *blank]))
        out.extend(line([row.label, *_cells(row, decimals=table.decimals)]) for row in group.rows)
    if table.notes:
        out += ["", *(f"- {note}" for note in table.notes)]
    return "\n".join(out) + "\n"


def render_csv(table: Table) -> str:
    """One line per row; per column the score, its delta (empty on a reference row), its 95%
    interval, the delta's paired p-value and the score's standard deviation across seeds (empty
    where not computed)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["metric", "backbone", "method", "model"]
    for col in table.columns:
        header += [col, f"{col} delta", f"{col} low", f"{col} high", f"{col} p", f"{col} seed sd"]
    writer.writerow(header)
    for group in table.groups:
        for row in group.rows:
            n = len(row.scores)
            deltas = row.deltas or (None,) * n
            decimals = table.decimals or (DECIMALS,) * n
            spread = (*(row.uncertainty or ()), *(None,) * (n - len(row.uncertainty or ())))
            seed_sd = row.seed_sd or (None,) * n
            values = []
            for s, d, k, u, sd in zip(row.scores, deltas, decimals, spread, seed_sd):
                values += [_fmt(s, k), "" if d is None or isinstance(s, str) else _fmt(d, k)]
                values += ["", "", ""] if u is None else [
                    _fmt(u.low, k), _fmt(u.high, k), "" if u.p_value is None or d is None else f"{u.p_value:.4f}"]
                values.append("" if sd is None else _fmt(sd, k))
            writer.writerow([table.metric, row.backbone or group.backbone, row.method, row.label, *values])
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
            cells = _cells(row, LATEX, decimals=table.decimals)
            out.append(" & ".join([_latex_escape(row.label), *cells]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    out += [rf"\par\footnotesize {_latex_escape(note)}" for note in table.notes]
    out += [r"\end{table}"]
    return "\n".join(out) + "\n"


def write_table(table: Table, stem: Path) -> list[Path]:
    """Write ``stem.md``, ``stem.csv`` and ``stem.tex`` (each atomically); return their paths."""
    written = []
    for suffix, render in ((".md", render_markdown), (".csv", render_csv), (".tex", render_latex)):
        path = Path(f"{stem}{suffix}")  # not with_suffix: a stem may contain dots
        write_text(path, render(table))
        written.append(path)
    return written


def _round(x: float | str) -> float | str:
    return x if isinstance(x, str) else round(x, DECIMALS)
