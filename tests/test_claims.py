"""The paper's claims tested on a run (radis.claims): yes, no, or not distinguishable, with the
sizes that would separate what is not separated."""

from __future__ import annotations

import math

import numpy as np
import pytest

from radis.claims import Z_ALPHA, Z_POWER, claim_results, render, verdict

DIRECTIONS = ("cs-en", "en-cs")


def _translation(means: dict[str, list[float]], n: int = 100, noise: float = 0.02) -> list[dict]:
    """COMET cells: every model is the backbone's segments shifted to its mean, plus noise."""
    rng = np.random.default_rng(0)
    base = {d: rng.normal(0.5, 0.2, n) for d in DIRECTIONS}
    out = []
    for name, per_direction in means.items():
        for d, mean in zip(DIRECTIONS, per_direction):
            seg = base[d] + (0 if name == "base" else rng.normal(0, noise, n))
            seg = seg - seg.mean() + mean / 100
            out.append({"backbone": "b", "method": name, "direction": d,
                        "metrics": {"comet": float(100 * seg.mean())}, "segments": {"items": "fp", "comet": seg.tolist()}})
    return out


def _drift(levels: dict[str, float], n: int = 60) -> list[dict]:
    rng = np.random.default_rng(1)
    out = []
    for name, level in levels.items():
        answers = [{"set": "mtbench", "id": i, "n_tokens": 20, "kl_sum": 20 * level * rng.uniform(0.8, 1.2),
                    "nll_backbone_sum": 20.0, "nll_model_sum": 21.0} for i in range(n)]
        kl = sum(a["kl_sum"] for a in answers) / (20 * n)
        out.append({"backbone": "b", "method": name, "metrics": {"kl": kl, "delta_nll": 0.05}, "per_answer": answers})
    return out


def test_clear_differences_are_yes_or_no_and_a_tiny_one_is_not_distinguishable():
    translation = _translation({"base": [50, 50], "vanilla": [60, 58], "radis": [59.98, 58.01], "sdft": [51, 50],
                                "vanilla@7": [61, 57], "radis@7": [60.98, 57.01], "sdft@7": [50, 51]})
    drift = _drift({"vanilla": 0.4, "radis": 0.05, "sdft": 0.02, "vanilla@7": 0.5, "radis@7": 0.06, "sdft@7": 0.03})
    rows = {r["claim"]: r for r in claim_results(translation, drift, ["b"], ["vanilla", "sdft", "radis"], [42, 7])}
    assert "RaDis drifts less than Seq-KD" not in rows  # Seq-KD was not trained
    assert rows["Vanilla-FT drifts more than RaDis"]["verdict"] == "yes"
    assert rows["RaDis drifts less than SDFT"]["verdict"] == "no"  # SDFT drifts less here
    assert rows["Vanilla-FT improves translation over the backbone"]["verdict"] == "yes"
    tiny = rows["RaDis's translation gain is below Vanilla-FT's"]
    assert tiny["verdict"] == "not distinguishable at this size"
    assert tiny["low"] < 0 < tiny["high"] and tiny["p"] > 0.05
    # the difference is the mean of the seeds' differences, each the mean over directions
    assert tiny["seed_differences"] == pytest.approx([(60 - 59.98 + 58 - 58.01) / 2, (61 - 60.98 + 57 - 57.01) / 2],
                                                     abs=1e-9)
    assert tiny["difference"] == pytest.approx(sum(tiny["seed_differences"]) / 2)
    # items: n · ((z_α + z_β) · se / d)², se from the interval's half-width
    se = (tiny["high"] - tiny["low"]) / 2 / Z_ALPHA
    items = math.ceil(100 * ((Z_ALPHA + Z_POWER) * se / abs(tiny["difference"])) ** 2)
    assert f"≈{items:,} test items" in tiny["to_separate"] and "seeds" in tiny["to_separate"]
    md = render(list(rows.values()), [42, 7], None)
    assert "| b | Vanilla-FT drifts more than RaDis |" in md and "**not distinguishable at this size**" in md
    assert f"≈{items:,} test items" in md


def test_one_seed_against_the_other_is_not_a_yes():
    """The interval excludes zero, but one seed's difference has the other sign: not a yes."""
    assert verdict(0.1, 0.5, [0.3, -0.1]) == "not distinguishable at this size"
    assert verdict(0.1, 0.5, [0.3, 0.2]) == "yes" and verdict(-0.5, -0.1, [-0.3]) == "no"


def test_cells_without_per_item_scores_say_so():
    translation = _translation({"base": [50, 50], "vanilla": [60, 58], "radis": [59, 58]})
    for r in translation:
        del r["segments"]
    rows = claim_results(translation, None, ["b"], ["vanilla", "radis"], [42])
    assert {r["verdict"] for r in rows} == {"n/a: the cells kept no per-item scores"}
    assert not any("drift" in r["claim"] for r in rows)  # drift not measured: its claims are not asked
