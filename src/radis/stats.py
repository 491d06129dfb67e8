"""How sure a table's numbers are: bootstrap intervals over test items and paired bootstrap tests.

Why: the paper reports single runs without intervals, and at the sizes a CPU run affords a
difference of a chrF point can be noise. Every score a table shows gets a 95% interval from
resampling its test items, and every delta a paired test over the same resamples, so a reader sees
which differences are real. The resampling is sacrebleu's (``sacrebleu.significance``): corpus
scores recomputed from per-segment sufficient statistics for BLEU and chrF, the mean of item scores
for COMET and the general benchmarks; the interval is sacrebleu's (the 2.5th and 97.5th
percentiles of 1,000 resampled scores), the test is its paired bootstrap (Koehn 2004, as Moses'
``bootstrap-hypothesis-difference-significance.pl``). The resample indices depend only on the
seed and the number of items, so every system of a table column is resampled alike: that is what
pairs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: resamples and seed of the tables' bootstrap (config ``evaluation.bootstrap``); sacrebleu's
#: defaults (``--paired-bs-n 1000``, ``SACREBLEU_SEED=12345``)
SAMPLES = 1000
SEED = 12345
#: the level below which a delta is marked
ALPHA = 0.05
#: metrics whose corpus score is computed from summed per-segment statistics (sacrebleu)
SACREBLEU_METRICS = ("bleu", "chrf")


def bleu_tokenizer(tgt_lang: str | None) -> str:
    """sacreBLEU's tokenizer for a target language: ``13a`` splits on spaces, which would make an
    unsegmented Chinese sentence one token, so Chinese uses the ``zh`` character tokenizer (WMT
    practice, and what the paper's evaluation follows)."""
    return "zh" if tgt_lang == "zh" else "13a"


def sacrebleu_metric(name: str, tgt_lang: str | None = None):
    """The sacrebleu metric object that scores the tables' BLEU (:func:`bleu_tokenizer`) and chrF
    (sacrebleu's defaults): one place, for the scores and their resamples alike."""
    import sacrebleu

    if name == "bleu":
        return sacrebleu.BLEU(tokenize=bleu_tokenizer(tgt_lang))
    if name == "chrf":
        return sacrebleu.CHRF()
    raise ValueError(f"{name!r} is not a sacrebleu metric ({', '.join(SACREBLEU_METRICS)})")


def segment_statistics(name: str, hypotheses: Sequence[str], references: Sequence[str],
                       tgt_lang: str | None = None) -> list[list[float]]:
    """Per-segment sufficient statistics of BLEU or chrF (what their corpus scores sum), so a table
    can resample a cell without its texts."""
    metric = sacrebleu_metric(name, tgt_lang)
    return [[float(x) for x in row] for row in metric._extract_corpus_statistics(list(hypotheses), [list(references)])]


def resample_indices(n: int, samples: int = SAMPLES, seed: int = SEED) -> np.ndarray:
    """``samples`` resamples of ``n`` items with replacement, as sacrebleu draws them."""
    return np.random.default_rng(seed).choice(n, size=(samples, n), replace=True)


def resampled_scores(metric: str, segments: Sequence, indices: np.ndarray) -> np.ndarray:
    """The corpus score of each resample: ``segments`` are per-item scores (their mean; COMET×100
    where ``metric`` is "comet") or, for BLEU/chrF, per-segment statistics."""
    if metric in SACREBLEU_METRICS:
        scorer = sacrebleu_metric(metric)  # the tokenizer does not enter the score of summed statistics
        stats = np.asarray(segments, dtype="float32")
        return np.array([scorer._compute_score_from_stats(s.sum(0)).score for s in stats[indices]])
    values = np.asarray(segments, dtype="float64") * (100.0 if metric == "comet" else 1.0)
    return values[indices].mean(axis=1)


def item_scores(ids: Sequence, num: Sequence[float], den: Sequence[float] | None = None, scale: float = 1.0) -> dict:
    """What a general-ability cell keeps (its ``items``) so that a table can resample it: per test
    item an id (to pair models item by item), a numerator and a denominator; the score is
    ``scale · Σnum / Σden`` (MT-Bench: a question's ratings and how many of its turns are rated;
    a rate: 0/1 per item and 1, scale 100). An item without a usable judgement is left out, as
    from the score."""
    den = [1.0] * len(num) if den is None else den
    if not len(ids) == len(num) == len(den):
        raise ValueError(f"{len(ids)} ids, {len(num)} numerators, {len(den)} denominators")
    return {"ids": [str(i) for i in ids], "num": [float(x) for x in num], "den": [float(x) for x in den],
            "scale": float(scale)}


def resampled_items(cells: dict, samples: int = SAMPLES, seed: int = SEED) -> dict:
    """The score of each cell (``key -> item_scores`` of one benchmark) on the same resamples: the
    items of all cells in one order (an item a cell lacks counts nothing for it), so a row's delta
    to another is paired item by item."""
    ids = sorted({i for c in cells.values() for i in c["ids"]})
    if not ids:
        return {}
    position = {i: n for n, i in enumerate(ids)}
    indices = resample_indices(len(ids), samples, seed)
    out = {}
    for key, c in cells.items():
        num, den = np.zeros(len(ids)), np.zeros(len(ids))
        at = [position[i] for i in c["ids"]]
        num[at], den[at] = c["num"], c["den"]
        totals = den[indices].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[key] = c["scale"] * np.where(totals > 0, num[indices].sum(axis=1) / totals, np.nan)
    return out


def interval(samples: np.ndarray) -> tuple[float, float]:
    """The 95% interval of resampled scores: sacrebleu's percentiles (1/40 of them cut on each
    side; a resample without any usable item, possible for a handful of items, is left out)."""
    ordered = np.sort(np.asarray(samples, dtype="float64"))
    ordered = ordered[~np.isnan(ordered)]
    cut = len(ordered) // 40
    return float(ordered[cut]), float(ordered[len(ordered) - cut - 1])


def paired_p_value(system: np.ndarray, baseline: np.ndarray, observed: float) -> float:
    """sacrebleu's paired bootstrap p-value of the difference ``observed`` between two systems, from
    their scores on the same resamples: how often a resampled difference, centred, is at least as
    large as the one observed ((c + 1) / (samples + 1)). A difference of exactly zero (a system
    compared with itself) is no evidence of any difference: 1.0, never "significant" (sacrebleu's
    formula would give 1 / (samples + 1))."""
    if observed == 0 or np.array_equal(system, baseline, equal_nan=True):
        return 1.0
    differences = np.abs(np.asarray(system) - np.asarray(baseline))
    differences = differences[~np.isnan(differences)]
    centred = differences - differences.mean()
    return (int(np.sum(centred > abs(observed))) + 1) / (len(centred) + 1)


@dataclass(frozen=True)
class Uncertainty:
    """One table cell's 95% interval and, where it has a reference row, the paired p-value of its delta."""

    low: float
    high: float
    p_value: float | None = None

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA
