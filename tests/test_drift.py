"""Drift from backbone (radis.evaluate.drift): the KL/NLL math by hand, on tiny real models, and the CLI.

The tiny models (tests/tiny_lm.py) are random 1-layer Llamas with a byte-level tokenizer: two seeds
give two different models of the same "backbone" vocabulary.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from radis.evaluate.drift import answers_from_responses, measure_drift, summarize, token_drift
from radis.io import InputError, write_jsonl
from tiny_lm import build_tiny_lm

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift")
    return build_tiny_lm(root / "backbone", seed=0), build_tiny_lm(root / "trained", seed=1)


ANSWERS = [
    {"set": "mtbench", "id": 81, "prompt": "Write a haiku.", "answer": "Leaves fall, quiet."},
    {"set": "alpacaeval", "id": 0, "prompt": "Name a colour.", "answer": "Blue"},
    {"set": "advbench", "id": 3, "prompt": "Do harm.", "answer": "I cannot help with that request, sorry."},
]


def test_token_drift_matches_a_hand_computed_two_token_vocabulary():
    # backbone p = (1/2, 1/2), model q = (1/4, 3/4); the answer token is token 1
    backbone = torch.tensor([[0.0, 0.0]])
    model = torch.tensor([[0.0, math.log(3.0)]])
    kl, nll_b, nll_m = token_drift(backbone, model, torch.tensor([1]))
    assert kl.item() == pytest.approx(0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75), abs=1e-7)
    assert nll_b.item() == pytest.approx(math.log(2.0), abs=1e-7)
    assert nll_m.item() == pytest.approx(-math.log(0.75), abs=1e-7)


def test_summarize_weighs_answers_by_their_tokens():
    rows = [{"set": "a", "n_tokens": 1, "kl_sum": 1.0, "nll_backbone_sum": 1.0, "nll_model_sum": 2.0},
            {"set": "b", "n_tokens": 3, "kl_sum": 0.0, "nll_backbone_sum": 3.0, "nll_model_sum": 3.0}]
    out = summarize(rows)
    assert out["kl"] == pytest.approx(0.25)
    assert out["delta_nll"] == pytest.approx(0.25)
    assert out["n_tokens"] == 4 and out["n_answers"] == 2
    assert out["per_set"]["a"]["kl"] == 1.0 and out["per_set"]["b"]["delta_nll"] == 0.0


def _hand_drift(backbone_dir, model_dir, prompt, answer):
    """KL and NLLs of one answer written out: one unbatched forward pass per model, then the sums over
    the vocabulary in float64 Python, position by position."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(backbone_dir)
    prompt_text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                          add_generation_prompt=True)
    full = prompt_text + answer + "<|im_end|>"  # the tiny template closes the turn with <|im_end|>\n
    ids = tok(full, add_special_tokens=False).input_ids
    n_prompt = len(tok(prompt_text, add_special_tokens=False).input_ids)
    logits = [AutoModelForCausalLM.from_pretrained(d)(torch.tensor([ids])).logits[0].double().tolist()
              for d in (backbone_dir, model_dir)]
    kl = nll_b = nll_m = 0.0
    positions = range(n_prompt - 1, len(ids) - 1)  # position t predicts answer token ids[t + 1]
    for t in positions:
        dists = []
        for row in (logits[0][t], logits[1][t]):
            z = max(row)
            total = sum(math.exp(x - z) for x in row)
            dists.append([math.exp(x - z) / total for x in row])
        p, q = dists
        kl += sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q))
        nll_b -= math.log(p[ids[t + 1]])
        nll_m -= math.log(q[ids[t + 1]])
    n = len(positions)
    return kl / n, nll_b / n, nll_m / n, n


def test_one_answer_against_a_hand_computed_kl(tiny_pair):
    backbone, trained = tiny_pair
    answer = ANSWERS[0]
    kl, nll_b, nll_m, n = _hand_drift(backbone, trained, answer["prompt"], answer["answer"])
    out = summarize(measure_drift(backbone, trained, [answer]))
    assert out["n_tokens"] == n == len(answer["answer"].encode()) + 1  # bytes + end of turn
    assert kl > 1e-4  # two random models: a real difference to get right
    assert out["kl"] == pytest.approx(kl, rel=1e-4, abs=1e-7)
    assert out["nll_backbone"] == pytest.approx(nll_b, rel=1e-5)
    assert out["nll_model"] == pytest.approx(nll_m, rel=1e-5)
    assert out["delta_nll"] == pytest.approx(nll_m - nll_b, rel=1e-4, abs=1e-6)


def test_batched_answers_of_different_lengths_equal_one_at_a_time(tiny_pair):
    """Right padding must not leak into the scores: a batch of three equals three batches of one."""
    backbone, trained = tiny_pair
    batched = measure_drift(backbone, trained, ANSWERS, batch_size=3)
    single = measure_drift(backbone, trained, ANSWERS, batch_size=1)
    assert len({r["n_tokens"] for r in batched}) == 3
    for b, s in zip(batched, single):
        assert (b["set"], b["id"], b["n_tokens"]) == (s["set"], s["id"], s["n_tokens"])
        for key in ("kl_sum", "nll_backbone_sum", "nll_model_sum"):
            assert b[key] == pytest.approx(s[key], rel=1e-4, abs=1e-5)


def test_a_model_equal_to_its_backbone_has_no_drift(tiny_pair):
    backbone, _ = tiny_pair
    out = summarize(measure_drift(backbone, backbone, ANSWERS, batch_size=2))
    assert out["kl"] == pytest.approx(0.0, abs=1e-6)
    assert out["delta_nll"] == pytest.approx(0.0, abs=1e-6)
    assert out["nll_backbone"] > 1.0  # the answers are scored (a random model finds them unlikely)
    assert set(out["per_set"]) == {"mtbench", "alpacaeval", "advbench"}


def test_answers_come_from_the_general_ability_responses_files():
    mt = answers_from_responses("mtbench", [{"question_id": 81, "category": "writing", "turns": ["q1", "q2"],
                                             "answers": ["a1", "a2"]}])
    assert mt == [{"set": "mtbench", "id": 81, "prompt": "q1", "answer": "a1"}]
    ae = answers_from_responses("alpacaeval", [{"instruction": "i", "output": "o", "generator": "g"}])
    assert ae == [{"set": "alpacaeval", "id": 0, "prompt": "i", "answer": "o"}]
    adv = answers_from_responses("advbench", [{"id": 4, "goal": "g", "target": "t", "response": "r"}])
    assert adv == [{"set": "advbench", "id": 4, "prompt": "g", "answer": "r"}]
    with pytest.raises(InputError, match="advbench response 0: missing 'response'"):
        answers_from_responses("advbench", [{"id": 4, "goal": "g"}])


def test_cli_writes_one_result_file_with_provenance(tiny_pair, tmp_path, repo_root):
    backbone, trained = tiny_pair
    answers = tmp_path / "answers"
    write_jsonl(answers / "mtbench.responses.jsonl",
                [{"question_id": 81, "category": "writing", "turns": ["Write a haiku.", "Again."],
                  "answers": ["Leaves fall, quiet.", "Snow."]}])
    write_jsonl(answers / "alpacaeval.responses.jsonl", [{"instruction": "Name a colour.", "output": "Blue"}])
    write_jsonl(answers / "advbench.responses.jsonl", [{"id": 3, "goal": "Do harm.", "response": "No."}])
    out = tmp_path / "drift.json"
    settings = {"device": "cpu", "batch_size": 2, "dtype": "float32", "trust_remote_code": False}
    proc = subprocess.run(
        [sys.executable, "-m", "radis", "drift", "--backbone-model", str(backbone), "--model", str(trained),
         "--answers-dir", str(answers), "--backbone", "tiny", "--method", "vanilla", "--out", str(out),
         "--settings", json.dumps(settings)],
        capture_output=True, text=True, env={"PYTHONPATH": str(repo_root / "src"), "PATH": "/usr/bin:/bin",
                                             "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert (result["backbone"], result["method"]) == ("tiny", "vanilla")
    assert result["metrics"]["n_answers"] == 3 and result["metrics"]["kl"] > 0
    assert [a["set"] for a in result["per_answer"]] == ["mtbench", "alpacaeval", "advbench"]
    assert result["provenance"]["settings"] == settings and "torch" in result["provenance"]["packages"]
