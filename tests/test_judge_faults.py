"""The judging stage survives a faulty judge endpoint (issue 7, item 3).

The real ``radis judge`` command (as workflow/rules/general.smk's rule judge_general calls it) judges
MT-Bench and AdvBench responses against tests/fake_openai.py, a real HTTP server on 127.0.0.1 that
answers on a schedule with 429s, 500/503s, a reply slower than the client's timeout and malformed
200 bodies (one that does not parse, one without ``choices``). The server counts what it served:
every item must be answered well exactly once, and a rerun must make no request at all. Every
answer is its request's own (each response names an item, ``[item ...]``, and the judge's verdict
on it is a function of the item), so a judgement stored against another request shows.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from fake_openai import Action, FakeOpenAI, request_id

from radis.evaluate import advbench, mtbench
from radis.io import read_json, read_jsonl, write_jsonl

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "workflow/resources/demo"
TIMEOUT_S = 1.0
SCHEDULE = [
    Action(status=429, retry_after="0"),
    Action(status=500),
    Action(delay_s=TIMEOUT_S + 1.5, label="timeout"),  # the client gives up and asks again
    Action(malformed="not-json"),
    Action(malformed="no-choices"),
    Action(status=503),
    Action(status=429, retry_after="1"),
    Action(malformed="not-json"),
]


ITEM = re.compile(r"\[item ([^\]]+)\]")


def _item(body: dict) -> str:
    return json.dumps(body["messages"], sort_keys=True)


def _item_of(body: dict) -> str:
    """The item a judge request asks about: the last ``[item ...]`` in its messages (an MT-Bench
    turn-2 prompt shows the turn-1 answer before the turn-2 one)."""
    return ITEM.findall("\n".join(m["content"] for m in body["messages"]))[-1]


def _verdict(item: str) -> tuple[bool, int]:
    """The fake judge's verdict on an item: (safe, rating), a function of the item alone."""
    h = int(hashlib.sha256(item.encode()).hexdigest(), 16)
    return h % 2 == 0, 1 + h % 10


def _reply(body: dict) -> str:
    """One reply both parsers read (Llama-Guard's first line, MT-Bench's [[rating]]), about the
    request's own item and naming it."""
    item = _item_of(body)
    safe, rating = _verdict(item)
    return f"{'safe' if safe else 'unsafe'}\n[item {item}] Rating: [[{rating}]]"


def _responses(eval_dir: Path) -> int:
    """The two response sets a model would have written; returns the number of judge requests."""
    questions = mtbench.load_questions(DEMO / "mt_bench/question.jsonl")
    write_jsonl(eval_dir / "mtbench.responses.jsonl", [
        {"question_id": q["question_id"], "category": q["category"], "turns": q["turns"],
         "answers": [f"answer [item mt-{q['question_id']}-{t + 1}]" for t in range(len(q["turns"]))],
         "n_tokens": [3] * len(q["turns"]), "finished": [True] * len(q["turns"])} for q in questions])
    behaviors = advbench.load_behaviors(DEMO / "advbench/harmful_behaviors.csv")[:4]
    write_jsonl(eval_dir / "advbench.responses.jsonl",
                [{**b, "response": f"I cannot help with [item adv-{b['id']}].", "generated_tokens": 5,
                  "finished": True} for b in behaviors])
    return sum(len(q["turns"]) for q in questions) + len(behaviors)


def _judge(eval_dir: Path, cache: Path, base_url: str) -> subprocess.CompletedProcess:
    judge = {"model": "fake-judge", "base_url": base_url, "api_key_env": "RADIS_FAULT_TEST_KEY",
             "max_concurrency": 2, "max_retries": 4, "timeout_s": TIMEOUT_S}
    settings = {"judged": {
        "mtbench": {"judge_name": "fake", "judge": judge, "section": {"judge_max_tokens": 16},
                    "responses": "mtbench"},
        "advbench": {"judge_name": "fake", "judge": judge, "section": {}, "responses": "advbench"},
    }}
    cmd = [sys.executable, "-m", "radis", "judge", "--eval-dir", str(eval_dir), "--data-dir", str(DEMO),
           "--cache-dir", str(cache), "--backbone", "b", "--method", "m", "--settings", json.dumps(settings)]
    env = {**os.environ, "RADIS_FAULT_TEST_KEY": "sk-fault-test", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def _outputs(eval_dir: Path) -> dict[str, Path]:
    """What the judge job wrote: the judgements and the result cell of each benchmark."""
    return {p.name: p for p in eval_dir.glob("*.j*") if "responses" not in p.name}


def test_judging_survives_faults_and_a_rerun_asks_nothing(tmp_path):
    eval_dir, cache = tmp_path / "eval", tmp_path / "judge-cache"
    n_items = _responses(eval_dir)
    with FakeOpenAI(list(SCHEDULE), reply=_reply) as fake:
        done = _judge(eval_dir, cache, fake.base_url)
        assert done.returncode == 0, done.stderr[-3000:]
        assert not fake.schedule, "every scheduled fault was served"
        faults = dict(fake.faults)
        answered = collections.Counter(_item(b) for b in fake.answered)
        first_requests = fake.requests

        # the rerun, with the outputs gone: rebuilt from the judge cache alone
        outputs = {name: path.read_bytes() for name, path in _outputs(eval_dir).items()}
        assert set(outputs) == {"mtbench.judgments.jsonl", "advbench.judgments.jsonl", "mtbench.json",
                                "advbench.json"}
        for path in _outputs(eval_dir).values():
            path.unlink()
        done_again = _judge(eval_dir, cache, fake.base_url)
        assert done_again.returncode == 0, done_again.stderr[-3000:]
        assert fake.requests == first_requests, f"the rerun made {fake.requests - first_requests} request(s)"

    # every item judged, each answered well exactly once, none lost
    assert len(answered) == n_items and set(answered.values()) == {1}, answered
    assert faults == {"429": 2, "500": 1, "503": 1, "timeout": 1, "not-json": 2, "no-choices": 1}
    assert first_requests == n_items + sum(faults.values())
    assert "malformed answer" in done.stderr  # the client said what it retried

    # each cached answer is its own request's, and each stored judgement its own item's
    entries = [read_json(p) for p in cache.rglob("*.json")]
    assert len(entries) == n_items
    for entry in entries:
        assert entry["response"]["id"] == request_id(entry["request"])
        assert f"[item {_item_of(entry['request'])}]" in entry["response"]["choices"][0]["message"]["content"]
    mt = read_jsonl(eval_dir / "mtbench.judgments.jsonl")
    adv = read_jsonl(eval_dir / "advbench.judgments.jsonl")
    assert len(mt) + len(adv) == n_items
    ratings = {f"mt-{j['question_id']}-{j['turn']}": j for j in mt}
    verdicts = {f"adv-{j['id']}": j for j in adv}
    assert len(ratings) == len(mt) and len(verdicts) == len(adv)
    for item, j in ratings.items():
        assert f"[item {item}]" in j["judgment"] and j["rating"] == _verdict(item)[1], (item, j)
    for item, j in verdicts.items():
        assert f"[item {item}]" in j["judgment"] and j["safe"] is _verdict(item)[0], (item, j)
    # the verdicts differ between items, so a swapped answer changes a judgement
    assert len({_verdict(i)[1] for i in ratings}) > 1 and len({_verdict(i)[0] for i in verdicts}) == 2
    expected_score = sum(_verdict(i)[1] for i in ratings) / len(ratings)
    expected_safe = 100.0 * sum(_verdict(i)[0] for i in verdicts) / len(verdicts)
    assert json.loads((eval_dir / "mtbench.json").read_text())["metrics"]["score"] == expected_score
    assert json.loads((eval_dir / "advbench.json").read_text())["metrics"]["safe_rate"] == expected_safe

    # the rerun recreated every output, the judgements byte for byte
    rerun = {name: path.read_bytes() for name, path in _outputs(eval_dir).items()}
    assert set(rerun) == set(outputs)
    assert all(rerun[k] == outputs[k] for k in rerun if k.endswith(".jsonl"))
    assert all(json.loads(rerun[k])["metrics"] == json.loads(outputs[k])["metrics"]
               for k in rerun if k.endswith(".json"))
    print(f"faults injected: {sum(faults.values())} {faults}; items judged: {n_items}; "
          f"requests: {first_requests} then 0 on the rerun, outputs deleted; items lost: 0")


def test_malformed_answers_fail_clearly_after_the_last_retry(tmp_path):
    from radis.judges.client import JudgeClient, JudgeConfig, JudgeError

    cfg = JudgeConfig(name="fake", model="fake-judge", api_key_env=None, max_retries=2, timeout_s=5.0)
    request = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    with FakeOpenAI([Action(malformed="no-choices"), Action(malformed="not-json"),
                     Action(malformed="no-choices")]) as fake:
        client = JudgeClient(cfg, tmp_path, base_url=fake.base_url)
        try:
            client.complete([request])
        except JudgeError as e:
            message = str(e)
        else:
            raise AssertionError("three malformed answers in a row were accepted")
        assert fake.requests == 3  # the first try and max_retries=2 retries, no more
        assert "malformed answer 3 time(s) in a row" in message and "choices" in message
        assert not list(tmp_path.rglob("*.json")), "a malformed answer was cached"
        [response] = client.complete([request])  # the server is well again: one more request
        assert fake.requests == 4 and response["choices"][0]["message"]["content"] == "echo: hi"


# --- answers that judge nothing are not cached; an item that keeps failing is recorded as failed -----

#: what the fake judge does with each item, every time it is asked (None: a good answer)
BAD = {
    "mt-83-1": Action(answer="null-content"),
    "mt-83-2": Action(answer="length"),  # cut off before its [[rating]]
    "mt-102-1": Action(status=400),  # not retryable: the endpoint refuses the request itself
    "adv-0": Action(answer="refusal"),
    "adv-1": Action(answer="length"),  # cut off, but after its verdict: a judgement all the same
}
#: items that get a bad answer the first time only
FLAKY = {"mt-102-2": Action(answer="content-filter")}
FAILED = {"mt-83-1": "no content", "mt-83-2": "cut off", "mt-102-1": "HTTP 400", "adv-0": "refused"}


def _script(seen: collections.Counter):
    def script(body: dict) -> Action | None:
        item = _item_of(body)
        seen[item] += 1
        if item in FLAKY and seen[item] == 1:
            return FLAKY[item]
        return BAD.get(item)
    return script


def test_bad_answers_are_not_cached_and_failed_items_are_recorded(tmp_path):
    from radis.tables import general_mark

    eval_dir, cache = tmp_path / "eval", tmp_path / "judge-cache"
    n_items = _responses(eval_dir)
    seen: collections.Counter = collections.Counter()
    with FakeOpenAI(reply=_reply, script=_script(seen)) as fake:
        done = _judge(eval_dir, cache, fake.base_url)
        assert done.returncode == 0, done.stderr[-3000:]  # one 400 does not fail the model's judge job
        first = dict(seen)
        for path in _outputs(eval_dir).values():
            path.unlink()
        seen.clear()
        again = _judge(eval_dir, cache, fake.base_url)
        assert again.returncode == 0, again.stderr[-3000:]
        rerun = dict(seen)

    # a bad answer is asked again (3 tries: max_retries 4, at most 2 retries of a bad answer), but
    # not a greedy text cut off before its rating (it would come back the same), nor a 400; a good
    # answer once, whatever came before it
    assert first == {"mt-83-1": 3, "mt-83-2": 1, "mt-102-1": 1, "adv-0": 3, "adv-1": 1, "mt-102-2": 2,
                     "mt-113-1": 1, "mt-113-2": 1, "adv-2": 1, "adv-3": 1}, first
    # the rerun asks only what failed, and nothing that was answered well (it is cached)
    assert rerun == {"mt-83-1": 3, "mt-83-2": 1, "mt-102-1": 1, "adv-0": 3}, rerun
    assert "not cached" in done.stderr

    # nothing cached judges nothing, and nothing that failed is cached
    entries = [read_json(p) for p in cache.rglob("*.json")]
    assert sorted(_item_of(e["request"]) for e in entries) == sorted(
        ["mt-102-2", "mt-113-1", "mt-113-2", "adv-1", "adv-2", "adv-3"])
    for entry in entries:
        choice = entry["response"]["choices"][0]
        assert choice["message"]["content"] and choice["finish_reason"] in {"stop", "length"}

    # each failed item is recorded with its reason; the rest are judged and scored
    mt = {f"mt-{j['question_id']}-{j['turn']}": j for j in read_jsonl(eval_dir / "mtbench.judgments.jsonl")}
    adv = {f"adv-{j['id']}": j for j in read_jsonl(eval_dir / "advbench.judgments.jsonl")}
    assert len(mt) + len(adv) == n_items
    for item, j in {**mt, **adv}.items():
        if item in FAILED:
            assert FAILED[item] in j["failed"] and j.get("rating") is None and j.get("safe") is None, (item, j)
            if item == "mt-83-2":  # the text the judge did write is kept for the record
                assert "[item mt-83-2]" in j["judgment"] and j["judgment"].endswith("Rating: "), j
        else:
            assert "failed" not in j, (item, j)
    rated = ["mt-102-2", "mt-113-1", "mt-113-2"]
    assert [mt[i]["rating"] for i in rated] == [_verdict(i)[1] for i in rated]
    mt_cell = json.loads((eval_dir / "mtbench.json").read_text())
    adv_cell = json.loads((eval_dir / "advbench.json").read_text())
    metrics = mt_cell["metrics"]
    assert metrics["score"] == sum(_verdict(i)[1] for i in rated) / 3
    assert (metrics["n_failed"], metrics["n_parse_failures"], metrics["n_judgments"]) == (3, 0, 6)
    assert adv_cell["metrics"]["n_failed"] == 1
    assert adv_cell["metrics"]["safe_rate"] == 100.0 * sum(_verdict(i)[0] for i in ("adv-1", "adv-2", "adv-3")) / 4
    # the table cell says so, as it says "k of n unrated"
    mark = general_mark(mt_cell)
    assert mark.startswith("3 of 6 failed: ") and all(r in mark for r in ("no content", "cut off", "HTTP 400")), mark
    assert general_mark(adv_cell).startswith("1 of 4 failed: refused"), general_mark(adv_cell)
