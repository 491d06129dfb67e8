"""Tables 1-2 of the paper (translation quality, EN→X and X→EN) built from per-cell result files.

Each cell of a table is one JSON file under ``results/eval/{backbone}/{method}/translation/``; this
module gathers them into the paper's layout: one block per backbone, its untouched "Backbone LLM"
row first, then one row per method with the delta to that row, one column per language plus the
average; the prior LLM-based MT models last (released models, evaluated as they are: no deltas). A missing cell is an error, never a blank: a silently incomplete table is the worst kind
of wrong result. One :class:`Table` renders to Markdown (reading), CSV (machines) and LaTeX (paper).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from radis.benchmarks import benchmark
from radis.io import InputError, read_json, write_json, write_png, write_text
from radis.languages import Direction, language_name
from radis.seeds import one_seed, per_item, pool_seeds
from radis.stats import ALPHA, SAMPLES, SEED, Uncertainty

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


def translation_resamples(records: dict[tuple[str, str, str], dict], dirs: list[Direction], metric: str,
                           bootstrap: dict | None) -> dict[tuple[str, str, str], object]:
    """Each cell's ``metric`` on the same resamples of its direction's test items (radis.stats),
    where the cell kept its segments and they are of the direction's test set (its fingerprint)."""
    import collections

    import numpy as np

    from radis.stats import resample_indices, resampled_scores

    bootstrap = bootstrap or {}
    out: dict[tuple[str, str, str], object] = {}
    for column, d in enumerate(dirs):
        # one entry per seed (radis.seeds.per_item): a pooled cell is each seed's score on the same resamples, averaged
        cells = {k: views for k, r in records.items() if k[2] == str(d)
                 if (views := per_item(r, "segments")) and all(metric in v for v in views)}
        if not cells:
            continue
        items, _ = collections.Counter((v["items"], len(v[metric])) for views in cells.values()
                                       for v in views).most_common(1)[0]
        indices = resample_indices(items[1], bootstrap.get("samples", SAMPLES), bootstrap.get("seed", SEED) + column)
        for key, views in cells.items():
            if all((v["items"], len(v[metric])) == items for v in views):
                out[key] = np.mean([resampled_scores(metric, v[metric], indices) for v in views], axis=0)
    return out


def _seed_mean(resamples: dict) -> dict:
    """Resamples keyed ``(*cell, i)`` for a cell's i-th seed -> keyed by the cell: the mean over its seeds."""
    import numpy as np

    grouped: dict = {}
    for key, values in resamples.items():
        grouped.setdefault(key[:-1], []).append(values)
    return {key: np.mean(values, axis=0) for key, values in grouped.items()}


def _uncertainty(resamples: dict, keys: list, raw: list, reference: tuple[list, list] | None
                 ) -> tuple[Uncertainty | None, ...] | None:
    """Per column (then the average of the columns) the interval of a row's scores and, against
    ``reference`` (its keys and raw scores), the paired p-value of the delta; None where a cell has
    no resamples."""
    import numpy as np

    from radis.stats import interval, paired_p_value

    mine = [resamples.get(k) for k in keys]
    theirs = [resamples.get(k) for k in reference[0]] if reference else [None] * len(keys)
    columns = [*zip(mine, theirs)]
    if all(m is not None for m in mine):
        columns.append((np.mean(mine, axis=0), np.mean(theirs, axis=0) if all(t is not None for t in theirs) else None))
    else:
        columns.append((None, None))
    cells = []
    for i, (m, t) in enumerate(columns):
        if m is None or isinstance(raw[i], str):
            cells.append(None)
            continue
        low, high = interval(m)
        p = paired_p_value(m, t, raw[i] - reference[1][i]) if reference and t is not None else None
        cells.append(Uncertainty(low, high, p))
    return tuple(cells) if any(c is not None for c in cells) else None


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


def translation_table(
    results: list[dict],
    backbones: list[str],
    methods: list[str],
    directions: list[str],
    metric: str,
    *,
    title: str | None = None,
    backbone_names: dict[str, str] | None = None,
    prior: dict[str, dict] | None = None,
    bootstrap: dict | None = None,
) -> Table:
    """Lay out ``metric`` for ``backbones`` × (backbone row + ``methods``) × ``directions``.

    ``methods`` may include ``base`` or not: the backbone row always comes first, since every
    delta is measured against it. ``prior`` (name → ``{label, directions}``) adds the prior MT
    models as the last group, as in the paper; a direction outside a model's ``directions`` shows "-", and so does
    its average. Raises ``ValueError`` listing every missing cell. Each score gets its 95%
    bootstrap interval over the test items, and each delta its paired p-value (radis.stats;
    ``bootstrap``: ``{samples, seed}``), from the segments the cells kept.
    """
    if not directions:
        raise ValueError("a translation table needs at least one direction")
    dirs = [Direction.parse(d) for d in directions]
    index: dict[tuple[str, str, str], float | None] = {}
    records: dict[tuple[str, str, str], dict] = {}
    for r in results:
        key = (r["backbone"], r["method"], str(Direction.parse(r["direction"])))
        if key in index:
            raise ValueError(f"two results for backbone={key[0]} method={key[1]} direction={key[2]}")
        index[key], records[key] = r["metrics"].get(metric), r

    row_methods = [BASE] + [m for m in methods if m != BASE]
    prior = prior or {}
    shown = {p: [d for d in dirs if str(d) in spec.get("directions", map(str, dirs))] for p, spec in prior.items()}
    wanted = [(b, m, d) for b in backbones for m in row_methods for d in dirs]
    wanted += [(p, BASE, d) for p in prior for d in shown[p]]
    missing = [
        f"backbone={b} method={m} direction={d}" + ("" if (b, m, str(d)) not in index else f" (no {metric})")
        for b, m, d in wanted
        if index.get((b, m, str(d))) is None
    ]
    if missing:
        raise ValueError(f"missing {metric} results for {len(missing)} table cell(s): " + "; ".join(missing))

    resamples = translation_resamples(records, dirs, metric, bootstrap)
    groups = []
    for b in backbones:
        rows: list[Row] = []
        base_scores: tuple[float, ...] = ()
        base_raw: list[float] = []
        for m in row_methods:
            raw = [float(index[(b, m, str(d))]) for d in dirs]  # type: ignore[arg-type]
            raw.append(sum(raw) / len(raw))
            scores = tuple(round(x, DECIMALS) for x in raw)
            if m == BASE:
                base_scores, base_raw, deltas = scores, raw, None
            else:
                deltas = tuple(round(s - s0, DECIMALS) + 0.0 for s, s0 in zip(scores, base_scores))
            uncertainty = _uncertainty(resamples, [(b, m, str(d)) for d in dirs], raw,
                                       None if m == BASE else ([(b, BASE, str(d)) for d in dirs], base_raw))
            rows.append(Row(method=m, label=method_name(m), scores=scores, deltas=deltas, uncertainty=uncertainty))
        display = (backbone_names or {}).get(b, b)
        groups.append(Group(backbone=b, title=f"Backbone LLM: {display}", rows=tuple(rows)))
    if prior:
        rows = []
        for p, spec in prior.items():
            raw = [float(index[(p, BASE, str(d))]) if d in shown[p] else NOT_SHOWN for d in dirs]  # type: ignore[arg-type]
            numbers = [x for x in raw if not isinstance(x, str)]
            average = sum(numbers) / len(numbers) if len(numbers) == len(raw) else NOT_SHOWN
            uncertainty = _uncertainty(resamples, [(p, BASE, str(d)) for d in dirs], [*raw, average], None)
            rows.append(Row(method=BASE, label=spec.get("label", p), scores=tuple(_round(x) for x in [*raw, average]),
                            deltas=None, backbone=p, uncertainty=uncertainty))
        groups.append(Group(backbone="", title=PRIOR_GROUP, rows=tuple(rows)))

    notes = uncertainty_notes(groups, bootstrap, "the backbone", missing_hint="rerun score_translation")
    return Table(
        title=title or _default_title(dirs, metric),
        header=("Models", *_column_labels(dirs), "Avg."),
        groups=tuple(groups),
        metric=metric,
        notes=notes,
    )


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


# ---------------------------------------------------------------------------------------------
# Table 3: general ability (instruction following, safety, reasoning) and relative performance.

VANILLA = "vanilla"


def general_score(result: dict) -> float | str:
    """The headline number of one general-ability result file, or its "n/a: reason"."""
    value = result.get("metrics", {}).get(benchmark(result["benchmark"]).metric)
    if isinstance(value, (int, float)) and value == value:  # not NaN
        return float(value)
    return value if isinstance(value, str) and value.startswith("n/a") else f"n/a: no {result['benchmark']} score"


def general_mark(result: dict) -> str:
    """What a reader must know beside a judged score: how many judgements the judge gave no usable
    answer for, and why ("1 of 160 failed: refused (...)"; left out of a mean, not safe in a safe
    rate), and how many had no rating and are left out of its mean ("2 of 160 unrated"); "" when
    none, or when there is no score at all (its "n/a: ..." says why)."""
    metrics = result.get("metrics", {})
    if isinstance(general_score(result), str):
        return ""
    total = metrics.get("n_judgments", metrics.get("n", "?"))
    marks = []
    if metrics.get("n_failed"):
        marks.append(f"{metrics['n_failed']} of {total} failed: {metrics.get('failure', 'no reason given')}")
    failures = metrics.get("n_parse_failures") or 0
    if failures:
        marks.append(f"{failures} of {metrics.get('n_judgments', '?')} unrated")
    return "; ".join(marks)


def relative_performance(scores: list[float | str], base: list[float | str]) -> tuple[float | str, list[int]]:
    """RP (paper Table 3): the mean over benchmarks of method score ÷ backbone score, in percent.

    Benchmarks where either score is missing or the backbone scores 0 cannot form a ratio; they are
    left out and their indices returned so the table can say so. RP itself is "n/a" if none is left.
    """
    ratios, skipped = [], []
    for i, (s, b) in enumerate(zip(scores, base)):
        if isinstance(s, str) or isinstance(b, str) or b == 0:
            skipped.append(i)
        else:
            ratios.append(s / b)
    if not ratios:
        return "n/a: no benchmark with a non-zero backbone score", skipped
    return 100.0 * sum(ratios) / len(ratios), skipped


#: drift from backbone (radis.evaluate.drift; not in the paper): column -> key in a drift.json's metrics
DRIFT_COLUMNS: dict[str, str] = {"Drift KL": "kl", "Drift ΔNLL": "delta_nll"}
#: drift of a fine-tuned model is small: a third decimal keeps the methods apart
DRIFT_DECIMALS = 3
DRIFT_NOTE = ("Drift from backbone (not in the paper; no judge): along the backbone's own greedy answers to the "
              "general-ability prompts (MT-Bench first turns, AlpacaEval instructions, AdvBench behaviours), KL is "
              "the mean per-token KL(backbone ‖ model) of the next-token distributions and ΔNLL the model's NLL of "
              "those answers minus the backbone's, both in nats per token; 0 means unchanged, larger means further "
              "from the backbone.")


def drift_resamples(drift: list[dict] | None, bootstrap: dict | None) -> dict:
    """(backbone, method, drift column) -> its value on resamples of the answers (radis.stats): per
    answer its summed KL (or NLL change) over its tokens, so a resample's value is the token-weighted
    mean, as the drift itself; the answers pair across models by prompt set and id."""
    from radis.stats import item_scores, resampled_items

    bootstrap = bootstrap or {}
    out: dict = {}
    for column, (label, key) in enumerate(DRIFT_COLUMNS.items()):
        cells = {}
        for r in drift or []:
            for i, answers in enumerate(per_item(r, "per_answer")):  # one per seed (radis.seeds)
                rows = [a for a in answers if a["n_tokens"]]
                if rows:
                    num = [a["kl_sum"] if key == "kl" else a["nll_model_sum"] - a["nll_backbone_sum"] for a in rows]
                    cells[(r["backbone"], r["method"], label, i)] = item_scores(
                        [f"{a['set']}:{a['id']}" for a in rows], num, [a["n_tokens"] for a in rows])
        out.update(_seed_mean(resampled_items(cells, bootstrap.get("samples", SAMPLES),
                                              bootstrap.get("seed", SEED) + 100 + column)))
    return out


def _drift_uncertainty(resamples: dict, drift: list[dict] | None, b: str, m: str,
                       reference: str | None) -> list[Uncertainty | None]:
    """The drift columns' intervals and, against ``reference`` (a method of the same backbone), the
    paired p-values of their deltas."""
    from radis.stats import interval, paired_p_value

    raw = {(r["backbone"], r["method"]): r["metrics"] for r in drift or []}
    cells: list[Uncertainty | None] = []
    for label, key in DRIFT_COLUMNS.items():
        mine, value = resamples.get((b, m, label)), (raw.get((b, m)) or {}).get(key)
        if mine is None or not isinstance(value, (int, float)):
            cells.append(None)
            continue
        theirs = resamples.get((b, reference, label)) if reference else None
        other = (raw.get((b, reference)) or {}).get(key) if reference else None
        p = paired_p_value(mine, theirs, value - other) if theirs is not None and isinstance(other, (int, float)) else None
        cells.append(Uncertainty(*interval(mine), p))
    return cells


def drift_index(drift: list[dict]) -> dict[tuple[str, str], tuple[float | str, ...]]:
    """(backbone, method) -> the drift columns' values, rounded to DRIFT_DECIMALS (or "n/a: reason")."""
    index = {}
    for r in drift:
        values = [r["metrics"].get(key) for key in DRIFT_COLUMNS.values()]
        index[(r["backbone"], r["method"])] = tuple(
            round(v, DRIFT_DECIMALS) + 0.0 if isinstance(v, (int, float)) else "n/a: no answer tokens" for v in values)
    return index


def general_resamples(results: list[dict], benchmarks: list[str], bootstrap: dict | None) -> dict:
    """(backbone, method, benchmark) -> its score on the resamples of its benchmark's items, for the
    cells that kept them (radis.stats.resampled_items: paired item by item across models)."""
    from radis.stats import resampled_items

    bootstrap = bootstrap or {}
    out: dict = {}
    for column, k in enumerate(benchmarks):
        cells = {(r["backbone"], r["method"], k, i): items for r in results if r["benchmark"] == k
                 for i, items in enumerate(per_item(r, "items"))}  # one per seed (radis.seeds)
        out.update(_seed_mean(resampled_items(cells, bootstrap.get("samples", SAMPLES),
                                              bootstrap.get("seed", SEED) + column)))
    return out


def _general_uncertainty(resamples: dict, keys: list, raw: list, skipped_rp: list[int] | None,
                         reference: tuple[list, list] | None, rp_raw: float | str | None,
                         reference_rp: float | str | None) -> list[Uncertainty | None]:
    """Per benchmark the interval of a row's score and the paired p-value of its delta to
    ``reference`` (keys, raw scores); then RP's, from the same resamples of every benchmark in it
    (``skipped_rp``: None for a row without RP)."""
    import numpy as np

    from radis.stats import interval, paired_p_value

    cells: list[Uncertainty | None] = []
    for i, key in enumerate(keys):
        mine = resamples.get(key)
        theirs = resamples.get(reference[0][i]) if reference else None
        if mine is None or isinstance(raw[i], str):
            cells.append(None)
            continue
        p = (paired_p_value(mine, theirs, raw[i] - reference[1][i])
             if theirs is not None and not isinstance(reference[1][i], str) else None)
        cells.append(Uncertainty(*interval(mine), p))
    if skipped_rp is None or isinstance(rp_raw, str):
        return [*cells, None]
    used = [i for i in range(len(keys)) if i not in skipped_rp]
    base_keys = [(k[0], BASE, k[2]) for k in keys]

    def rp_of(row_keys: list) -> object:
        parts = [resamples.get(row_keys[i]) for i in used]
        bases = [resamples.get(base_keys[i]) for i in used]
        if not used or any(x is None for x in parts + bases):
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100.0 * np.mean([m / b for m, b in zip(parts, bases)], axis=0)

    mine = rp_of(keys)
    if mine is None:
        return [*cells, None]
    theirs = rp_of(reference[0]) if reference else None
    p = (paired_p_value(mine, theirs, rp_raw - reference_rp)
         if theirs is not None and not isinstance(reference_rp, str) else None)
    return [*cells, Uncertainty(*interval(mine), p)]


def general_table(results: list[dict], backbones: list[str], methods: list[str], benchmarks: list[str], *,
                  title: str = "Table 3: Instruction following, safety and reasoning",
                  backbone_names: dict[str, str] | None = None, prior: dict[str, dict] | None = None,
                  drift: list[dict] | None = None, bootstrap: dict | None = None) -> Table:
    """Table 3: one column per benchmark plus RP[%]; deltas to Vanilla-FT, as in the paper.

    ``prior`` (name → ``{label, benchmarks}``) adds the prior MT models last; RP is "-" for them
    (it is defined for fine-tuned backbones only), as is a benchmark outside their ``benchmarks``.
    ``drift`` (drift.json records) adds the "drift from backbone" columns after RP, one result per
    fine-tuned method; the backbone row (the reference) and prior models show "-".
    """
    index = {(r["backbone"], r["method"], r["benchmark"]): general_score(r) for r in results}
    marks = {(r["backbone"], r["method"], r["benchmark"]): general_mark(r) for r in results}
    drifts = drift_index(drift) if drift is not None else None
    extra = (NOT_SHOWN,) * len(DRIFT_COLUMNS) if drift is not None else ()
    row_methods = [BASE] + [m for m in methods if m != BASE]
    prior = prior or {}
    shown = {p: [k for k in benchmarks if k in spec.get("benchmarks", benchmarks)] for p, spec in prior.items()}
    wanted = [(b, m, k) for b in backbones for m in row_methods for k in benchmarks]
    wanted += [(p, BASE, k) for p in prior for k in shown[p]]
    missing = [f"backbone={b} method={m} benchmark={k}" for b, m, k in wanted if (b, m, k) not in index]
    if drifts is not None:
        missing += [f"backbone={b} method={m} drift" for b in backbones for m in row_methods
                    if m != BASE and (b, m) not in drifts]
    if missing:
        raise ValueError(f"missing results for {len(missing)} Table 3 cell(s): " + "; ".join(missing))
    decimals = (DECIMALS,) * (len(benchmarks) + 1) + (DRIFT_DECIMALS,) * len(extra)
    resamples = {**general_resamples(results, benchmarks, bootstrap), **drift_resamples(drift, bootstrap)}
    groups, skipped_any = [], set()
    for b in backbones:
        base = [index[(b, BASE, k)] for k in benchmarks]
        rows, reference, reference_raw = [], None, None
        for m in row_methods:
            raw = [index[(b, m, k)] for k in benchmarks]
            scores = [_round(x) for x in raw]
            skipped = None
            if m == BASE:
                rp: float | str = "-"
                rp_raw: float | str = "-"
            else:
                rp_raw, skipped = relative_performance(scores, base)
                skipped_any.update(benchmarks[i] for i in skipped)
                rp = _round(rp_raw)
            full = (*scores, rp, *(extra if m == BASE or drifts is None else drifts[(b, m)]))
            deltas = None
            has_reference = m not in (BASE, VANILLA) and reference is not None
            if has_reference:
                deltas = tuple(None if isinstance(s, str) or isinstance(r, str) else round(s - r, n) + 0.0
                               for s, r, n in zip(full, reference, decimals))
            keys = [(b, m, k) for k in benchmarks]
            uncertainty = _general_uncertainty(
                resamples, keys, raw, skipped,
                ([(b, VANILLA, k) for k in benchmarks], reference_raw[0]) if has_reference else None,
                rp_raw, reference_raw[1] if has_reference else None)
            if drifts is not None:
                uncertainty += ([None] * len(DRIFT_COLUMNS) if m == BASE else
                                _drift_uncertainty(resamples, drift, b, m, VANILLA if has_reference else None))
            if m == VANILLA:
                reference, reference_raw = full, (raw, rp_raw)
            rows.append(Row(method=m, label=method_name(m), scores=full, deltas=deltas,
                            marks=(*(marks[(b, m, k)] for k in benchmarks), ""),
                            uncertainty=tuple(uncertainty) if any(uncertainty) else None))
        display = (backbone_names or {}).get(b, b)
        groups.append(Group(backbone=b, title=f"Backbone LLM: {display}", rows=tuple(rows)))
    if prior:
        rows = []
        for p, spec in prior.items():
            raw = [index[(p, BASE, k)] if k in shown[p] else NOT_SHOWN for k in benchmarks]
            uncertainty = _general_uncertainty(resamples, [(p, BASE, k) for k in benchmarks], raw, None, None,
                                               None, None)
            rows.append(Row(method=BASE, label=spec.get("label", p), backbone=p, deltas=None,
                            scores=(*(_round(x) for x in raw), NOT_SHOWN, *extra),
                            marks=(*(marks.get((p, BASE, k), "") for k in benchmarks), ""),
                            uncertainty=tuple(uncertainty) if any(uncertainty) else None))
        groups.append(Group(backbone="", title=PRIOR_GROUP, rows=tuple(rows)))
    notes = ["RP: relative performance, the mean over benchmarks of method ÷ backbone (in %); deltas are to "
             "Vanilla-FT.",
             *uncertainty_notes(groups, bootstrap, "Vanilla-FT", missing_hint="judged or scored before per-item "
                                "scores were kept: rerun judge_general or gsm8k")]
    if skipped_any:
        notes.append("RP leaves out " + ", ".join(benchmark(k).column for k in benchmarks if k in skipped_any)
                     + " where the backbone scores 0 or a score is n/a.")
    if drift is not None:
        notes.append(DRIFT_NOTE)
    header = ("Models", *(benchmark(k).column for k in benchmarks), "RP[%]", *(DRIFT_COLUMNS if extra else ()))
    return Table(title=title, header=header, groups=tuple(groups), metric="general", notes=tuple(notes),
                 decimals=decimals)


def _round(x: float | str) -> float | str:
    return x if isinstance(x, str) else round(x, DECIMALS)


def figure1(translation: list[dict], general: list[dict], path: Path, metric: str,
            prior: dict[str, dict] | None = None) -> list[dict]:
    """Figure 1: average translation score against MT-Bench, one point per backbone × method (PNG);
    the prior MT models (``prior``: name → ``{label}``) form one group of their own.

    Returns the plotted points so the caller can record them beside the figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sums: dict[tuple[str, str], list[float]] = {}
    for r in translation:
        value = r["metrics"].get(metric)
        if value is not None:
            sums.setdefault((r["backbone"], r["method"]), []).append(float(value))
    mt = {(r["backbone"], r["method"]): general_score(r) for r in general if r["benchmark"] == "mtbench"}
    prior = prior or {}
    points = [{"backbone": b, "method": m, "translation": sum(v) / len(v), "mtbench": mt.get((b, m), "n/a: no result"),
               "group": PRIOR_GROUP if b in prior else b,
               "label": prior[b].get("label", b) if b in prior else method_name(m).removeprefix("w/ ")}
              for (b, m), v in sorted(sums.items())]
    plotted = [p for p in points if isinstance(p["mtbench"], float)]
    fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=150)
    markers = "osD^v<>p*h"
    groups = sorted({p["group"] for p in plotted})
    for i, g in enumerate(groups):
        mine = [p for p in plotted if p["group"] == g]
        ax.scatter([p["translation"] for p in mine], [p["mtbench"] for p in mine], marker=markers[i % len(markers)],
                   label=g, s=40)
        for p in mine:
            ax.annotate(p["label"], (p["translation"], p["mtbench"]), textcoords="offset points", xytext=(4, 4),
                        fontsize=7)
    missing = [p for p in points if not isinstance(p["mtbench"], float)]
    if missing:  # say which models could not be placed, and why, instead of dropping them silently
        lines = [f"{p['label'] if p['group'] == PRIOR_GROUP else p['backbone'] + ' ' + method_name(p['method'])}: "
                 f"MT-Bench {p['mtbench']}" for p in missing[:6]]
        if len(missing) > 6:
            lines.append(f"... and {len(missing) - 6} more")
        ax.text(0.02, 0.98, "\n".join(lines), transform=ax.transAxes, va="top", fontsize=5, wrap=True)
    _finish_figure(fig, ax, path, legend=bool(groups), title="Translation vs general ability",
                   xlabel=f"Average translation {METRIC_NAMES.get(metric, metric)} (8 directions)"
                   if len({r['direction'] for r in translation}) == 8 else
                   f"Average translation {METRIC_NAMES.get(metric, metric)}", ylabel="MT-Bench score")
    return points


def _finish_figure(fig, ax, path: Path, *, xlabel: str, ylabel: str, title: str, legend: bool) -> None:
    """Labels, grid and legend as every scatter figure of the report has them; written atomically."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=7)
    fig.tight_layout()
    write_png(path, fig)


def drift_figure(translation: list[dict], drift: list[dict], path: Path, metric: str,
                 bootstrap: dict | None = None) -> list[dict]:
    """Translation gain against drift from backbone (not in the paper), one point per backbone ×
    trained method (PNG): the paper's claim read without any judge. The gain is the mean change of
    ``metric`` to the backbone's own score over the directions of the run (the deltas of Tables
    1-2); the drift is the mean per-token KL(backbone ‖ model) of Tables 3 and 5. RaDis should sit
    as high as Vanilla-FT (it learns translation) and further left (it forgets less). Each point
    has its 95% bootstrap intervals as error bars, where the cells kept per-item scores: the gain's
    over the test items (paired with the backbone's, as the tables' deltas), the drift's over the
    answers.

    Returns the points (with ΔNLL and the intervals too) so the caller can record them beside the
    figure; a model whose drift has no answer tokens is listed on the plot instead of being placed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores: dict[tuple[str, str], dict[str, float]] = {}
    for r in translation:
        value = r["metrics"].get(metric)
        if value is not None:
            scores.setdefault((r["backbone"], r["method"]), {})[r["direction"]] = float(value)
    drifts = {(r["backbone"], r["method"]): r["metrics"] for r in drift}
    points = []
    for (b, m), metrics in sorted(drifts.items()):
        base, own = scores.get((b, BASE), {}), scores.get((b, m), {})
        directions = sorted(set(own) & set(base))
        if not directions:
            raise InputError(f"drift figure: no {metric} result of both backbone={b} method={m} and its backbone "
                             f"in any direction (have {sorted(own)} and {sorted(base)})")
        kl, dnll = (metrics.get(key) for key in DRIFT_COLUMNS.values())
        points.append({"backbone": b, "method": m, "label": method_name(m).removeprefix("w/ "),
                       "gain": round(sum(own[d] - base[d] for d in directions) / len(directions), DECIMALS) + 0.0,
                       "directions": directions,
                       "drift_kl": round(kl, DRIFT_DECIMALS) + 0.0 if isinstance(kl, (int, float)) else "n/a: no answer tokens",
                       "drift_delta_nll": round(dnll, DRIFT_DECIMALS) + 0.0 if isinstance(dnll, (int, float)) else None})
    _figure_intervals(points, translation, drift, metric, bootstrap)
    plotted = [p for p in points if isinstance(p["drift_kl"], float)]
    fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=150)
    markers = "osD^v<>p*h"
    for i, b in enumerate(sorted({p["backbone"] for p in plotted})):
        mine = [p for p in plotted if p["backbone"] == b]
        ax.scatter([p["drift_kl"] for p in mine], [p["gain"] for p in mine], marker=markers[i % len(markers)], label=b,
                   s=40)
        for p in mine:  # error bars where the cells kept per-item scores
            xerr = [[p["drift_kl"] - p["drift_kl_interval"][0]], [p["drift_kl_interval"][1] - p["drift_kl"]]] \
                if p.get("drift_kl_interval") else None
            yerr = [[p["gain"] - p["gain_interval"][0]], [p["gain_interval"][1] - p["gain"]]] \
                if p.get("gain_interval") else None
            if xerr or yerr:
                ax.errorbar([p["drift_kl"]], [p["gain"]], xerr=xerr, yerr=yerr, fmt="none", ecolor="grey", lw=0.8,
                            capsize=2)
        for p in mine:
            ax.annotate(p["label"], (p["drift_kl"], p["gain"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    missing = [f"{p['backbone']} {p['label']}: drift {p['drift_kl']}" for p in points if p not in plotted]
    if missing:
        ax.text(0.02, 0.98, "\n".join(missing), transform=ax.transAxes, va="top", fontsize=5)
    ax.axhline(0, color="grey", lw=0.8)
    _finish_figure(fig, ax, path, legend=bool(plotted), title="Translation gain vs drift (not in the paper)",
                   xlabel="Drift from backbone: KL(backbone ‖ model), nats/token",
                   ylabel=f"Translation gain over the backbone ({METRIC_NAMES.get(metric, metric)})")
    return points


def _figure_intervals(points: list[dict], translation: list[dict], drift: list[dict], metric: str,
                      bootstrap: dict | None) -> None:
    """Add to each drift-figure point the 95% intervals of its gain (the mean over its directions of
    the model's resampled score minus the backbone's on the same resamples) and of its drift KL."""
    import numpy as np

    from radis.stats import interval

    records = {(r["backbone"], r["method"], str(Direction.parse(r["direction"]))): r for r in translation}
    dirs = sorted({Direction.parse(r["direction"]) for r in translation}, key=str)
    resamples = {**translation_resamples(records, dirs, metric, bootstrap), **drift_resamples(drift, bootstrap)}
    for p in points:
        b, m = p["backbone"], p["method"]
        gains = [(resamples.get((b, m, d)), resamples.get((b, BASE, d))) for d in p["directions"]]
        if all(own is not None and base is not None for own, base in gains):
            low, high = interval(np.mean([own - base for own, base in gains], axis=0))
            p["gain_interval"] = [round(low, DECIMALS) + 0.0, round(high, DECIMALS) + 0.0]
        kl = resamples.get((b, m, "Drift KL"))
        if kl is not None and isinstance(p["drift_kl"], float):
            p["drift_kl_interval"] = [round(x, DRIFT_DECIMALS) + 0.0 for x in interval(kl)]


# ---------------------------------------------------------------------------------------------
# Table 5: RaDis with rationales from other models.


def generator_label(method: str, generator: dict | None, backbone_names: dict[str, str] | None = None) -> str:
    """A Table 5 row's name as the paper's: "w/ RaDis (Self-generated)", "w/ RaDis (LLaMA-3-70B-Instruct)"
    (the generator backbone's display name, its catalogue ``label``)."""
    if generator is None:
        return method_name(method) + (" (Self-generated)" if method == "radis" else "")
    if generator.get("backbone"):
        source = (backbone_names or {}).get(generator["backbone"], generator["backbone"])
    else:
        source = f"{method_name(generator['method']).removeprefix('w/ ')} model"
    return f"w/ RaDis ({source})"


def table5(translation: list[dict], general: list[dict], backbones: list[str], methods: dict[str, list[str]],
           generators: dict[str, dict], benchmarks: list[str], metric: str,
           backbone_names: dict[str, str] | None = None, drift: list[dict] | None = None,
           bootstrap: dict | None = None) -> Table:
    """Average X→EN and EN→X translation plus the general benchmarks, per method of each backbone.

    As in the paper: the backbone's own row first, then ``methods[b]``; in every translation and
    benchmark column the best of the RaDis variants (self-generated and every external generator's)
    is marked best (bold). ``drift`` (drift.json records) adds the "drift from backbone" columns
    (one result per trained method; "-" on the backbone's row), which are not bolded.
    """
    drifts = drift_index(drift) if drift is not None else None
    tr: dict[tuple[str, str, str], list[float]] = {}
    for r in translation:
        d = Direction.parse(r["direction"])
        side = "X→EN" if d.tgt == "en" else "EN→X"
        value = r["metrics"].get(metric)
        if value is not None:
            tr.setdefault((r["backbone"], r["method"], side), []).append(float(value))
    gen = {(r["backbone"], r["method"], r["benchmark"]): general_score(r) for r in general}
    marks = {(r["backbone"], r["method"], r["benchmark"]): general_mark(r) for r in general}
    records = {(r["backbone"], r["method"], str(Direction.parse(r["direction"]))): r for r in translation}
    directions = sorted({Direction.parse(r["direction"]) for r in translation}, key=str)
    resamples = {**translation_resamples(records, directions, metric, bootstrap),
                 **general_resamples(general, benchmarks, bootstrap), **drift_resamples(drift, bootstrap)}
    sides = {side: [str(d) for d in directions if (d.tgt == "en") == (side == "X→EN")] for side in ("X→EN", "EN→X")}
    groups = []
    for b in backbones:
        display = (backbone_names or {}).get(b, b)
        rows = []
        for m in [BASE, *(m for m in methods[b] if m != BASE)]:
            scores: list[float | str] = []
            for side in ("X→EN", "EN→X"):
                values = tr.get((b, m, side))
                scores.append(round(sum(values) / len(values), DECIMALS) if values else f"n/a: no {side} result")
            for k in benchmarks:
                if (b, m, k) not in gen:
                    raise ValueError(f"missing result for Table 5 cell backbone={b} method={m} benchmark={k}")
                scores.append(_round(gen[(b, m, k)]))
            if drifts is not None:
                if m == BASE:
                    scores += [NOT_SHOWN] * len(DRIFT_COLUMNS)
                elif (b, m) not in drifts:
                    raise ValueError(f"missing drift result for Table 5 cell backbone={b} method={m}")
                else:
                    scores += drifts[(b, m)]
            label = display if m == BASE else generator_label(m, generators.get(m), backbone_names)
            uncertainty = _table5_uncertainty(resamples, b, m, sides, benchmarks, scores)
            if drifts is not None and m != BASE:
                spread = _drift_uncertainty(resamples, drift, b, m, None)
                uncertainty = (*(uncertainty or (None,) * (2 + len(benchmarks))), *spread) if any(spread) else uncertainty
            rows.append(Row(method=m, label=label, scores=tuple(scores), deltas=None,
                            marks=("", "", *(marks[(b, m, k)] for k in benchmarks)),
                            uncertainty=uncertainty))
        compared = 2 + len(benchmarks)  # translation and benchmark columns; drift is not a score to maximise
        variants = [i for i, row in enumerate(rows) if row.method == "radis" or row.method in generators]
        top = [max((rows[i].scores[c] for i in variants if not isinstance(rows[i].scores[c], str)), default=None)
               for c in range(compared)]
        rows = [replace(row, best=tuple(s == t for s, t in zip(row.scores, top))) if i in variants else row
                for i, row in enumerate(rows)]
        groups.append(Group(backbone=b, title=f"Backbone LLM: {display}", rows=tuple(rows)))
    header = ("Models", "X→EN", "EN→X", *(benchmark(k).column for k in benchmarks),
              *(DRIFT_COLUMNS if drifts is not None else ()))
    extra = len(DRIFT_COLUMNS) if drifts is not None else 0
    notes = (*uncertainty_notes(groups, bootstrap, None, missing_hint="rerun their scoring or judging"),
             *((DRIFT_NOTE,) if extra else ()))
    return Table(title=f"Table 5: RaDis with rationales from other models (translation: {METRIC_NAMES.get(metric, metric)}; "
                       "bold: the best RaDis variant)",
                 header=header, groups=tuple(groups), metric=metric, notes=notes,
                 decimals=(DECIMALS,) * (len(header) - 1 - extra) + (DRIFT_DECIMALS,) * extra)


def _table5_uncertainty(resamples: dict, b: str, m: str, sides: dict[str, list[str]], benchmarks: list[str],
                        scores: list) -> tuple[Uncertainty | None, ...] | None:
    """Table 5's intervals: each side's average over its directions, resampled direction by
    direction, then each benchmark's (no deltas: the table compares variants by bold)."""
    import numpy as np

    from radis.stats import interval

    columns = []
    for side, dirs in sides.items():
        parts = [resamples.get((b, m, d)) for d in dirs]
        columns.append(np.mean(parts, axis=0) if dirs and all(x is not None for x in parts) else None)
    columns += [resamples.get((b, m, k)) for k in benchmarks]
    cells = tuple(None if r is None or isinstance(score, str) else Uncertainty(*interval(r))
                  for r, score in zip(columns, scores))
    return cells if any(cells) else None


# ---------------------------------------------------------------------------------------------
# The table and figure steps (radis tables, table3, table5, figure1, drift-figure): result files in,
# the rendered table or figure out.

def with_seed_spread(table: Table, each: list[Table], seeds: list[int]) -> Table:
    """``table`` (built from the seeds' pooled results) with each trained row's standard deviation
    across seeds, read from ``each`` (the same table built from one seed's results, one per seed)."""
    import statistics

    groups = []
    for g, group in enumerate(table.groups):
        rows = []
        for r, row in enumerate(group.rows):
            per_seed = [t.groups[g].rows[r].scores for t in each]
            sd = tuple(None if row.method == BASE or any(isinstance(v[c], str) for v in per_seed)
                       else statistics.stdev(v[c] for v in per_seed) for c in range(len(row.scores)))
            rows.append(replace(row, seed_sd=sd if any(x is not None for x in sd) else None))
        groups.append(replace(group, rows=tuple(rows)))
    note = (f"Trained rows: the mean over {len(seeds)} seeds ({', '.join(map(str, seeds))}: experiment.seeds), each "
            "its own synthesis (where it samples), training and evaluation; ± resamples the test items jointly for "
            "every seed; sd: the standard deviation of the score across the seeds.")
    return replace(table, groups=tuple(groups), notes=(*table.notes, note))


#: what identifies a cell besides backbone and method, per kind of result file (radis.seeds.pool_seeds)
TRANSLATION_KEY, GENERAL_KEY, DRIFT_KEY = ("direction",), ("benchmark",), ()


def seeded(build: Callable[..., Table], seeds: list[int] | None, **results: tuple[list[dict] | None, tuple]) -> Table:
    """``build(**records)`` for the seeds of experiment.seeds: on one seed, the records as they are;
    on several, on each cell's mean over seeds (radis.seeds.pool_seeds: one interval over the same
    resamples of every seed) with its standard deviation across seeds (built once per seed)."""
    if not seeds or len(seeds) == 1:
        return build(**{name: records for name, (records, _) in results.items()})
    table = build(**{name: None if records is None else pool_seeds(records, key, seeds)
                     for name, (records, key) in results.items()})
    each = [build(**{name: None if records is None else one_seed(records, s, seeds)
                     for name, (records, _) in results.items()}) for s in seeds]
    return with_seed_spread(table, each, seeds)


def prior_models(settings: dict | None) -> dict[str, dict] | None:
    """The prior MT models, in the order the rules listed them ([name, spec] pairs: the settings'
    JSON sorts a mapping's keys, and the paper prints them in its order)."""
    return dict(settings.get("prior") or []) if settings is not None else None


def _drift(paths: list[str], settings: dict) -> list[dict] | None:
    return [read_json(p) for p in paths] if settings.get("drift") else None


def write_translation_tables(results: list[str], table1: str, table2: str, settings: dict) -> None:
    """Tables 1 (EN→X) and 2 (X→EN); a grid without one side still gets a file saying so."""
    rows = load_translation_results([Path(p) for p in results])
    metric = choose_metric(rows)
    directions = [Direction.parse(d) for d in settings["directions"]]
    for stem, wanted in ((table1, lambda d: d.src == "en"), (table2, lambda d: d.tgt == "en")):
        chosen = [str(d) for d in directions if wanted(d)]
        if chosen:
            write_table(seeded(lambda translation: translation_table(
                translation, settings["backbones"], ["base", *settings["methods"]], chosen, metric,
                prior=prior_models(settings), bootstrap=settings.get("bootstrap")),
                settings.get("seeds"), translation=(rows, TRANSLATION_KEY)), Path(stem))
        else:
            for ext in ("md", "csv", "tex"):
                write_text(f"{stem}.{ext}", "n/a: no direction of this side in experiment.directions\n")


def write_table3(results: list[str], drift: list[str], out: str, settings: dict) -> None:
    write_table(seeded(lambda general, drift: general_table(
        general, settings["backbones"], ["base", *settings["methods"]], settings["benchmarks"],
        prior=prior_models(settings), drift=drift, bootstrap=settings.get("bootstrap")),
        settings.get("seeds"), general=([read_json(p) for p in results], GENERAL_KEY),
        drift=(_drift(drift, settings), DRIFT_KEY)), Path(out))


def write_table5(translation: list[str], general: list[str], drift: list[str], out: str, settings: dict) -> None:
    rows = load_translation_results([Path(p) for p in translation])
    metric = choose_metric(rows)
    write_table(seeded(lambda translation, general, drift: table5(
        translation, general, settings["backbones"], settings["methods"], settings["generators"],
        settings["benchmarks"], metric, settings.get("backbone_names"), drift=drift,
        bootstrap=settings.get("bootstrap")),
        settings.get("seeds"), translation=(rows, TRANSLATION_KEY),
        general=([read_json(p) for p in general], GENERAL_KEY), drift=(_drift(drift, settings), DRIFT_KEY)),
        Path(out))


def _pooled(records: list[dict], key: tuple, settings: dict | None) -> list[dict]:
    """A figure's records with each method's seeds pooled (radis.seeds): one point per method."""
    seeds = (settings or {}).get("seeds")
    return pool_seeds(records, key, seeds) if seeds and len(seeds) > 1 else records


def write_figure1(translation: list[str], mtbench: list[str], out: str, points: str, settings: dict | None) -> None:
    rows = _pooled(load_translation_results([Path(p) for p in translation]), TRANSLATION_KEY, settings)
    write_json(points, figure1(rows, _pooled([read_json(p) for p in mtbench], GENERAL_KEY, settings), Path(out),
                               choose_metric(rows), prior=prior_models(settings)))


def write_drift_figure(translation: list[str], drift: list[str], out: str, points: str, settings: dict | None) -> None:
    rows = _pooled(load_translation_results([Path(p) for p in translation]), TRANSLATION_KEY, settings)
    write_json(points, drift_figure(rows, _pooled([read_json(p) for p in drift], DRIFT_KEY, settings), Path(out),
                                    choose_metric(rows), bootstrap=(settings or {}).get("bootstrap")))
