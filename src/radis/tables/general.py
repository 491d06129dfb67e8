"""Table 3 of the paper (instruction following, safety, reasoning) with relative performance (RP),
and the drift-from-backbone columns (not in the paper) that Tables 3 and 5 share."""

from __future__ import annotations

from radis.benchmarks import benchmark
from radis.seeds import per_item
from radis.stats import SAMPLES, SEED, Uncertainty
from radis.tables.model import (BASE, DECIMALS, NOT_SHOWN, PRIOR_GROUP, Group, Row, Table, _round, method_name,
                                uncertainty_notes)

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


def _seed_mean(resamples: dict) -> dict:
    """Resamples keyed ``(*cell, i)`` for a cell's i-th seed -> keyed by the cell: the mean over its seeds."""
    import numpy as np

    grouped: dict = {}
    for key, values in resamples.items():
        grouped.setdefault(key[:-1], []).append(values)
    return {key: np.mean(values, axis=0) for key, values in grouped.items()}
