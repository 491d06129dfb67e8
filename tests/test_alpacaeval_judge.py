"""AlpacaEval keeps the judge guarantees (issue 26 item 2).

alpaca_eval's own OpenAI client returns an empty completion after its retries, its annotator stores
an unparsed judgement as missing and never asks again, and it saves its cache once per 128-item
chunk; HTTP errors other than rate limits fail it at once. Here AlpacaEval is judged through the
real alpaca_eval annotator against tests/fake_openai.py (a real HTTP server) and must behave as the
other judged benchmarks: a failed judgement is counted ("k of n failed") and asked again by the
next run, a run stopped midway repays only the calls that had no answer, and the judge's
``max_concurrency``, ``max_retries``, ``timeout_s`` and call announcement apply.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import Action, FakeOpenAI

from radis.evaluate.alpacaeval import BENCHMARKS, FILES, judge_responses
from radis.evaluate.general import Judging
from radis.io import write_json
from radis.judges.client import JudgeConfig
from radis.settings import JudgedSection, typed

KEY_ENV = "RADIS_ALPACAEVAL_TEST_KEY"
N = 12


def _items() -> tuple[list[dict], list[dict]]:
    reference = [{"dataset": "test", "instruction": f"Write poem {i}.", "output": f"Reference poem {i}.",
                  "generator": "text_davinci_003"} for i in range(N)]
    outputs = [{**r, "output": f"Poem {i}.", "generator": "model"} for i, r in enumerate(reference)]
    return reference, outputs


def _preference(body: dict) -> dict[str, float]:
    """The judge's next-token alternatives: "m" (the model's output is better) for even items."""
    item = int(_item_of(body))
    return {"m": 0.8, "M": 0.2} if item % 2 == 0 else {"m": 0.3, "M": 0.7}


def _item_of(body: dict) -> str:
    text = json.dumps(body["messages"])
    return next(str(i) for i in range(N) if f"Write poem {i}." in text)


def _judge(tmp_path: Path, fake: FakeOpenAI, monkeypatch, **judge) -> dict:
    """One AlpacaEval judge job of the cell b/m; a rerun must use the same ``fake`` (its URL is part
    of what answered, which keys the caches)."""
    reference, outputs = _items()
    write_json(tmp_path / "data" / FILES[0].path, reference)
    monkeypatch.setenv(KEY_ENV, "sk-alpacaeval-test")
    spec = {"model": "fake-judge", "base_url": fake.base_url, "api_key_env": KEY_ENV, **judge}
    section = typed(JudgedSection, {"annotator": "weighted_alpaca_eval_gpt4_turbo"},
                    "$defs.general_eval")
    judging = Judging(name="fake", config=JudgeConfig.from_config("fake", spec), section=section,
                      data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", base_url=fake.base_url,
                      work_dir=tmp_path / "work", cell="b/m")
    return judge_responses(BENCHMARKS[0], outputs, judging)


def test_a_failed_judgement_is_counted_and_asked_again_by_the_next_run_and_no_other(tmp_path, monkeypatch):
    first_run = [True]
    rejected = lambda body: Action(status=400) if first_run[0] and _item_of(body) == "3" else None  # noqa: E731
    with FakeOpenAI(top_logprobs=_preference, script=rejected) as fake:
        result = _judge(tmp_path, fake, monkeypatch, max_retries=2)
        first = result["metrics"]
        assert first["n_failed"] == 1 and "HTTP 400" in first["failure"], first
        # the per-item preferences the tables resample (radis.stats): the judged ones, as the win rate
        items = result["items"]
        assert "Write poem 3." not in items["ids"] and len(items["ids"]) == N - 1
        assert 100 * sum(items["num"]) / len(items["num"]) == pytest.approx(first["win_rate"])
        assert first["n_total"] == N - 1 and first["n_parse_failures"] == 0, first
        first_run[0], before = False, len(fake.bodies)
        second = _judge(tmp_path, fake, monkeypatch, max_retries=2)["metrics"]
        asked = [_item_of(b) for b in fake.bodies[before:]]
    assert asked == ["3"], f"the rerun asked {asked}: only the failed judgement must be asked again"
    assert "n_failed" not in second and second["n_total"] == N, second
    # six of twelve preferred at 0.8, six at 0.3: alpaca_eval's weighted win rate
    assert second["win_rate"] == pytest.approx(100 * (6 * 0.8 + 6 * 0.3) / N)


def test_a_run_stopped_midway_repays_only_the_calls_that_had_no_answer(tmp_path, monkeypatch):
    answered, revoked = [], [True]

    def revoked_after_five(body: dict) -> Action | None:  # the key is revoked: the job must stop
        if revoked[0] and len(answered) >= 5:
            return Action(status=401)
        answered.append(body)
        return None

    with FakeOpenAI(top_logprobs=_preference, script=revoked_after_five) as fake:
        with pytest.raises(Exception, match="401"):
            _judge(tmp_path, fake, monkeypatch, max_concurrency=1)
        paid, before = len(fake.answered), fake.requests
        assert paid == 5
        revoked[0] = False
        result = _judge(tmp_path, fake, monkeypatch, max_concurrency=1)
        again = fake.requests - before
    assert again == N - paid, f"{again} calls after {paid} of {N} had been answered"
    assert result["metrics"]["n_total"] == N


def test_the_judge_limits_apply(tmp_path, monkeypatch, capsys):
    schedule = [Action(status=429, retry_after="0"), Action(status=500)]
    with FakeOpenAI(schedule, default_delay_s=0.1, top_logprobs=_preference) as fake:
        metrics = _judge(tmp_path, fake, monkeypatch, max_concurrency=1, max_retries=2)["metrics"]
    assert metrics["n_total"] == N and "n_failed" not in metrics, metrics
    assert fake.faults == {"429": 1, "500": 1} and len(fake.answered) == N
    assert fake.max_in_flight == 1
    assert {b["seed"] for b in fake.answered} == {0}, "the sampled preference token is seeded"
    assert set(fake.auth_headers) == {"Bearer sk-alpacaeval-test"}
    err = capsys.readouterr().err
    assert f"[judge fake] fake-judge: {N} call(s) to make" in err, err[-2000:]
    # and fewer retries than errors in a row stop the job, with its finished calls cached
    with FakeOpenAI([Action(status=500), Action(status=500)], top_logprobs=_preference) as fake:
        with pytest.raises(Exception, match="retried up to 1 times"):
            _judge(tmp_path / "fewer", fake, monkeypatch, max_concurrency=1, max_retries=1)


def test_the_judge_timeout_applies(tmp_path, monkeypatch):
    with FakeOpenAI([Action(delay_s=5.0, label="timeout")], top_logprobs=_preference) as fake:
        metrics = _judge(tmp_path, fake, monkeypatch, max_retries=1, timeout_s=1.0)["metrics"]
    assert metrics["n_total"] == N and fake.faults == {"timeout": 1}, metrics
