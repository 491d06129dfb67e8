"""GSM8K through lm-eval: local task YAML, filters/metric, demo subset, one tiny real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("lm_eval")

from radis.evaluate.gsm8k import (  # noqa: E402
    LOCAL_TASK,
    _model_args,
    default_template,
    run_gsm8k,
    task_manager,
    write_task,
)
from radis.settings import Gsm8kSettings, typed  # noqa: E402
from scripts import load_script  # noqa: E402

subset_gsm8k = load_script("make_demo_gsm8k").subset_gsm8k

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "workflow" / "resources" / "demo" / "gsm8k"
SHARED = REPO.parent / "shared" / "data" / "gsm8k"


@pytest.fixture(scope="module")
def local_task(tmp_path_factory):
    """The local task built from the shipped demo files, loaded through lm-eval's TaskManager."""
    task_dir = tmp_path_factory.mktemp("lm_eval_tasks")
    path = write_task(task_dir, DEMO / "test.jsonl", DEMO / "train.jsonl",
                      cache_dir=task_dir.parent / "hf_datasets")
    loaded = task_manager(task_dir).load([LOCAL_TASK])
    return path, loaded["tasks"][LOCAL_TASK]


def _builtin_config() -> dict:
    import lm_eval

    return yaml.safe_load(
        (Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml").read_text()
    )


def test_template_mirrors_builtin_gsm8k():
    ours = yaml.safe_load(default_template().read_text())
    theirs = _builtin_config()
    data_keys = {"task", "tag", "dataset_path", "dataset_name", "dataset_kwargs"}
    assert {k: v for k, v in ours.items() if k not in data_keys} == {
        k: v for k, v in theirs.items() if k not in data_keys
    }
    assert theirs["dataset_path"] == "openai/gsm8k" and theirs["dataset_name"] == "main"
    assert ours["dataset_path"] == "json"


def test_written_yaml_has_absolute_paths(local_task):
    path, _ = local_task
    cfg = yaml.safe_load(path.read_text())
    assert cfg["task"] == LOCAL_TASK
    files = cfg["dataset_kwargs"]["data_files"]
    assert files == {"train": str((DEMO / "train.jsonl").resolve()),
                     "test": str((DEMO / "test.jsonl").resolve())}


def test_write_task_rejects_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_task(tmp_path, tmp_path / "nope.jsonl", DEMO / "train.jsonl")


def test_local_task_docs_and_five_shot_prompt(local_task):
    _, task = local_task
    test_docs, train_docs = list(task.test_docs()), list(task.fewshot_docs())
    assert len(test_docs) == 8
    assert len(train_docs) == 16
    doc = test_docs[0]
    prompt = task.fewshot_context(doc, num_fewshot=5)
    assert isinstance(prompt, str)
    assert prompt.endswith(f"Question: {doc['question']}\nAnswer:")
    train_questions = [d["question"] for d in train_docs]
    used = [q for q in train_questions if f"Question: {q}\nAnswer:" in prompt]
    assert len(used) == 5
    assert prompt.count("Question:") == 6 and prompt.count("#### ") == 5


# (model output, gold answer line, strict-match correct, flexible-extract correct)
CASES = [
    ("The answer is 42.", "#### 42", False, True),
    ("6 * 7 = 42\n#### 42", "#### 42", True, True),
    ("She pays $1,234 in total.\n#### 1,234", "#### 1234", True, True),
    ("So it costs $18.", "#### 18", False, True),
    ("It drops by 5 degrees.\n#### -5", "#### -5", True, True),
    ("#### 42, checked 3 times", "#### 42", True, False),  # flexible takes the last number
    ("3 apples and 5 pears make 8 fruits", "#### 8", False, True),
    ("#### 41", "#### 42", False, False),
    ("I am not sure.", "#### 42", False, False),
]


@pytest.mark.parametrize("response,gold,strict_ok,flexible_ok", CASES)
def test_filters_and_exact_match(local_task, response, gold, strict_ok, flexible_ok):
    """lm-eval's own filter pipelines and exact_match metric from the task config, on a fake output."""
    from lm_eval.api.instance import Instance

    _, task = local_task
    doc = {"question": "q?", "answer": f"Some reasoning.\n{gold}"}
    names = [f.name for f in task._filters]
    assert names == ["strict-match", "flexible-extract"]
    got = {}
    for ens in task._filters:
        inst = Instance("generate_until", doc, ("prompt", {}), 0, (LOCAL_TASK, 0, 1),
                        resps=[response])
        ens.apply([inst])
        got[ens.name] = task.process_results(doc, [inst.filtered_resps[ens.name]])["exact_match"]
    assert got == {"strict-match": float(strict_ok), "flexible-extract": float(flexible_ok)}


def test_flexible_extract_takes_last_number(local_task):
    from lm_eval.api.instance import Instance

    _, task = local_task
    ens = {f.name: f for f in task._filters}["flexible-extract"]
    inst = Instance("generate_until", {}, ("p", {}), 0, (LOCAL_TASK, 0, 1),
                    resps=["10 + 20 = 30, so 30 * 2 = 60."])
    ens.apply([inst])
    assert inst.filtered_resps["flexible-extract"] == "60."


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared GSM8K mirror not present")
@pytest.mark.parametrize("split,n", [("test", 8), ("train", 16)])
def test_shipped_demo_subset_regenerates(tmp_path, split, n):
    out = tmp_path / f"{split}.jsonl"
    subset_gsm8k(SHARED / f"{split}.jsonl", out, n, 0)
    assert out.read_bytes() == (DEMO / f"{split}.jsonl").read_bytes()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == n and all(len(r["question"]) <= 200 for r in rows)
    assert all(r["answer"].rsplit("\n", 1)[-1].startswith("#### ") for r in rows)


def gsm8k(**section) -> Gsm8kSettings:
    """``general.gsm8k`` settings: these keys, the schema's defaults for the rest (5 shots)."""
    return typed(Gsm8kSettings, section, "general.gsm8k")


def test_run_gsm8k_argument_checks(tmp_path):
    with pytest.raises(ValueError, match="fewshot_as_multiturn"):
        run_gsm8k(tmp_path, test_file=DEMO / "test.jsonl", train_file=DEMO / "train.jsonl",
                  settings=gsm8k(limit=1, apply_chat_template=False, fewshot_as_multiturn=True), work_dir=tmp_path)
    with pytest.raises(ValueError, match="source"):
        run_gsm8k(tmp_path, settings=gsm8k(limit=1, apply_chat_template=False, fewshot_as_multiturn=False),
                  work_dir=tmp_path, source="nowhere")


def test_run_gsm8k_on_embedded_model(embedded_backbone, tmp_path):
    samples = tmp_path / "out" / "samples.jsonl"
    res = run_gsm8k(
        embedded_backbone,
        test_file=DEMO / "test.jsonl",
        train_file=DEMO / "train.jsonl",
        settings=gsm8k(limit=2, apply_chat_template=True, fewshot_as_multiturn=True, batch_size=2, max_gen_toks=16),
        backend="hf",
        seed=1234,
        work_dir=tmp_path / "work",
        samples_path=samples,
    )
    for key in ("strict_match", "flexible_extract"):
        assert isinstance(res[key], float) and 0.0 <= res[key] <= 100.0
    assert res["n"] == 2 and res["limit"] == 2 and res["num_fewshot"] == 5
    assert res["apply_chat_template"] is True and res["fewshot_as_multiturn"] is True
    assert res["chat_template_sha256"] and res["backend"] == "hf"
    assert res["max_gen_toks"] == 16 and res["generation_kwargs"]["max_gen_toks"] == 16
    assert res["generation_kwargs"]["until"] == ["Question:", "</s>", "<|im_end|>"]
    assert res["lm_eval_version"]
    json.dumps(res)  # the result is written as JSON by the workflow

    records = [json.loads(line) for line in samples.read_text().splitlines()]
    assert {r["filter"] for r in records} == {"strict-match", "flexible-extract"}
    assert sorted({r["doc_id"] for r in records}) == [0, 1]
    prompt = records[0]["arguments"][0][0]
    # the model's own chat template was applied, exemplars as separate user/assistant turns
    assert "<|im_start|>user" in prompt and prompt.count("<|im_start|>assistant") == 6
    assert prompt.rstrip().endswith("<|im_start|>assistant")


# -------------------------------------------- the prompts of the paper-time harness (lm-eval 0.4.x, 2024)


@pytest.mark.parametrize("seed", [42, 7])
def test_few_shot_seed_and_bos_are_the_paper_time_harness(embedded_backbone, tmp_path, monkeypatch, seed):
    """lm-eval's default few-shot seed (1234), not the config's, and no BOS (lm-eval <= 0.4.9's
    add_bos_token=False) for both backends; both recorded in the result."""
    import lm_eval

    import radis.device
    import radis.evaluate.gsm8k as module

    monkeypatch.setattr(radis.device, "prepare_vllm", lambda tp: {"enforce_eager": True})
    for backend in ("hf", "vllm"):
        args = _model_args(embedded_backbone, backend, "auto", "cpu", 1, seed)
        assert args["add_bos_token"] is False, backend

    calls = {}

    def fake_simple_evaluate(**kwargs):
        calls.update(kwargs)
        name = kwargs["tasks"][0]
        return {"results": {name: {"exact_match,strict-match": 0.5, "exact_match,flexible-extract": 1.0}},
                "samples": {name: []}, "configs": {name: {}}, "n-shot": {name: 5},
                "n-samples": {name: {"effective": 2, "original": 8}}, "versions": {name: 3.0}}

    monkeypatch.setattr(lm_eval, "simple_evaluate", fake_simple_evaluate)
    monkeypatch.setattr(module, "_build_lm", lambda backend, model_args, batch_size: None)
    res = run_gsm8k(embedded_backbone, test_file=DEMO / "test.jsonl", train_file=DEMO / "train.jsonl",
                    settings=gsm8k(limit=2, apply_chat_template=False, fewshot_as_multiturn=False),
                    seed=seed, work_dir=tmp_path)
    assert calls["fewshot_random_seed"] == 1234 and calls["random_seed"] == seed
    assert res["fewshot_seed"] == 1234 and res["seed"] == seed
    assert res["add_bos_token"] is False and res["model_args"]["add_bos_token"] is False
    # the cell keeps both filters; the table shows strict-match
    assert res["strict_match"] == 50.0 and res["flexible_extract"] == 100.0


LLAMA2 = ("meta-llama/Llama-2-7b-chat-hf", "f5db02db724555f92da89c216ac04704f23d4590")


def test_request_tokens_start_without_bos(local_hub, tmp_path, monkeypatch):
    """With LLaMA-2's real tokenizer (a BOS by default), the tokens lm-eval's hf model generates
    from do not start with BOS, as with lm-eval 0.4.x in 2024."""
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    repo = local_hub / ("models--" + LLAMA2[0].replace("/", "--"))
    model = repo / "snapshots" / LLAMA2[1]
    bos = AutoTokenizer.from_pretrained(model).bos_token_id
    assert AutoTokenizer.from_pretrained(model)("Question:").input_ids[0] == bos  # the tokenizer's default

    encoded = []
    original = HFLM.tok_batch_encode

    def recording(self, strings, *args, **kwargs):
        ids, mask = original(self, strings, *args, **kwargs)
        encoded.extend((s, row[m.bool()].tolist()) for s, row, m in zip(strings, ids, mask))
        return ids, mask

    monkeypatch.setattr(HFLM, "tok_batch_encode", recording)
    run_gsm8k(model, test_file=DEMO / "test.jsonl", train_file=DEMO / "train.jsonl",
              settings=gsm8k(limit=1, apply_chat_template=False, fewshot_as_multiturn=False, batch_size=1,
                             max_gen_toks=1),
              seed=42, work_dir=tmp_path, device="cpu")
    assert encoded
    for prompt, ids in encoded:
        assert prompt.startswith("Question:") and ids[0] != bos
