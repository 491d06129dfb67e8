"""The paper's claims, tested on this run: yes, no, or not distinguishable at this size.

Why: a table of means invites reading every gap as a finding. The paper's argument is a handful of
comparisons (Vanilla-FT forgets more than RaDis; RaDis forgets less than the other
self-distillation methods; RaDis learns translation about as well as Vanilla-FT); this module
answers each one on the run's own results, with the evidence a reader needs to trust the answer:
the difference (mean over seeds), its 95% interval over the test items (resampled jointly for
every seed and both methods, radis.stats), its paired p-value, each seed's difference, and, where
the answer is "not distinguishable", how many test items or seeds would separate a difference of
the observed size (a normal-approximation power estimate at 80% power, two-sided α = 0.05).

A claim is answered **yes** when the interval lies on the claimed side of zero and every seed's
difference does too, **no** when both lie on the other side, and otherwise "not distinguishable
at this size". Drift is the judge-free measure (radis.evaluate.drift): the mean per-token
KL(backbone ‖ model) along the backbone's own answers; translation is the tables' metric averaged
over the run's directions.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radis.io import read_json, write_json, write_text
from radis.languages import Direction
from radis.seeds import one_seed, pool_seeds
from radis.layout import BASE
from radis.settings import ReportStep
from radis.stats import ALPHA, interval, paired_p_value
from radis.tables import (DRIFT_KEY, METRIC_NAMES, TRANSLATION_KEY, choose_metric, drift_resamples,
                          load_translation_results, translation_resamples)

#: z of the two-sided 95% interval and of 80% power: the sizes that separate a difference d
Z_ALPHA, Z_POWER = 1.959964, 0.841621


@dataclass(frozen=True)
class Claim:
    """"``larger`` has a larger ``measure`` than ``smaller``" (the claim holds when larger − smaller > 0)."""

    text: str
    measure: str  # "drift" (KL, nats/token) or "translation" (the tables' metric)
    larger: str   # method, or BASE for the backbone
    smaller: str


#: the paper's argument as comparisons on one backbone (§4.2-4.3: Tables 1-3 and Figure 1)
CLAIMS = (
    Claim("Vanilla-FT drifts more than RaDis", "drift", "vanilla", "radis"),
    Claim("RaDis drifts less than SDFT", "drift", "sdft", "radis"),
    Claim("RaDis drifts less than Seq-KD", "drift", "seqkd", "radis"),
    Claim("Vanilla-FT improves translation over the backbone", "translation", "vanilla", BASE),
    Claim("RaDis improves translation over the backbone", "translation", "radis", BASE),
    Claim("RaDis's translation gain is below Vanilla-FT's", "translation", "vanilla", "radis"),
)


def _sizes(difference: float, half_width: float, n_items: int, seed_differences: list[float]) -> str:
    """How many test items (at the observed per-item spread) or seeds (at the observed spread across
    seeds) would separate ``difference`` from zero at 80% power."""
    if difference == 0:
        return "no difference observed: no size separates it"
    se = half_width / Z_ALPHA
    parts = [f"≈{math.ceil(n_items * ((Z_ALPHA + Z_POWER) * se / abs(difference)) ** 2):,} test items"]
    if len(seed_differences) > 1:
        sd = statistics.stdev(seed_differences)
        parts.append(f"≈{max(2, math.ceil(((Z_ALPHA + Z_POWER) * sd / abs(difference)) ** 2))} seeds"
                     if sd > 0 else "any 2 seeds")
    return " or ".join(parts)


def verdict(low: float, high: float, seed_differences: list[float]) -> str:
    if low > 0 and all(d > 0 for d in seed_differences):
        return "yes"
    if high < 0 and all(d < 0 for d in seed_differences):
        return "no"
    return "not distinguishable at this size"


def claim_results(translation: list[dict], drift: list[dict] | None, backbones: list[str], methods: list[str],
                seeds: list[int], bootstrap: dict | None = None) -> list[dict]:
    """Each claim whose methods this run trained, per backbone: the difference, its interval,
    p-value, per-seed differences, verdict and the sizes that would separate it."""
    metric = choose_metric(translation)
    pool = (lambda records, key: pool_seeds(records, key, seeds)) if len(seeds) > 1 else (lambda records, key: records)
    pooled = pool(translation, TRANSLATION_KEY)
    records = {(r["backbone"], r["method"], str(Direction.parse(r["direction"]))): r for r in pooled}
    directions = sorted({Direction.parse(r["direction"]) for r in pooled}, key=str)
    resamples = {**translation_resamples(records, directions, metric, bootstrap),
                 **drift_resamples(pool(drift, DRIFT_KEY) if drift else None, bootstrap)}
    per_seed = [(one_seed(translation, s, seeds), one_seed(drift or [], s, seeds)) for s in seeds]

    def value(tr: list[dict], dr: list[dict], b: str, m: str, measure: str) -> float | None:
        if measure == "drift":
            kl = next((r["metrics"].get("kl") for r in dr if (r["backbone"], r["method"]) == (b, m)), None)
            return kl if isinstance(kl, (int, float)) else None
        scores = [r["metrics"].get(metric) for r in tr if (r["backbone"], r["method"]) == (b, m)]
        return sum(scores) / len(scores) if scores and all(isinstance(x, (int, float)) for x in scores) else None

    def resampled(b: str, m: str, measure: str):
        if measure == "drift":
            return resamples.get((b, m, "Drift KL"))
        parts = [resamples.get((b, m, str(d))) for d in directions]
        return np.mean(parts, axis=0) if all(p is not None for p in parts) else None

    n_items = {"translation": min((len(r["segments"][metric]) for r in translation if metric in (r.get("segments") or {})),
                                  default=0),
               "drift": min((sum(1 for a in r.get("per_answer") or [] if a["n_tokens"]) for r in drift or []), default=0)}
    rows = []
    for b in backbones:
        for claim in CLAIMS:
            if {claim.larger, claim.smaller} - {BASE} - set(methods) or (claim.measure == "drift" and not drift):
                continue
            seed_differences = []
            for tr, dr in per_seed:
                larger, smaller = value(tr, dr, b, claim.larger, claim.measure), value(tr, dr, b, claim.smaller, claim.measure)
                if larger is not None and smaller is not None:
                    seed_differences.append(larger - smaller)
            a, c = resampled(b, claim.larger, claim.measure), resampled(b, claim.smaller, claim.measure)
            if a is None or c is None or len(seed_differences) != len(seeds):
                rows.append({"backbone": b, "claim": claim.text, "verdict": "n/a: the cells kept no per-item scores"})
                continue
            difference = sum(seed_differences) / len(seed_differences)
            low, high = interval(a - c)
            rows.append({
                "backbone": b, "claim": claim.text, "measure": claim.measure,
                "unit": "nats/token" if claim.measure == "drift" else METRIC_NAMES.get(metric, metric),
                "difference": difference, "low": low, "high": high, "p": paired_p_value(a, c, difference),
                "seed_differences": seed_differences, "seeds": list(seeds), "n_items": n_items[claim.measure],
                "verdict": verdict(low, high, seed_differences),
                "to_separate": _sizes(difference, (high - low) / 2, n_items[claim.measure], seed_differences),
            })
    return rows


def render(rows: list[dict], seeds: list[int], bootstrap: dict | None) -> str:
    decimals = {"drift": 4, "translation": 2}  # drift differences are small: one decimal more than Table 3
    out = ["**The paper's claims, tested on this run** (difference = the first method's value minus the second's; "
           "positive: the claim holds)", "",
           "| backbone | claim | difference | 95% interval | p | per seed | verdict | would separate it |",
           "|---|---|---:|---|---:|---|---|---|"]
    for r in rows:
        if "difference" not in r:
            out.append(f"| {r['backbone']} | {r['claim']} | | | | | {r['verdict']} | |")
            continue
        k = decimals[r["measure"]]
        out.append(f"| {r['backbone']} | {r['claim']} | {r['difference']:+.{k}f} {r['unit']} | "
                   f"[{r['low']:+.{k}f}, {r['high']:+.{k}f}] | {r['p']:.4f} | "
                   + ", ".join(f"{d:+.{k}f}" for d in r["seed_differences"]) + f" | **{r['verdict']}** | "
                   + ("" if r["verdict"] in ("yes", "no") else r["to_separate"]) + " |")
    bootstrap = bootstrap or {}
    out += ["", f"- Seeds: {', '.join(map(str, seeds))} (experiment.seeds); the difference is the mean over seeds. "
            f"The interval resamples the test items (translation: WMT22 sentences, per direction; drift: the "
            f"backbone's answers) jointly for every seed and both methods "
            f"({bootstrap.get('samples', 1000)} resamples); p is the paired bootstrap p-value.",
            "- yes: the interval and every seed's difference lie above zero; no: all below; otherwise not "
            "distinguishable at this size.",
            f"- Would separate it: the test items (at the observed per-item spread) or seeds (at the observed spread "
            f"across seeds) at which a difference of the observed size is found with 80% power at α = {ALPHA} "
            "(normal approximation; seeds: if the items were infinitely many)."]
    return "\n".join(out) + "\n"


def write_claims(translation: list[str], drift: list[str], out: str, settings: ReportStep) -> None:
    """``radis claims``: results/tables/claims.md (and .json with every number) from the cells."""
    seeds = settings.seeds
    rows = claim_results(load_translation_results([Path(p) for p in translation]),
                       [read_json(p) for p in drift] if drift else None, settings.backbones, settings.methods,
                       seeds, settings.bootstrap)
    write_text(f"{out}.md", render(rows, seeds, settings.bootstrap))
    write_json(f"{out}.json", rows)
    for r in rows:
        print(f"{r['backbone']}: {r['claim']}: {r['verdict']}")
