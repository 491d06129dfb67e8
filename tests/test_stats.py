"""Intervals and paired tests of the tables (radis.stats): against a hand-computed case and against
sacrebleu's own paired bootstrap on real WMT22 sentences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from sacrebleu.significance import PairedTest

from radis.stats import (
    interval,
    paired_p_value,
    resample_indices,
    resampled_scores,
    sacrebleu_metric,
    segment_statistics,
)

DEMO = Path(__file__).resolve().parents[1] / "workflow/resources/demo/human_written_data/deen/test.de-en.json"


def _degraded(references: list[str], every: int) -> list[str]:
    """Each reference with every ``every``-th word dropped: a system of known, graded quality."""
    return [" ".join(w for i, w in enumerate(r.split()) if i % every != every - 1) for r in references]


@pytest.fixture(scope="module")
def wmt22() -> list[str]:
    return [pair["translation"]["en"] for pair in json.loads(DEMO.read_text(encoding="utf-8"))]


def test_a_mean_score_resampled_by_hand():
    values = [0.5, 0.7, 0.9, 0.1]  # COMET segment scores
    indices = np.array([[0, 0, 1, 2], [3, 3, 3, 3], [0, 1, 2, 3]])
    assert resampled_scores("comet", values, indices).tolist() == pytest.approx([65.0, 10.0, 55.0])
    assert resampled_scores("mtbench", [8, 6, 2, 4], indices).tolist() == pytest.approx([6.0, 4.0, 5.0])
    # 1000 sorted resamples: the interval cuts 25 on each side (sacrebleu's estimate_ci)
    assert interval(np.arange(1000.0)[::-1]) == (25.0, 974.0)
    assert resample_indices(5, 3, seed=1).tolist() == np.random.default_rng(1).choice(5, size=(3, 5)).tolist()


def test_a_paired_p_value_by_hand():
    system, baseline = np.array([3.0, 2.0, 4.0, 3.0]), np.array([1.0, 1.0, 1.0, 1.0])
    # |differences| 2,1,3,2 → centred 0,-1,1,0; one of four exceeds an observed 0.5: (1 + 1) / 5
    assert paired_p_value(system, baseline, 0.5) == pytest.approx(2 / 5)
    assert paired_p_value(system, baseline, -0.5) == pytest.approx(2 / 5)  # the test is two-sided
    assert paired_p_value(system, baseline, 5.0) == pytest.approx(1 / 5)


def test_a_model_compared_with_itself_is_never_marked(wmt22):
    hyps = _degraded(wmt22, 3)
    stats = segment_statistics("chrf", hyps, wmt22)
    indices = resample_indices(len(wmt22))
    same = resampled_scores("chrf", stats, indices)
    assert paired_p_value(same, same.copy(), 0.0) == 1.0


@pytest.mark.parametrize("name", ["bleu", "chrf"])
def test_interval_and_p_value_are_sacrebleus_paired_bootstrap(wmt22, name):
    """Our resampling of stored statistics gives exactly what sacrebleu's PairedTest gives from the texts."""
    baseline, system = _degraded(wmt22, 3), _degraded(wmt22, 5)
    metric = sacrebleu_metric(name, "en")
    sacre_names, results = PairedTest([("baseline", baseline), ("system", system)], {name: metric}, [wmt22],
                                      test_type="bs", n_samples=1000)()
    key = next(k for k in results if k != "System")
    theirs = results[key][1]
    indices = resample_indices(len(wmt22), 1000, 12345)
    base_stats, sys_stats = (segment_statistics(name, h, wmt22, "en") for h in (baseline, system))
    ours_base, ours_sys = (resampled_scores(name, s, indices) for s in (base_stats, sys_stats))
    score = lambda hyps: sacrebleu_metric(name, "en").corpus_score(hyps, [wmt22]).score  # noqa: E731
    observed = score(system) - score(baseline)
    assert paired_p_value(ours_sys, ours_base, observed) == pytest.approx(theirs.p_value)
    low, high = interval(ours_sys)
    assert (high - low) / 2 == pytest.approx(theirs.ci, abs=1e-4)
    assert low < score(system) < high
    assert observed > 0 and theirs.p_value < 0.05  # dropping a fifth of the words beats dropping a third


def test_segment_statistics_sum_to_the_corpus_score(wmt22):
    hyps = _degraded(wmt22, 4)
    for name in ("bleu", "chrf"):
        stats = np.asarray(segment_statistics(name, hyps, wmt22), dtype="float32")
        full = resampled_scores(name, stats, np.arange(len(wmt22))[None, :])[0]
        corpus = (sacrebleu.corpus_bleu if name == "bleu" else sacrebleu.corpus_chrf)(hyps, [wmt22]).score
        assert full == pytest.approx(corpus, abs=1e-3)


def test_each_benchmarks_items_resample_to_its_score(tmp_path):
    """Per-item scores of every general benchmark: on the full set (no resampling) they give the
    benchmark's own score, so the table's interval is around the number it prints."""
    from radis.evaluate.advbench import safe_items, safe_rate
    from radis.evaluate.alpacaeval import preference_items
    from radis.evaluate.gsm8k import exact_match_items
    from radis.evaluate.mtbench import question_scores, score
    from radis.io import write_jsonl
    from radis.stats import resampled_items

    def full(items: dict) -> float:  # the score on the items as they are: one "resample", all of them in order
        num, den = np.asarray(items["num"]), np.asarray(items["den"])
        return items["scale"] * num.sum() / den.sum()

    answers = [{"question_id": q, "category": "writing", "turns": ["a", "b"]} for q in (1, 2, 3)]
    judgments = [{"question_id": q, "turn": t, "rating": r}
                 for q, t, r in [(1, 1, 8), (1, 2, 6), (2, 1, 3), (2, 2, None), (3, 1, 10), (3, 2, 9)]]
    items = question_scores(judgments)
    assert items["ids"] == ["1", "2", "3"] and items["den"] == [2.0, 1.0, 2.0]
    assert full(items) == pytest.approx(score(answers, judgments)["score"])
    verdicts = [True, False, None, True]
    assert full(safe_items([{"id": i} for i in range(4)], verdicts)) == pytest.approx(safe_rate(verdicts)["safe_rate"])
    annotations = [{"instruction": "a", "preference": 2.0}, {"instruction": "b", "preference": 1.0},
                   {"instruction": "c", "preference": 0}, {"instruction": "d", "preference": float("nan")}]
    assert full(preference_items(annotations)) == pytest.approx(100 * (1 + 0 + 0.5) / 3)  # a draw is half a win
    write_jsonl(tmp_path / "samples.jsonl", [
        {"doc_id": d, "filter": f, "exact_match": float(hit)}
        for d, (strict, flexible) in enumerate([(1, 1), (0, 1), (0, 0), (1, 1)])
        for f, hit in (("strict-match", strict), ("flexible-extract", flexible))])
    assert full(exact_match_items(tmp_path / "samples.jsonl")) == 50.0
    # two cells of one benchmark resample alike: an item only one of them has counts nothing for the other
    cells = resampled_items({"a": items, "b": question_scores(judgments[:2])}, samples=50, seed=3)
    assert set(cells) == {"a", "b"} and np.nanmax(cells["b"]) == 7.0
