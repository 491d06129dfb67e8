"""Table cells → the one file the DAG writes for each, and the command that rebuilds it.

A researcher asks for "Mistral + RaDis, EN→CS COMET"; this module answers with
``results/eval/mistral-7b-instruct-v0.2/radis/translation/en-cs.json`` and the Snakemake command
that rebuilds exactly that file (and whatever it needs that is missing or stale), nothing else.
"""

from __future__ import annotations

import shlex

from radis.benchmarks import benchmarks
from radis.grid import Grid
from radis.languages import LANGUAGES, Direction, language_name
from radis.layout import BASE, DRIFT_RESULT, GENERAL_RESULT, TABLE4_RESULT, TRANSLATION_RESULT
from radis.tables import DRIFT_COLUMNS


def _language(column: str) -> str:
    wanted = column.strip().lower()
    for code, name in LANGUAGES.items():
        if wanted in (code, name.lower()):
            return code
    raise ValueError(f"unknown language column {column!r}")


def _translation_file(backbone: str, method: str, direction: Direction) -> str:
    return TRANSLATION_RESULT.format(backbone=backbone, method=method, direction=direction)


def _general_file(backbone: str, method: str, column: str, run: list[str]) -> str:
    """The result file of a Table 3 / Table 5 column of a benchmark of the run (``run``:
    general.benchmarks) or of a drift column."""
    if column.strip().lower() in {c.lower() for c in DRIFT_COLUMNS}:  # Tables 3 and 5: drift from backbone
        if method == BASE:
            raise ValueError("the backbone row is the reference of the drift columns: they have no result file")
        return DRIFT_RESULT.format(backbone=backbone, method=method)
    wanted = column.strip().lower()
    for name in run:  # a Table 3 / Table 5 column or the benchmark's name
        if wanted in (name, benchmarks()[name].column.lower()):
            return GENERAL_RESULT.format(backbone=backbone, method=method, benchmark=name)
    raise ValueError(f"unknown general-ability column {column!r} (this run's, general.benchmarks: "
                     + ", ".join(benchmarks()[name].column for name in run) + ")")


def check_model(grid: Grid, backbone: str, method: str) -> None:
    """Refuse a cell of a model the run does not evaluate, naming the ones it does."""
    from radis.seeds import method_of

    models = {(b, method_of(m)) for b, m in grid.models()}
    if (backbone, method) in models:
        return
    theirs = sorted({m for b, m in models if b == backbone})
    if not theirs:
        raise ValueError(f"backbone {backbone!r} is not in this run (experiment.backbones and prior_models: "
                         + ", ".join(sorted({b for b, _ in models})) + ")")
    raise ValueError(f"{backbone} has no model {method!r} in this run (its models: {', '.join(theirs)})")


def cell_targets(table: int, backbone: str, method: str, column: str, grid: Grid) -> list[str]:
    """The result files behind one cell of the run's ``grid``. ``Avg.`` (and Table 5's X→EN /
    EN→X) cells are averages, so they name every per-direction file; RP names every benchmark's
    file of the model and of its backbone; every other cell is exactly one file (Table 4: a
    category's occurrence, in the backbone's rationale-categories file)."""
    directions = grid.directions
    dirs = [Direction.parse(d) for d in directions]
    if table in (1, 2):
        side = [d for d in dirs if (d.src == "en") == (table == 1)]
        if column.strip().lower() in ("avg", "avg."):
            return [_translation_file(backbone, method, d) for d in side]
        code = _language(column)
        direction = Direction("en", code) if table == 1 else Direction(code, "en")
        if direction not in side:
            raise ValueError(f"{direction} is not in experiment.directions ({', '.join(directions)})")
        return [_translation_file(backbone, method, direction)]
    if table == 3:
        if column.strip().lower() in ("rp", "rp[%]"):
            return [_general_file(backbone, m, name, grid.benchmarks) for m in (BASE, method)
                    for name in grid.benchmarks]
        return [_general_file(backbone, method, column, grid.benchmarks)]
    if table == 5:
        key = column.strip().lower().replace(" ", "")
        if key in ("x→en", "x->en", "xen"):
            return [_translation_file(backbone, method, d) for d in dirs if d.tgt == "en"]
        if key in ("en→x", "en->x", "enx"):
            return [_translation_file(backbone, method, d) for d in dirs if d.src == "en"]
        return [_general_file(backbone, method, column, grid.benchmarks)]
    if table == 4:
        return [_table4_file(backbone, method, column)]
    raise ValueError(f"table {table}: cells of Tables 1-5 map to result files")


def _table4_file(backbone: str, method: str, column: str) -> str:
    """Table 4 is per backbone (its self-generated rationales, the ones RaDis trains on): every
    category row is one count in the backbone's rationale-categories file."""
    from radis.analysis.rationales import CATEGORIES

    if method not in ("radis", "-"):
        raise ValueError(f"Table 4 classifies {backbone}'s self-generated rationales: give method 'radis' "
                         f"(or '-'), not {method!r}")
    wanted = column.strip().lower()
    if not any(wanted in (c.key.lower(), c.name.lower()) for c in CATEGORIES):
        raise ValueError(f"unknown Table 4 category {column!r} (known: " + ", ".join(c.name for c in CATEGORIES) + ")")
    return TABLE4_RESULT.format(backbone=backbone)


def snakemake_command(targets: list[str], profile: str = "profiles/local", configfiles: list[str] | None = None,
                      force: bool = False) -> list[str]:
    """The command that (re)builds exactly these files; ``force`` recomputes them even if up to date."""
    cmd = ["snakemake", "--profile", profile, *targets]
    if configfiles:
        cmd += ["--configfile", *configfiles]
    if force:
        cmd += ["--forcerun", *targets]
    return cmd


def describe(table: int, backbone: str, method: str, column: str) -> str:
    if table in (1, 2):
        try:
            code = _language(column)
            arrow = f"EN→{code.upper()}" if table == 1 else f"{code.upper()}→EN"
            return f"Table {table}, {backbone} + {method}, {arrow} ({language_name(code)})"
        except ValueError:
            pass
    return f"Table {table}, {backbone} + {method}, {column}"


def format_command(cmd: list[str]) -> str:
    return shlex.join(cmd)


def seed_variants(method: str, seed: int | None, seeds: list[int]) -> list[str]:
    """The models behind ``method``'s cell (radis.seeds): a table cell of a run with several seeds is
    their mean, so every seed's chain; with ``seed``, that seed's alone. The backbone has one."""
    from radis.seeds import variant, variants

    if method in (BASE, "-"):
        if seed is not None:
            raise ValueError(f"{method!r} is not trained: it has no chain per seed")
        return [method]
    if seed is None:
        return variants(method, seeds)
    if seed not in seeds:
        raise ValueError(f"seed {seed} is not in experiment.seeds ({', '.join(map(str, seeds))})")
    return [variant(method, seed, seeds)]


def cell(table: int, backbone: str, method: str, column: str, configfile: list[str], config_base: str, profile: str,
         force: bool, run: bool, seed: int | None = None) -> None:
    """``radis cell``: print (or run) the file target(s) and Snakemake command of one table cell
    (every seed's files, or one seed's chain with ``seed``)."""
    import subprocess

    from radis.config import load_config
    from radis.io import InputError
    from radis.seeds import chain_seeds

    config = load_config(config_base, *configfile)
    grid = Grid(config)
    try:
        if table != 4:  # Table 4 is per backbone: its method is the one whose rationales it classifies
            check_model(grid, backbone, method)
        models = seed_variants(method, seed, chain_seeds(config))
        targets = [t for m in models for t in cell_targets(table, backbone, m, column, grid)]
    except ValueError as e:  # a cell this run does not have: one line naming what it has
        raise InputError(f"table {table}, {backbone} + {method}, {column}: {e}") from None
    cmd = snakemake_command(targets, profile=profile, configfiles=[str(p) for p in configfile] or None, force=force)
    print(describe(table, backbone, method if seed is None else models[0], column)
          + (f" (the mean of seeds {', '.join(map(str, chain_seeds(config)))})" if len(models) > 1 else ""))
    print("\n".join(targets))
    print(format_command(cmd))
    if run:
        raise SystemExit(subprocess.call(cmd))
