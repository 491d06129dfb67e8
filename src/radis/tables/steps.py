"""The table and figure steps (``radis tables``, ``table3``, ``table5``, ``figure1``,
``drift-figure``): result files in, the rendered table or figure out; with several seeds, each
cell pooled over them (radis.seeds) and its spread across seeds read from one table per seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from radis.io import read_json, write_json, write_text
from radis.languages import Direction
from radis.seeds import one_seed, pool_seeds
from radis.settings import ReportStep
from radis.tables.figures import drift_figure, figure1
from radis.tables.general import general_table
from radis.tables.model import BASE, Table, write_table
from radis.tables.table5 import table5
from radis.tables.translation import choose_metric, load_translation_results, translation_table

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


def prior_models(settings: ReportStep) -> dict[str, dict]:
    """The prior MT models, in the order the rules listed them ([name, spec] pairs: the settings'
    JSON sorts a mapping's keys, and the paper prints them in its order)."""
    return dict(settings.prior)


def _drift(paths: list[str], settings: ReportStep) -> list[dict] | None:
    return [read_json(p) for p in paths] if settings.drift else None


def write_translation_tables(results: list[str], table1: str, table2: str, settings: ReportStep) -> None:
    """Tables 1 (EN→X) and 2 (X→EN); a grid without one side still gets a file saying so."""
    rows = load_translation_results([Path(p) for p in results])
    metric = choose_metric(rows)
    directions = [Direction.parse(d) for d in settings.directions]
    for stem, wanted in ((table1, lambda d: d.src == "en"), (table2, lambda d: d.tgt == "en")):
        chosen = [str(d) for d in directions if wanted(d)]
        if chosen:
            write_table(seeded(lambda translation: translation_table(
                translation, settings.backbones, [BASE, *settings.methods], chosen, metric,
                prior=prior_models(settings), bootstrap=settings.bootstrap),
                settings.seeds, translation=(rows, TRANSLATION_KEY)), Path(stem))
        else:
            for ext in ("md", "csv", "tex"):
                write_text(f"{stem}.{ext}", "n/a: no direction of this side in experiment.directions\n")


def write_table3(results: list[str], drift: list[str], out: str, settings: ReportStep) -> None:
    write_table(seeded(lambda general, drift: general_table(
        general, settings.backbones, [BASE, *settings.methods], settings.benchmarks,
        prior=prior_models(settings), drift=drift, bootstrap=settings.bootstrap),
        settings.seeds, general=([read_json(p) for p in results], GENERAL_KEY),
        drift=(_drift(drift, settings), DRIFT_KEY)), Path(out))


def write_table5(translation: list[str], general: list[str], drift: list[str], out: str, settings: ReportStep) -> None:
    rows = load_translation_results([Path(p) for p in translation])
    metric = choose_metric(rows)
    write_table(seeded(lambda translation, general, drift: table5(
        translation, general, settings.backbones, settings.methods, settings.generators,
        settings.benchmarks, metric, settings.backbone_names, drift=drift, bootstrap=settings.bootstrap),
        settings.seeds, translation=(rows, TRANSLATION_KEY),
        general=([read_json(p) for p in general], GENERAL_KEY), drift=(_drift(drift, settings), DRIFT_KEY)),
        Path(out))


def _pooled(records: list[dict], key: tuple, settings: ReportStep) -> list[dict]:
    """A figure's records with each method's seeds pooled (radis.seeds): one point per method."""
    seeds = settings.seeds
    return pool_seeds(records, key, seeds) if seeds and len(seeds) > 1 else records


def write_figure1(translation: list[str], mtbench: list[str], out: str, points: str, settings: ReportStep) -> None:
    rows = _pooled(load_translation_results([Path(p) for p in translation]), TRANSLATION_KEY, settings)
    write_json(points, figure1(rows, _pooled([read_json(p) for p in mtbench], GENERAL_KEY, settings), Path(out),
                               choose_metric(rows), prior=prior_models(settings)))


def write_drift_figure(translation: list[str], drift: list[str], out: str, points: str, settings: ReportStep) -> None:
    rows = _pooled(load_translation_results([Path(p) for p in translation]), TRANSLATION_KEY, settings)
    write_json(points, drift_figure(rows, _pooled([read_json(p) for p in drift], DRIFT_KEY, settings), Path(out),
                                    choose_metric(rows), bootstrap=settings.bootstrap))
