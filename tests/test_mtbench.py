"""MT-Bench: readers on FastChat's real files, FastChat's judge prompts filled exactly, rating parsing,
score arithmetic, and two-turn answer generation through the real chat template."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from unittest.mock import patch

import pytest
from scripts import load_script

from radis.evaluate import mtbench
from radis.generation import Generation
from radis.io import InputError
from radis.settings import DecodingParams

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mt_bench"
DEMO = Path(__file__).resolve().parents[1] / "workflow" / "resources" / "demo" / "mt_bench"
needs_data = pytest.mark.skipif(not (DATA / "question.jsonl").exists(), reason=f"{DATA} not present")

PLACEHOLDER = re.compile(r"\{(question|answer|ref_answer)(_\d)?\}")


# --- readers -------------------------------------------------------------------------------


@needs_data
def test_readers_on_real_files():
    questions = mtbench.load_questions(DATA / "question.jsonl")
    assert len(questions) == 80
    cats = {}
    for q in questions:
        cats[q["category"]] = cats.get(q["category"], 0) + 1
        assert len(q["turns"]) == 2
    assert cats == dict.fromkeys(
        ["writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"], 10)

    prompts = mtbench.load_judge_prompts(DATA / "judge_prompts.jsonl")
    assert len(prompts) == 8
    assert set(mtbench.SINGLE_JUDGES) <= set(prompts)

    refs = mtbench.load_reference_answers(DATA / "reference_answer" / "gpt-4.jsonl")
    assert len(refs) == 30 and set(refs) == set(range(101, 131))
    assert all(len(t) == 2 for t in refs.values())
    # every question that needs a reference has one
    need = {q["question_id"] for q in questions if q["category"] in mtbench.NEED_REF_CATS}
    assert need == set(refs)


def test_reader_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "question.jsonl"
    bad.write_text('{"question_id": 1, "category": "writing", "turns": ["a", "b"]}\n\n'
                   '{"question_id": 2, "category": "writing"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=rf"{re.escape(str(bad))}:3: missing key 'turns'"):
        mtbench.load_questions(bad)
    bad.write_text('{"question_id": 1, "category": "writing", "turns": ["a"]}\n{oops\n', encoding="utf-8")
    with pytest.raises(InputError, match=r":2: malformed JSON"):
        mtbench.load_questions(bad)
    ref = tmp_path / "gpt-4.jsonl"
    ref.write_text('{"question_id": 1, "choices": [{"turns": ["x", "y"]}]}\n'
                   '{"question_id": 1, "choices": [{"turns": ["x", "y"]}]}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r":2: duplicate question_id 1"):
        mtbench.load_reference_answers(ref)


# --- judge requests ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real():
    if not (DATA / "question.jsonl").exists():
        pytest.skip(f"{DATA} not present")
    questions = {q["question_id"]: q for q in mtbench.load_questions(DATA / "question.jsonl")}
    return (questions, mtbench.load_judge_prompts(DATA / "judge_prompts.jsonl"),
            mtbench.load_reference_answers(DATA / "reference_answer" / "gpt-4.jsonl"))


def _answer(q, answers):
    return {"question_id": q["question_id"], "category": q["category"], "turns": q["turns"],
            "answers": answers}


def test_judge_requests_pick_and_fill_fastchat_prompts(real):
    questions, prompts, refs = real
    writing, math = questions[81], questions[111]
    assert (writing["category"], math["category"]) == ("writing", "math")
    answers = [_answer(writing, ["W-ANSWER-1", "W-ANSWER-2"]), _answer(math, ["M-ANSWER-1", "M-ANSWER-2"])]
    items = mtbench.judge_items(answers, prompts, refs)
    assert [(i["question_id"], i["turn"], i["judge"]) for i in items] == [
        (81, 1, "single-v1"), (111, 1, "single-math-v1"),
        (81, 2, "single-v1-multi-turn"), (111, 2, "single-math-v1-multi-turn"),
    ]
    requests = mtbench.judge_requests(answers, prompts, refs)
    assert requests == [i["request"] for i in items]
    for item, req in zip(items, requests):
        assert set(req) == {"messages", "max_tokens", "temperature"}
        assert req["temperature"] == 0 and req["max_tokens"] == 2048
        system, user = req["messages"]
        assert system == {"role": "system", "content": prompts[item["judge"]]["system_prompt"]}
        assert user["role"] == "user"
        assert not PLACEHOLDER.search(user["content"]), user["content"]
    (w1, m1, w2, m2) = [r["messages"][1]["content"] for r in requests]
    wq, mq, mr = writing["turns"], math["turns"], refs[111]

    assert w1.startswith("[Instruction]\nPlease act as an impartial judge")
    assert w1.endswith(f"[Question]\n{wq[0]}\n\n[The Start of Assistant's Answer]\nW-ANSWER-1\n"
                       "[The End of Assistant's Answer]")
    assert "Reference" not in w1

    assert m1.endswith(f"[Question]\n{mq[0]}\n\n[The Start of Reference Answer]\n{mr[0]}\n"
                       "[The End of Reference Answer]\n\n[The Start of Assistant's Answer]\nM-ANSWER-1\n"
                       "[The End of Assistant's Answer]")
    assert mr[1] not in m1

    assert w2 == ("<|The Start of Assistant A's Conversation with User|>\n\n"
                  f"### User:\n{wq[0]}\n\n### Assistant A:\nW-ANSWER-1\n\n"
                  f"### User:\n{wq[1]}\n\n### Assistant A:\nW-ANSWER-2\n\n"
                  "<|The End of Assistant A's Conversation with User|>")
    assert m2 == ("<|The Start of Reference Answer|>\n\n"
                  f"### User:\n{mq[0]}\n\n### Reference answer:\n{mr[0]}\n\n"
                  f"### User:\n{mq[1]}\n\n### Reference answer:\n{mr[1]}\n\n"
                  "<|The End of Reference Answer|>\n\n\n"
                  "<|The Start of Assistant A's Conversation with User|>\n\n"
                  f"### User:\n{mq[0]}\n\n### Assistant A:\nM-ANSWER-1\n\n"
                  f"### User:\n{mq[1]}\n\n### Assistant A:\nM-ANSWER-2\n\n"
                  "<|The End of Assistant A's Conversation with User|>")
    # the multi-turn system prompts keep FastChat's trailing blank line
    assert requests[2]["messages"][0]["content"].endswith("[[5]]\".\n\n")


def test_judge_requests_need_a_reference_for_ref_categories(real):
    questions, prompts, _ = real
    with pytest.raises(ValueError, match="question 111 .math. needs a reference"):
        mtbench.judge_requests([_answer(questions[111], ["a", "b"])], prompts, {})


def test_answers_with_braces_are_not_reformatted(real):
    questions, prompts, refs = real
    ans = _answer(questions[81], ["use {question} and {}", "x"])
    content = mtbench.judge_requests([ans], prompts, refs)[0]["messages"][1]["content"]
    assert "use {question} and {}" in content


# --- rating parsing and score ----------------------------------------------------------------


@pytest.mark.parametrize("text, rating", [
    ("Rating: [[7]]", 7.0),
    ("[[8.5]]", 8.5),
    ("[6]", None),                  # a single bracket is no rating (judges cite "[3]"; FastChat took it)
    ("no rating here", None),
    ("[[10]] ... [[3]]", 10.0),     # FastChat: re.search, the first match
    ("I give [5] now, final: [[9]]", 9.0),
    ("Rating: [[ 7 ]]", None),
])
def test_parse_rating(text, rating):
    assert mtbench.parse_rating(text) == rating


def test_score_by_hand():
    answers = [
        {"question_id": 1, "category": "writing", "turns": ["q", "q"], "answers": ["a", "a"]},
        {"question_id": 2, "category": "math", "turns": ["q", "q"], "answers": ["a", "a"]},
        {"question_id": 3, "category": "math", "turns": ["q", "q"], "answers": ["a", "a"]},
    ]
    ratings = {(1, 1): 8.0, (1, 2): 6.0, (2, 1): 3.0, (2, 2): None, (3, 1): 4.0, (3, 2): 10.0}
    judgments = [{"question_id": q, "turn": t, "rating": r} for (q, t), r in ratings.items()]
    s = mtbench.score(answers, judgments)
    assert s["score"] == pytest.approx((8 + 6 + 3 + 4 + 10) / 5)   # 6.2; the failure is not a zero
    assert s["turn_1"] == pytest.approx((8 + 3 + 4) / 3)
    assert s["turn_2"] == pytest.approx((6 + 10) / 2)
    assert s["per_category"] == {"writing": pytest.approx(7.0), "math": pytest.approx((3 + 4 + 10) / 3)}
    assert (s["n_questions"], s["n_judgments"], s["n_judged"], s["n_parse_failures"]) == (3, 6, 5, 1)
    assert s["parse_failures"] == [{"question_id": 2, "turn": 2}]

    with pytest.raises(ValueError, match="without a judgement"):
        mtbench.score(answers, judgments[:-1])
    all_failed = mtbench.score(answers[:1], [{"question_id": 1, "turn": t, "rating": None} for t in (1, 2)])
    assert all_failed["score"] is None and all_failed["n_parse_failures"] == 2


class FakeJudgeClient:
    """Same ``complete`` interface as radis.judges.client.JudgeClient."""

    def __init__(self, texts):
        self.texts, self.requests = list(texts), []

    def complete(self, requests, check=None):
        self.requests += requests
        return [{"choices": [{"index": 0, "message": {"role": "assistant", "content": self.texts.pop(0)}}]}
                for _ in requests]


def _content(response):
    return response["choices"][0]["message"]["content"]


def test_judge_with_fake_client(real):
    questions, prompts, refs = real
    answers = [_answer(questions[81], ["a1", "a2"]), _answer(questions[111], ["b1", "b2"])]
    client = FakeJudgeClient(["Good. Rating: [[9]]", "meh [[4]]", "no score", "Rating: [[2.5]]"])
    judgments = mtbench.judge(answers, prompts, refs, client, text_of=_content)
    assert client.requests == mtbench.judge_requests(answers, prompts, refs)
    assert [(j["question_id"], j["turn"], j["rating"]) for j in judgments] == [
        (81, 1, 9.0), (111, 1, 4.0), (81, 2, None), (111, 2, 2.5)]
    s = mtbench.score(answers, judgments)
    assert s["score"] == pytest.approx((9 + 4 + 2.5) / 3)
    assert s["parse_failures"] == [{"question_id": 81, "turn": 2}]


def _has_client() -> bool:
    try:
        return importlib.util.find_spec("radis.judges.client") is not None
    except ModuleNotFoundError:  # no radis.judges package yet
        return False


@pytest.mark.skipif(not _has_client(), reason="radis.judges.client not written yet")
def test_judge_uses_the_real_client_text_of(real):
    from radis.judges.client import JudgeClient, text_of

    assert callable(getattr(JudgeClient, "complete", None))
    questions, prompts, refs = real
    answers = [_answer(questions[81], ["a1", "a2"])]
    client = FakeJudgeClient(["Rating: [[7]]", "Rating: [[5]]"])
    # default text_of: radis.judges.client's, on OpenAI-shaped response dicts
    judgments = mtbench.judge(answers, prompts, refs, client)
    assert text_of(FakeJudgeClient(["x"]).complete([{}])[0]) == "x"
    assert [j["rating"] for j in judgments] == [7.0, 5.0]


# --- answer generation ---------------------------------------------------------------------


class FakeGenerator:
    model_dir = Path("/nonexistent")  # no generation config: transformers' sampler defaults

    def __init__(self, tokenizer):
        self.tokenizer, self.calls = tokenizer, []

    def generate(self, prompts, params):
        self.calls.append((list(prompts), params))
        turn = len(self.calls)
        return [Generation(text=f"  T{turn}-ANSWER-{i}\n", n_tokens=5, finished=True)
                for i in range(len(prompts))]


def test_generate_answers_two_turns_with_chat_template(embedded_backbone):
    from transformers import AutoTokenizer

    from radis.prompts import render_generation_prompt

    tok = AutoTokenizer.from_pretrained(embedded_backbone)
    questions = [
        {"question_id": 1, "category": "writing", "turns": ["Write a haiku.", "Now make it rhyme."]},
        {"question_id": 2, "category": "math", "turns": ["What is 2+2?", "And times 3?"]},
    ]
    gen = FakeGenerator(tok)
    params = DecodingParams.from_config({"max_new_tokens": 16})
    records = mtbench.generate_answers(gen, questions, params, temperatures="greedy")

    assert len(gen.calls) == 2 and all(p == params for _, p in gen.calls)  # one batch per turn
    turn1, turn2 = gen.calls[0][0], gen.calls[1][0]
    assert turn1[0] == render_generation_prompt(tok, [{"role": "user", "content": "Write a haiku."}])
    for i, q in enumerate(questions):
        assert turn2[i] == render_generation_prompt(tok, [
            {"role": "user", "content": q["turns"][0]},
            {"role": "assistant", "content": f"T1-ANSWER-{i}"},
            {"role": "user", "content": q["turns"][1]},
        ])
        assert f"T1-ANSWER-{i}" in turn2[i] and q["turns"][0] in turn2[i] and q["turns"][1] in turn2[i]
        pos = [turn2[i].index(s) for s in (q["turns"][0], f"T1-ANSWER-{i}", q["turns"][1])]
        assert pos == sorted(pos)
    assert records == [
        {"question_id": 1, "category": "writing", "turns": questions[0]["turns"],
         "answers": ["T1-ANSWER-0", "T2-ANSWER-0"], "n_tokens": [5, 5], "finished": [True, True],
         "temperature": 0.0, "top_p": None, "top_k": None},
        {"question_id": 2, "category": "math", "turns": questions[1]["turns"],
         "answers": ["T1-ANSWER-1", "T2-ANSWER-1"], "n_tokens": [5, 5], "finished": [True, True],
         "temperature": 0.0, "top_p": None, "top_k": None},
    ]


def test_answers_use_fastchat_temperature_per_category(tmp_path):
    """fschat 0.2.36 gen_model_answer: writing/roleplay 0.7, stem/humanities 0.1, the rest greedy,
    unknown categories 0.7; each turn is one call per temperature. Its ``generate(do_sample=True,
    temperature=t)`` keeps the model's generation config: its top_p (LLaMA-2-Chat's 0.9), and
    transformers' top-k 50 where the config names none."""
    class Recorder:
        tokenizer = None
        model_dir = tmp_path

        def __init__(self):
            self.calls = []

        def generate(self, prompts, params):
            self.calls.append((len(prompts), params.temperature, params.greedy,
                               None if params.greedy else (params.top_p, params.top_k)))
            return [Generation(text="a", n_tokens=1, finished=True) for _ in prompts]

    (tmp_path / "generation_config.json").write_text('{"do_sample": true, "temperature": 0.6, "top_p": 0.9}')
    questions = [{"question_id": i, "category": c, "turns": ["q1", "q2"]}
                 for i, c in enumerate(["writing", "roleplay", "stem", "humanities", "math", "coding", "new-cat"])]
    gen = Recorder()
    with patch("radis.prompts.render_generation_prompt", lambda tok, messages: str(messages)):
        records = mtbench.generate_answers(gen, questions, DecodingParams.from_config({"max_new_tokens": 8}), "fastchat")
    assert [r["temperature"] for r in records] == [0.7, 0.7, 0.1, 0.1, 0.0, 0.0, 0.7]
    assert gen.calls == [(2, 0.0, True, None), (2, 0.1, False, (0.9, 50)), (3, 0.7, False, (0.9, 50))] * 2
    assert [r["top_p"] for r in records] == [0.9, 0.9, 0.9, 0.9, None, None, 0.9]
    assert all(len(r["answers"]) == 2 for r in records)
    assert mtbench.answer_temperature("writing", "greedy") == 0.0


# --- demo subset ---------------------------------------------------------------------------


def test_shipped_demo_subset():
    questions = mtbench.load_questions(DEMO / "question.jsonl")
    assert sorted(q["category"] for q in questions) == ["math", "reasoning", "writing"]
    prompts = mtbench.load_judge_prompts(DEMO / "judge_prompts.jsonl")
    refs = mtbench.load_reference_answers(DEMO / "reference_answer" / "gpt-4.jsonl")
    need = {q["question_id"] for q in questions if q["category"] in mtbench.NEED_REF_CATS}
    assert set(refs) == need and len(need) == 2
    answers = [_answer(q, ["x", "y"]) for q in questions]
    judges = {i["judge"] for i in mtbench.judge_items(answers, prompts, refs)}
    assert judges == set(mtbench.SINGLE_JUDGES)


@needs_data
def test_demo_subset_is_reproducible_and_byte_identical(tmp_path):
    demo = load_script("make_demo_mtbench")
    chosen = demo.make_demo(DATA, tmp_path)
    for rel in ("question.jsonl", "judge_prompts.jsonl", "reference_answer/gpt-4.jsonl"):
        assert (tmp_path / rel).read_bytes() == (DEMO / rel).read_bytes(), rel
    upstream = set((DATA / "question.jsonl").read_text(encoding="utf-8").splitlines())
    shipped = (DEMO / "question.jsonl").read_text(encoding="utf-8").splitlines()
    assert all(line in upstream for line in shipped)
    assert [q["question_id"] for q in chosen] == [json.loads(line)["question_id"] for line in
                                                   (DEMO / "question.jsonl").read_text().splitlines()]
    two = demo.subset_questions(DATA / "question.jsonl", tmp_path / "q2.jsonl", 2, seed=0)
    assert len(two) == 16
