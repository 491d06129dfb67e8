"""Seeds as a dimension of the grid (radis.seeds): variant names, pooling per-seed results into
one cell, and which synthesis each seed needs of its own."""

from __future__ import annotations

import copy

import pytest

from radis.config import load_config
from radis.grid import Grid
from radis.seeds import chain_seeds, one_seed, per_item, pool_seeds, seed_of, split_variant, variant, variants
from radis.settings import REPO_ROOT


def test_the_first_seed_keeps_the_plain_name_and_the_others_are_variants():
    assert variants("radis", [42, 7, 1]) == ["radis", "radis@7", "radis@1"]
    assert variant("radis", 42, [7, 42]) == "radis@42"  # the first seed is the first of the list, not the smallest
    assert split_variant("radis-vanilla@7") == ("radis-vanilla", 7)
    assert split_variant("radis-vanilla") == ("radis-vanilla", None)
    assert split_variant("rationale-radis-vanilla@13") == ("rationale-radis-vanilla", 13)
    assert seed_of("radis", [3, 4]) == 3 and seed_of("radis@4", [3, 4]) == 4


def test_seeds_default_to_the_config_seed():
    config = load_config(REPO_ROOT / "config/config.yaml")
    assert config["experiment"]["seeds"] is None and chain_seeds(config) == [config["seed"]] == [42]
    config["experiment"]["seeds"] = [5, 6]
    assert chain_seeds(config) == [5, 6]


def test_each_seed_synthesizes_its_own_data_only_where_the_data_differs_by_seed():
    config = load_config(REPO_ROOT / "config/config.yaml")
    # greedy synthesis by the untouched backbone: the same data for every seed
    assert not any(Grid(config).per_seed(k) for k in ("rationale", "seqkd", "sdft", "rationale@7"))
    # Table 5's rationales come from Vanilla-FT's model, which each seed trains anew
    assert Grid(config).per_seed("rationale-radis-vanilla")
    paper = load_config(REPO_ROOT / "config/config.yaml", REPO_ROOT / "config/paper.yaml")
    assert all(Grid(paper).per_seed(k) for k in ("rationale", "seqkd", "sdft"))  # the paper samples
    sampled = copy.deepcopy(config)
    sampled["decoding"]["sdft"]["temperature"] = 0.7
    assert Grid(sampled).per_seed("sdft") and not Grid(sampled).per_seed("seqkd")
    sampled["experiment"]["seeds"] = [42, 7]
    grid = Grid(sampled)
    assert grid.synth_kind("sdft@7") == "sdft@7" and grid.synth_kind("seqkd@7") == "seqkd"
    assert grid.generator("smollm2-135m", "rationale-radis-vanilla@7") == ("smollm2-135m", "vanilla@7")
    assert ("smollm2-135m", "sdft@7") in grid.synthesis() and ("smollm2-135m", "seqkd@7") not in grid.synthesis()


def _record(method, value, items, direction="en-de"):
    return {"backbone": "b", "method": method, "direction": direction, "metrics": {"chrf": value, "n_failed": 1},
            "segments": items}


def test_pooling_averages_each_metric_over_seeds_and_keeps_every_seeds_items():
    records = [_record("base", 10.0, {"s": 0}), _record("radis", 20.0, {"s": 1}), _record("radis@7", 23.0, {"s": 2}),
               _record("radis@1", 29.0, {"s": 3})]
    pooled = {r["method"]: r for r in pool_seeds(records, ("direction",), [42, 7, 1])}
    assert pooled["base"] is records[0]  # untrained: as it is
    radis = pooled["radis"]
    assert radis["metrics"] == {"chrf": 24.0, "n_failed": 3} and radis["seeds"] == [42, 7, 1]
    assert "segments" not in radis and per_item(radis, "segments") == [{"s": 1}, {"s": 2}, {"s": 3}]
    assert per_item(records[0], "segments") == [{"s": 0}]
    # one seed's chains under their plain names, without the items (for the spread across seeds)
    assert [(r["method"], r["metrics"]["chrf"]) for r in one_seed(records, 7, [42, 7, 1])] == [("base", 10.0),
                                                                                             ("radis", 23.0)]
    assert all("segments" not in r for r in one_seed(records, 7, [42, 7, 1]))


def test_a_seed_without_a_number_makes_the_mean_na_and_a_missing_seed_is_named():
    records = [_record("radis", 20.0, None), _record("radis@7", "n/a: no answer", None)]
    assert pool_seeds(records, ("direction",), [42, 7])[0]["metrics"]["chrf"] == "n/a: no answer"
    with pytest.raises(ValueError, match=r"backbone=b method=radis direction=en-de: no result for seed\(s\) 1 "):
        pool_seeds(records, ("direction",), [42, 7, 1])


def test_a_seeds_chain_is_named_with_its_seed():
    """The loss curves show each seed's chain: the method's paper name and the seed."""
    from radis.tables import method_name

    assert method_name("vanilla@43") == "w/ Vanilla-FT (seed 43)" and method_name("vanilla") == "w/ Vanilla-FT"
