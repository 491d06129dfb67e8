"""Judges scored by log-probabilities (radis.judges.logprobs; ``judges.<name>.scoring: logprobs``):
the rating and yes/no math by hand, MT-Bench and Table 4 through the real judge client against a real
HTTP server (tests/fake_openai.py scripting the next-token alternatives), and the builtin server
continuing an assistant message on a tiny model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from radis.judges.client import JudgeClient, JudgeConfig
from radis.settings import JudgedBenchmark
from radis.judges.logprobs import (
    RATING_PREFIX,
    TOP_LOGPROBS,
    expected_rating,
    needs_ten,
    rating_distribution,
    yes_probability,
)

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "workflow/resources/demo"


def test_rating_is_the_probability_weighted_mean_over_the_ratings_seen():
    first = {"7": 0.5, " 8": 0.25, "1": 0.125, "The": 0.125}
    assert needs_ten(first)  # "1" may begin "10", and "10" is no token here
    dist = rating_distribution(first, {"0": 0.5, "]]": 0.5})
    assert dist == {7: 0.5, 8: 0.25, 1: 0.0625, 10: 0.0625}
    # renormalised over the 0.875 that went to ratings: (3.5 + 2 + 0.0625 + 0.625) / 0.875
    assert expected_rating(dist) == pytest.approx((3.5 + 2 + 0.0625 + 0.625) / 0.875)
    assert not needs_ten({"10": 0.5, "1": 0.5}) and not needs_ten({"9": 1.0})
    assert rating_distribution({"10": 0.5, "9": 0.25, "11": 0.1, "0": 0.1, "07": 0.05}) == {10: 0.5, 9: 0.25}
    assert expected_rating(rating_distribution({"The": 0.9})) is None


def test_yes_probability_is_yes_against_no():
    assert yes_probability({"Yes": 0.3, " yes": 0.3, "No": 0.2, "Maybe": 0.2}) == pytest.approx(0.75)
    assert yes_probability({"The": 1.0}) is None


def _judged(spec: dict) -> JudgedBenchmark:
    """MT-Bench judged by judge ``fake`` (``spec``), as a judge job's settings give it."""
    return JudgedBenchmark.from_step({"judge_name": "fake", "judge": spec, "section": {"judge": "fake"},
                                      "responses": "mtbench"})


def _judge(fake: FakeOpenAI) -> JudgeConfig:
    return JudgeConfig(name="fake", model="fake-judge", base_url=fake.base_url, api_key_env=None, max_retries=1,
                       timeout_s=10.0, scoring="logprobs")


def _mtbench_responses() -> list[dict]:
    from radis.evaluate import mtbench

    return [{"question_id": q["question_id"], "category": q["category"], "turns": q["turns"],
             "answers": [f"answer {i}" for i in range(len(q["turns"]))]}
            for q in mtbench.load_questions(DEMO / "mt_bench/question.jsonl")]


def _rating_alternatives(body: dict) -> dict[str, float]:
    """After "Rating: [[": 7 (1/2), 8 (1/4), 1 (1/4); after "Rating: [[1": "0" or "]]" alike."""
    prefill = body["messages"][-1]
    assert prefill["role"] == "assistant" and prefill["content"].startswith(RATING_PREFIX)
    if prefill["content"] == RATING_PREFIX + "1":
        return {"0": 0.5, "]]": 0.5}
    return {"7": 0.5, "8": 0.25, "1": 0.25}


def test_mtbench_scored_by_logprobs_through_a_real_server(tmp_path):
    from radis.evaluate.general import judge

    responses = _mtbench_responses()
    with FakeOpenAI(top_logprobs=_rating_alternatives) as fake:
        spec = {"model": "fake-judge", "base_url": fake.base_url, "api_key_env": None, "scoring": "logprobs"}
        result = judge("mtbench", responses, DEMO, _judged(spec),
                       tmp_path / "cache", fake.base_url, tmp_path / "work", "b/m")
        bodies = fake.answered
    n = sum(len(r["turns"]) for r in responses)
    assert len(bodies) == 2 * n  # each judgement, and its "[[1" follow-up ("10" is no token here)
    for body in bodies:
        assert body["max_tokens"] == 1 and body["logprobs"] is True and body["top_logprobs"] == TOP_LOGPROBS
        assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
        assert body["messages"][0]["role"] == "system"  # FastChat's judge prompt comes first
    metrics = result["metrics"]
    # 7·1/2 + 8·1/4 + 1·1/8 + 10·1/8
    assert metrics["score"] == pytest.approx(6.875) and metrics["n_judged"] == n
    assert metrics["scoring"] == "logprobs"  # the result file says how it was scored
    assert result["details"][0]["rating_probs"] == {"1": 0.125, "7": 0.5, "8": 0.25, "10": 0.125}


def test_mtbench_without_any_rating_among_the_alternatives_is_na_not_zero(tmp_path):
    from radis.evaluate.general import judge

    with FakeOpenAI(top_logprobs=lambda body: {"The": 0.6, "A": 0.4}) as fake:
        spec = {"model": "fake-judge", "base_url": fake.base_url, "api_key_env": None, "scoring": "logprobs"}
        result = judge("mtbench", _mtbench_responses(), DEMO, _judged(spec),
                       tmp_path / "cache", fake.base_url, tmp_path / "work", "b/m")
    assert result["metrics"]["score"] == "n/a: 6 of 6 judgments had no rating among the top logprobs"


def test_an_answer_without_logprobs_is_not_cached_and_its_judgement_fails_alone(tmp_path):
    """An endpoint that leaves out the logprobs asked for gives no rating: the answer is asked again,
    never cached, and the judgement recorded as failed; the other judgements are rated."""
    from fake_openai import Action

    from radis.evaluate.general import judge

    responses = _mtbench_responses()
    broken = {"on": True}
    first_question = responses[0]["turns"][0]

    def script(body: dict):
        return Action(answer="no-logprobs") if broken["on"] and first_question in body["messages"][1]["content"] else None

    with FakeOpenAI(top_logprobs=_rating_alternatives, script=script) as fake:
        spec = {"model": "fake-judge", "base_url": fake.base_url, "api_key_env": None, "scoring": "logprobs",
                "max_retries": 2}
        settings = _judged(spec)
        result = judge("mtbench", responses, DEMO, settings, tmp_path / "cache", fake.base_url, tmp_path / "work", "b/m")
        assert fake.faults == {"no-logprobs": 2 * 3}  # both turns of the question, each asked 3 times
        broken["on"] = False
        n = fake.requests
        healed = judge("mtbench", responses, DEMO, settings, tmp_path / "cache", fake.base_url, tmp_path / "work",
                       "b/m")
        assert fake.requests - n == 2 * 2  # only the failed two again (each with its "[[1" follow-up)
    metrics = result["metrics"]
    assert (metrics["n_failed"], metrics["n_judgments"], metrics["n_parse_failures"]) == (2, 6, 0)
    assert metrics["score"] == pytest.approx(6.875) and "no logprobs" in metrics["failure"]
    failed = [d for d in result["details"] if "failed" in d]
    assert [d["question_id"] for d in failed] == [responses[0]["question_id"]] * 2
    assert all(d["rating"] is None and "no logprobs" in d["failed"] for d in failed)
    assert healed["metrics"]["n_judged"] == 6 and "n_failed" not in healed["metrics"]


def _samples() -> list[dict]:
    base = {"src_lang": "de", "tgt_lang": "en", "direction": "de-en", "reference": "Hello."}
    return [{**base, "id": 0, "source": "Hallo.", "rationale": "Back to German: Hallo. 'Hallo' is an interjection."},
            {**base, "id": 1, "source": "UNSURE", "rationale": "Some words."}]


def _category_alternatives(body: dict) -> dict[str, float]:
    """Yes for Back-translation and Grammar; no verdict at all for Factual supplement of sample 1."""
    prompt = body["messages"][-1]["content"]
    if "UNSURE" in prompt and "\nFactual supplement:" in prompt:
        return {"The": 0.9, "A": 0.1}
    if "\nBack-translation:" in prompt:
        return {" yes": 0.2, "No": 0.1, "I": 0.7}
    if "\nGrammar:" in prompt:
        return {"Yes": 0.6, "No": 0.3, "The": 0.1}
    return {"No": 0.8, "Yes": 0.1, "The": 0.1}


def test_table4_categories_by_yes_against_no_through_a_real_server(tmp_path):
    from radis.analysis.rationales import CATEGORIES, classify_by_logprobs

    template = (REPO / "workflow/resources/prompts/rationale_category_yesno.txt").read_text()
    with FakeOpenAI(top_logprobs=_category_alternatives) as fake:
        labels, p_yes = classify_by_logprobs(JudgeClient(_judge(fake), tmp_path), _samples(), template)
        assert fake.requests == 2 * len(CATEGORIES)  # one yes/no question per sample and category
        assert all("Answer with Yes or No." in b["messages"][-1]["content"] for b in fake.answered)
    assert labels == [["back_translation", "grammar"], None]
    assert p_yes[0]["back_translation"] == pytest.approx(2 / 3) and p_yes[0]["semantic_explanation"] == pytest.approx(1 / 9)
    assert p_yes[1]["factual_supplement"] is None


def test_table4_command_records_the_scoring(tmp_path):
    from radis.cli import main
    from radis.io import write_jsonl

    write_jsonl(tmp_path / "synth/de-en.jsonl", _samples())
    out = tmp_path / "table4.json"
    with FakeOpenAI(top_logprobs=_category_alternatives) as fake:
        settings = {"judge_name": "fake", "per_direction": 2, "seed": 0, "device": "cpu",
                    "judge": {"model": "fake-judge", "base_url": fake.base_url, "api_key_env": None,
                              "scoring": "logprobs"}}
        code = main(["table4", "--synth-dir", str(tmp_path / "synth"), "--directions", "de-en", "--prompt",
                     str(REPO / "workflow/resources/prompts/rationale_category_yesno.txt"), "--cache-dir",
                     str(tmp_path / "cache"), "--out", str(out), "--table", str(tmp_path / "table4"),
                     "--settings", json.dumps(settings)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["scoring"] == "logprobs"
    assert result["occurrence"]["classified"] == 1 and result["occurrence"]["parse_failures"] == 1
    assert [i["categories"] for i in sorted(result["items"], key=lambda i: i["id"])] == [
        ["back_translation", "grammar"], None]
    assert "P(Yes) vs P(No)" in (tmp_path / "table4.md").read_text()


# --- the builtin server continues an assistant message and returns OpenAI-format logprobs ----------

@pytest.fixture(scope="module")
def tiny_served(tmp_path_factory):
    from tiny_lm import build_tiny_lm

    from radis.judges.serving import local_server

    root = tmp_path_factory.mktemp("tiny-judge")
    model = build_tiny_lm(root / "model")
    with local_server(model, log_path=root / "server.log") as base_url:
        yield model, base_url


def test_builtin_server_continues_the_prefilled_rating(tiny_served):
    import openai
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir, base_url = tiny_served
    messages = [{"role": "system", "content": "Rate the answer."}, {"role": "user", "content": "Q: 2+2? A: 4"}]
    client = openai.OpenAI(api_key="EMPTY", base_url=base_url, max_retries=0)
    r = client.chat.completions.create(
        model="tiny", messages=[*messages, {"role": "assistant", "content": RATING_PREFIX}], max_tokens=1,
        temperature=0, logprobs=True, top_logprobs=TOP_LOGPROBS,
        extra_body={"continue_final_message": True, "add_generation_prompt": False})
    tops = r.choices[0].logprobs.content[0].top_logprobs

    # what the model itself gives after the open assistant turn "Rating: [["
    tok = AutoTokenizer.from_pretrained(model_dir)
    text = tok.apply_chat_template([*messages, {"role": "assistant", "content": RATING_PREFIX}], tokenize=False,
                                   continue_final_message=True)
    assert text.endswith(RATING_PREFIX)
    ids = tok(text, add_special_tokens=False).input_ids
    with torch.inference_mode():
        logits = AutoModelForCausalLM.from_pretrained(model_dir)(torch.tensor([ids])).logits[0, -1]
    values, top_ids = torch.topk(torch.log_softmax(logits.float(), -1), TOP_LOGPROBS)
    assert [t.token for t in tops] == [tok.decode([i]) for i in top_ids.tolist()]
    assert [t.logprob for t in tops] == pytest.approx(values.tolist(), abs=1e-4)
    assert sum(math.exp(t.logprob) for t in tops) <= 1 + 1e-4

    with pytest.raises(openai.BadRequestError, match="assistant message last"):
        client.chat.completions.create(model="tiny", messages=messages, max_tokens=1,
                                       extra_body={"continue_final_message": True, "add_generation_prompt": False})
