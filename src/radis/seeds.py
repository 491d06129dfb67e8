"""Seeds as a dimension of the grid: each seed of ``experiment.seeds`` is its own chain.

Why: one run per method says nothing about how much of a difference between methods is the
method and how much is the draw (LoRA's initialisation, the order of the examples, the sampled
synthesis). Each seed is a chain of its own, synthesis (where its decoding samples, or its
generator is itself a trained model of the chain) → training set → training → merge →
evaluation, under a *variant* name ``{method}@{seed}``. The first seed keeps the method's plain
name and paths, so a finished one-seed run stays finished when seeds are added, and a one-seed
config plans exactly what it did before seeds existed. What a seed does not change is shared:
the data subsets, greedy synthesis, the backbone's own evaluation, the test items.

The tables pool a method's variants (:func:`pool_seeds`): each score is the mean over seeds, its
interval resamples the test items jointly for every seed (the same resamples), and each cell
also shows the standard deviation across seeds (radis.tables).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from radis.layout import BASE

#: between a method (or synthesis kind) and the seed of its chain: ``radis@7``
MARK = "@"
_VARIANT = re.compile(rf"^(?P<name>.+?){MARK}(?P<seed>[0-9]+)$")
#: what a snakemake wildcard of a variant looks like after the method or kind pattern
WILDCARD_SUFFIX = rf"(?:{MARK}[0-9]+)?"
#: per-item fields of a result file that tables resample (radis.stats): pooled as one list per seed
PER_ITEM_FIELDS = ("segments", "items", "per_answer")
#: counts in a result's metrics that add up over seeds (how many judgements failed, were unrated)
SUMMED_COUNTS = ("n_failed", "n_parse_failures", "n_judgments", "n")


def chain_seeds(config: Mapping[str, Any]) -> list[int]:
    """The seeds of the run's chains: ``experiment.seeds``, or the config seed alone when unset."""
    return list(config["experiment"].get("seeds") or [config["seed"]])


def variant(name: str, seed: int, seeds: Sequence[int]) -> str:
    """The name of ``name``'s chain with ``seed``: the plain name for the first seed."""
    return name if seed == seeds[0] else f"{name}{MARK}{seed}"


def variants(name: str, seeds: Sequence[int]) -> list[str]:
    return [variant(name, s, seeds) for s in seeds]


def split_variant(name: str) -> tuple[str, int | None]:
    """``radis@7`` -> ("radis", 7); a plain name -> (name, None): the first seed's chain."""
    match = _VARIANT.match(name)
    return (match["name"], int(match["seed"])) if match else (name, None)


def method_of(name: str) -> str:
    return split_variant(name)[0]


def seed_of(name: str, seeds: Sequence[int]) -> int:
    """The seed of a variant's chain (the first seed for a plain name)."""
    seed = split_variant(name)[1]
    return seeds[0] if seed is None else seed


def _mean_metric(values: list) -> Any:
    """A metric's mean over seeds; a seed without a number ("n/a: ...") makes the mean n/a too."""
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v != v:
            return v
    return sum(values) / len(values)


def pool_seeds(records: list[dict], key_fields: Sequence[str], seeds: Sequence[int]) -> list[dict]:
    """One record per cell from each method's per-seed records (``method`` a variant name): its
    metrics are the mean over seeds (counts are summed), and its per-item fields become
    ``seed_{field}``, a list in seed order, so that a table resamples every seed on the same items.
    Records of untrained models (the backbone, prior models) have one seed and pass unchanged.
    Raises ``ValueError`` when a trained method lacks a seed's record."""
    groups: dict[tuple, dict[int, dict]] = {}
    for r in records:
        method, seed = split_variant(r["method"])
        key = (r["backbone"], method, *(r[f] for f in key_fields))
        groups.setdefault(key, {})[seeds[0] if seed is None else seed] = r
    pooled = []
    for key, by_seed in groups.items():
        if len(by_seed) == 1 and seeds[0] in by_seed and (len(seeds) == 1 or key[1] == BASE):
            pooled.append(by_seed[seeds[0]])
            continue
        missing = [s for s in seeds if s not in by_seed]
        if missing:
            raise ValueError(f"backbone={key[0]} method={key[1]} " + " ".join(f"{f}={v}" for f, v in zip(key_fields, key[2:]))
                             + f": no result for seed(s) {', '.join(map(str, missing))} of experiment.seeds")
        ordered = [by_seed[s] for s in seeds]
        metrics = {}
        for name in ordered[0].get("metrics", {}):
            values = [r.get("metrics", {}).get(name) for r in ordered]
            metrics[name] = sum(values) if name in SUMMED_COUNTS and all(isinstance(v, int) for v in values) \
                else _mean_metric(values)
        record = {k: v for k, v in ordered[0].items() if k not in PER_ITEM_FIELDS}
        record.update(method=key[1], metrics=metrics, seeds=list(seeds))
        for field in PER_ITEM_FIELDS:
            if all(r.get(field) for r in ordered):
                record[f"seed_{field}"] = [r[field] for r in ordered]
        pooled.append(record)
    return pooled


def per_item(record: dict, field: str) -> list:
    """A record's per-item data as one entry per seed: ``seed_{field}`` of a pooled record, else
    its own ``field`` (one seed); empty when it kept none."""
    if f"seed_{field}" in record:
        return record[f"seed_{field}"]
    return [record[field]] if record.get(field) else []


def one_seed(records: list[dict], seed: int, seeds: Sequence[int]) -> list[dict]:
    """The records of one seed's chains under their methods' plain names (and the untrained models'
    records), without per-item data: what a table of that seed alone is built from, to read each
    cell's spread across seeds."""
    out = []
    for r in records:
        method, own = split_variant(r["method"])
        if (seeds[0] if own is None else own) == seed or (own is None and method == BASE):
            out.append({**{k: v for k, v in r.items() if k not in PER_ITEM_FIELDS}, "method": method})
    return out
