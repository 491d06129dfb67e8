"""Table cells → the one file the DAG writes for each, and the command that rebuilds it.

A researcher asks for "Mistral + RaDis, EN→CS COMET"; this module answers with
``results/eval/mistral-7b-instruct-v0.2/radis/translation/en-cs.json`` and the Snakemake command
that rebuilds exactly that file (and whatever it needs that is missing or stale), nothing else.
"""

from __future__ import annotations

import shlex

from radis.benchmarks import benchmarks
from radis.languages import LANGUAGES, Direction, language_name
from radis.layout import DRIFT_RESULT, GENERAL_RESULT, TABLE4_RESULT, TRANSLATION_RESULT
from radis.tables import DRIFT_COLUMNS


def _language(column: str) -> str:
    wanted = column.strip().lower()
    for code, name in LANGUAGES.items():
        if wanted in (code, name.lower()):
            return code
    raise ValueError(f"unknown language column {column!r}")


def _translation_file(backbone: str, method: str, direction: Direction) -> str:
    return TRANSLATION_RESULT.format(backbone=backbone, method=method, direction=direction)


def _general_file(backbone: str, method: str, column: str) -> str:
    if column.strip().lower() in {c.lower() for c in DRIFT_COLUMNS}:  # Tables 3 and 5: drift from backbone
        if method == "base":
            raise ValueError("the backbone row is the reference of the drift columns: they have no result file")
        return DRIFT_RESULT.format(backbone=backbone, method=method)
    wanted = column.strip().lower()
    for name, b in benchmarks().items():  # a Table 3 / Table 5 column or the benchmark's name
        if wanted in (name, b.column.lower()):
            return GENERAL_RESULT.format(backbone=backbone, method=method, benchmark=name)
    raise ValueError(f"unknown general-ability column {column!r} (known: "
                     + ", ".join(b.column for b in benchmarks().values()) + ")")


def cell_targets(table: int, backbone: str, method: str, column: str, directions: list[str]) -> list[str]:
    """The result files behind one cell. ``Avg.`` (and Table 5's X→EN / EN→X) cells are averages,
    so they name every per-direction file; every other cell is exactly one file (Table 4: a
    category's occurrence, in the backbone's rationale-categories file)."""
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
            return [_general_file(backbone, m, name) for m in ("base", method) for name in benchmarks()]
        return [_general_file(backbone, method, column)]
    if table == 5:
        key = column.strip().lower().replace(" ", "")
        if key in ("x→en", "x->en", "xen"):
            return [_translation_file(backbone, method, d) for d in dirs if d.tgt == "en"]
        if key in ("en→x", "en->x", "enx"):
            return [_translation_file(backbone, method, d) for d in dirs if d.src == "en"]
        return [_general_file(backbone, method, column)]
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

    if method in ("base", "-"):
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
    from radis.seeds import chain_seeds

    config = load_config(config_base, *configfile)
    models = seed_variants(method, seed, chain_seeds(config))
    targets = [t for m in models for t in cell_targets(table, backbone, m, column, config["experiment"]["directions"])]
    cmd = snakemake_command(targets, profile=profile, configfiles=[str(p) for p in configfile] or None, force=force)
    print(describe(table, backbone, method if seed is None else models[0], column)
          + (f" (the mean of seeds {', '.join(map(str, chain_seeds(config)))})" if len(models) > 1 else ""))
    print("\n".join(targets))
    print(format_command(cmd))
    if run:
        raise SystemExit(subprocess.call(cmd))
