"""Tables 1-2 of the paper (translation quality, EN→X and X→EN) built from per-cell result files.

Each cell of a table is one JSON file under ``results/eval/{backbone}/{method}/translation/``; this
module gathers them into the paper's layout: one block per backbone, its untouched "Backbone LLM"
row first, then one row per method with the delta to that row, one column per language plus the
average; the prior LLM-based MT models last (released models, evaluated as they are: no deltas).
A missing cell is an error, never a blank: a silently incomplete table is the worst kind of wrong
result.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from radis.io import InputError, read_json
from radis.languages import Direction, language_name
from radis.seeds import per_item
from radis.stats import SAMPLES, SEED, Uncertainty
from radis.tables.model import (BASE, DECIMALS, METRIC_NAMES, NOT_SHOWN, PRIOR_GROUP, Group, Row, Table, _round,
                                method_name, uncertainty_notes)

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
