"""Table 5 of the paper: RaDis with rationales from other models."""

from __future__ import annotations

from dataclasses import replace

from radis.benchmarks import benchmark
from radis.languages import Direction
from radis.stats import Uncertainty
from radis.tables.general import (DRIFT_COLUMNS, DRIFT_DECIMALS, DRIFT_NOTE, _drift_uncertainty, drift_index,
                                  drift_resamples, general_mark, general_resamples, general_score)
from radis.tables.model import (BASE, DECIMALS, METRIC_NAMES, NOT_SHOWN, Group, Row, Table, _round, method_name,
                                uncertainty_notes)
from radis.tables.translation import translation_resamples

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
