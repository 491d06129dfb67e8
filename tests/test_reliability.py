"""Reliability at cluster scale (issue 13, items 1-9): each test reproduces a fault that went
wrong silently on a shared SLURM cluster, with real processes and signals where a signal is the
fault, and checks it is now caught, survived or recorded.

Models are the tiny random Llama of tests/tiny_lm.py (loads in well under a second); its outputs
are noise, so the tests check mechanics: what resumes, what is refused, what survives a kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_lm import build_tiny_lm

from radis.io import InputError, atomic_dir, write_json, write_jsonl
from radis.prompts import assistant, user

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {"finetuning": "lora", "lora": {"r": 2, "alpha": 4, "dropout": 0.0, "target_modules": "all-linear"},
            "epochs": 1, "learning_rate": 1e-3, "lr_scheduler": "cosine", "warmup_ratio": 0.0, "batch_size": 2,
            "micro_batch_size": 1, "max_length": 256, "overlong": "error", "bf16": False,
            "gradient_checkpointing": False, "save_steps": 1}
TRAINSET = [{"id": f"ex{i}", "messages": [user(f"Translate from German to English:\nHallo {i}"),
                                           assistant(f"Hello {i}")]} for i in range(4)]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests")])}


def _backbone(root: Path, revision: str, seed: int = 0) -> Path:
    """A materialised-looking backbone: the tiny model plus the provenance a hub snapshot records."""
    build_tiny_lm(root, seed=seed)
    write_json(root / "radis_provenance.json", {"backbone": "tiny", "source": "hub", "id": "test/tiny",
                                                "revision": revision, "created": time.time()})
    return root


@pytest.fixture()
def no_model_load(monkeypatch):
    """Fail the test if any model weights are loaded (the refusals must come before)."""
    from transformers import AutoModelForCausalLM

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)


# --- item 1: the backbone's identity keys the checkpoints ---------------------------------------

def test_model_identity_follows_the_revision_not_the_build_time(tmp_path):
    from radis.provenance import model_identity

    a = _backbone(tmp_path / "a", "aaa")
    first = model_identity(a)
    write_json(a / "radis_provenance.json", {**json.loads((a / "radis_provenance.json").read_text()),
                                             "created": "later", "packages": {"torch": "x"}})
    assert model_identity(a) == first  # materialised again, same revision: the same backbone
    b = _backbone(tmp_path / "b", "bbb")  # same weights and tokenizer, another revision
    assert model_identity(b) != first


def test_model_identity_is_the_models_content(tmp_path):
    """A local or GGUF backbone rebuilt in place keeps its radis_provenance.json and file sizes: its
    identity must still change with its weights' bytes, its chat template or its generation config,
    and stay when the same bytes are written again."""
    import shutil

    from radis.provenance import model_identity

    a = _backbone(tmp_path / "a", "local")
    record = (a / "radis_provenance.json").read_text()
    first = model_identity(a)
    sizes = {p.name: p.stat().st_size for p in a.iterdir()}
    build_tiny_lm(a, seed=7)  # rebuilt in place: other weights, same shapes and sizes
    (a / "radis_provenance.json").write_text(record)
    assert {p.name: p.stat().st_size for p in a.iterdir()} == sizes
    rebuilt = model_identity(a)
    assert rebuilt != first
    copy = tmp_path / "copy"
    shutil.copytree(a, copy)  # the same bytes written again (new mtimes, inodes)
    assert model_identity(copy) == rebuilt
    config = json.loads((copy / "tokenizer_config.json").read_text())
    (copy / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": "{{ messages }}"}))
    assert model_identity(copy) != rebuilt  # another chat template
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    (copy / "generation_config.json").write_text('{"temperature": 0.6}')
    assert model_identity(copy) != rebuilt  # another generation config


def test_a_changed_backbone_never_resumes_an_old_adapter(tmp_path):
    from radis.training.trainer import train

    backbone = _backbone(tmp_path / "backbone", "aaa")
    ckpt = tmp_path / "checkpoints"
    first = train(backbone, TRAINSET, SETTINGS, tmp_path / "adapter", ckpt, seed=1)
    assert first["steps"] == 2 and first["resumed_from"] is None
    again = train(backbone, TRAINSET, SETTINGS, tmp_path / "adapter", ckpt, seed=1)
    assert again["resumed_from"].endswith("checkpoint-2")  # same backbone: resumes
    # a revision bump: new weights, same tokenizer and shapes
    _backbone(backbone, "bbb", seed=5)
    bumped = train(backbone, TRAINSET, SETTINGS, tmp_path / "adapter", ckpt, seed=1)
    assert bumped["resumed_from"] is None and bumped["steps_run"] == 2
    from radis.provenance import model_identity

    prov = json.loads((tmp_path / "adapter" / "radis_provenance.json").read_text())
    assert prov["backbone_identity"] == model_identity(backbone)  # the adapter names its backbone


# --- item 2: hardware settings keep finished work -----------------------------------------------

def test_hardware_settings_travel_apart_and_merge_back():
    """The rules pass hardware settings as a resource (--hardware), the rest as params (--settings):
    the command merges them back into exactly the step's settings, and refuses a non-hardware key."""
    from radis.config import merge_hardware, split_hardware
    from radis.settings import ConfigError

    step = {"device": "cuda", "tensor_parallel_size": 2, "seed": 1,
            "generation": {"backend": "vllm", "batch_size": 16, "dtype": "bfloat16", "tensor_parallel_size": 2},
            "training": {"micro_batch_size": 8, "save_steps": 250, "gpus": 4, "learning_rate": 1e-4}}
    result, hardware = split_hardware(step)
    assert merge_hardware(result, hardware) == step
    with pytest.raises(ConfigError, match="'seed' is no hardware setting"):
        merge_hardware(result, {"seed": 2})


def test_split_hardware_separates_what_changes_the_result():
    from radis.config import split_hardware

    step = {"device": "cuda", "tensor_parallel_size": 2, "seed": 1,
            "generation": {"backend": "hf", "batch_size": 16, "dtype": "bfloat16", "tensor_parallel_size": 2},
            "training": {"micro_batch_size": 8, "gradient_checkpointing": True, "learning_rate": 1e-4}}
    result, hardware = split_hardware(step)
    assert result == {"seed": 1, "generation": {"backend": "hf", "dtype": "bfloat16"},
                      "training": {"learning_rate": 1e-4}}
    assert hardware == {"device": "cuda", "tensor_parallel_size": 2, "generation.batch_size": 16,
                        "generation.tensor_parallel_size": 2, "training.micro_batch_size": 8,
                        "training.gradient_checkpointing": True}
    result, hardware = split_hardware(step["training"], "training")
    assert result == {"learning_rate": 1e-4} and set(hardware) == {"training.micro_batch_size",
                                                                    "training.gradient_checkpointing"}
    assert step["generation"]["batch_size"] == 16  # the caller's settings are left alone


def test_a_lower_micro_batch_after_an_oom_resumes_the_checkpoints(tmp_path):
    """Recovering from an out-of-memory error (smaller micro-batches, activation checkpointing)
    resumes the last checkpoint instead of deleting every one, and each checkpoint records the
    hardware settings it was made with."""
    import shutil

    from safetensors.torch import load_file

    from radis.training.checkpoints import HARDWARE_RECORD
    from radis.training.trainer import train

    backbone = _backbone(tmp_path / "backbone", "aaa")
    whole = train(backbone, TRAINSET, SETTINGS, tmp_path / "whole", tmp_path / "ckpt-whole", seed=1)
    assert whole["steps"] == 2

    ckpt = tmp_path / "ckpt"
    train(backbone, TRAINSET, SETTINGS, tmp_path / "adapter", ckpt, seed=1)
    shutil.rmtree(ckpt / "checkpoint-2")  # as if the job had died (OOM) during step 2
    recovered = {**SETTINGS, "micro_batch_size": 2, "gradient_checkpointing": True, "save_steps": 5}
    resumed = train(backbone, TRAINSET, recovered, tmp_path / "adapter", ckpt, seed=1)
    assert resumed["resumed_from"].endswith("checkpoint-1") and resumed["steps_run"] == 1
    assert resumed["gradient_accumulation"] == 1
    assert resumed["resumed_hardware"]["training.micro_batch_size"] == 1
    record = json.loads((ckpt / "checkpoint-2" / HARDWARE_RECORD).read_text())
    assert record["training.micro_batch_size"] == 2 and record["training.gradient_checkpointing"] is True
    # the same step 2 on the same window: only floating-point noise apart
    a = load_file(tmp_path / "whole/adapter_model.safetensors")
    b = load_file(tmp_path / "adapter/adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] - b[k]).abs().max() < 1e-4, k


def test_a_lower_generation_batch_size_keeps_finished_shards(tmp_path, monkeypatch, capsys):
    """`radis synthesize` killed after 2 shards (here: it fails on the third) and rerun with a lower
    generation.batch_size reuses both shards, and records which batch size made which shard."""
    from radis import cli, synth

    model = _backbone(tmp_path / "model", "aaa")
    data = tmp_path / "data"
    write_jsonl(data / "de-en.jsonl", [{"id": f"r{i}", "src_lang": "de", "tgt_lang": "en", "source": f"Hallo {i}",
                                        "reference": f"Hello {i}"} for i in range(3)])
    settings = {"device": "cpu", "seed": 1, "trust_remote_code": False,
                "generation": {"backend": "hf", "batch_size": 4, "dtype": "float32", "tensor_parallel_size": 1,
                               "shard_size": 1},
                "decoding": {"max_new_tokens": 3}}
    argv = ["synthesize", "--kind", "seqkd", "--model", str(model), "--directions", "de-en", "--data-dir", str(data),
            "--out-dir", str(tmp_path / "out" / "seqkd")]
    real = synth.synthesize
    calls = []

    def dies_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("CUDA out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(synth, "synthesize", dies_on_the_third)
    with pytest.raises(RuntimeError, match="out of memory"):
        cli.main([*argv, "--settings", json.dumps(settings)])
    monkeypatch.setattr(synth, "synthesize", real)
    capsys.readouterr()
    lower = {**settings, "generation": {**settings["generation"], "batch_size": 1}}
    assert cli.main([*argv, "--settings", json.dumps(lower)]) == 0
    assert "2 reused, 1 generated" in capsys.readouterr().out
    meta = json.loads((tmp_path / "out/seqkd/de-en.meta.json").read_text())
    assert meta["shards"]["hardware"] == [
        {"settings": {"device": "cpu", "generation.batch_size": 4, "generation.tensor_parallel_size": 1},
         "shards": [0, 1]},
        {"settings": {"device": "cpu", "generation.batch_size": 1, "generation.tensor_parallel_size": 1},
         "shards": [2]}]


# --- item 3: a non-finite loss stops training ---------------------------------------------------

def test_a_non_finite_loss_stops_training_naming_the_step_and_checkpoint(tmp_path):
    from radis.training.trainer import TrainingDiverged, train

    backbone = _backbone(tmp_path / "backbone", "aaa")
    exploding = {**SETTINGS, "learning_rate": 1e30, "lr_scheduler": "constant", "epochs": 3}
    with pytest.raises(TrainingDiverged) as e:
        train(backbone, TRAINSET, exploding, tmp_path / "adapter", tmp_path / "ckpt", seed=1)
    message = str(e.value)
    step = int(message.split(" at step ")[1].split(";")[0])
    assert step >= 2 and f"last good checkpoint: {tmp_path / 'ckpt'}/checkpoint-{step - 1}" in message
    assert not (tmp_path / "adapter").exists()
    assert not (tmp_path / "ckpt" / f"checkpoint-{step}").exists()  # the broken step is never saved


# --- item 4: context length ---------------------------------------------------------------------

def test_an_example_cut_before_its_end_of_turn_is_refused_or_dropped(tmp_path, no_model_load):
    from transformers import AutoTokenizer

    from radis.training.features import build_features
    from radis.training.trainer import train

    backbone = _backbone(tmp_path / "backbone", "aaa")
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    long = {"id": "long-one", "messages": [user("Translate:\nx"), assistant("word " * 60)]}
    full = build_features(tokenizer, TRAINSET[0]["messages"], 10_000)
    # a cut in the template text after the end of turn is harmless: counted, kept
    harmless = build_features(tokenizer, TRAINSET[0]["messages"], len(full.input_ids) - 1)
    assert harmless.truncated and not harmless.lost_end_of_turn
    assert build_features(tokenizer, long["messages"], 96).lost_end_of_turn

    with pytest.raises(InputError) as e:
        train(backbone, [*TRAINSET, long], {**SETTINGS, "max_length": 96}, tmp_path / "a", tmp_path / "c", seed=1,
              source="trainsets/tiny/vanilla.jsonl")
    assert "trainsets/tiny/vanilla.jsonl" in str(e.value) and "long-one" in str(e.value)
    assert "training.max_length" in str(e.value) and "training.overlong: drop" in str(e.value)


def test_dropped_overlong_examples_are_counted(tmp_path):
    from radis.training.trainer import train

    backbone = _backbone(tmp_path / "backbone", "aaa")
    long = {"id": "long-one", "messages": [user("Translate:\nx"), assistant("word " * 60)]}
    summary = train(backbone, [*TRAINSET, long], {**SETTINGS, "max_length": 96, "overlong": "drop"},
                    tmp_path / "a", tmp_path / "c", seed=1)
    assert summary["dropped_overlong"] == 1 and summary["examples"] == 4


def test_a_test_sentence_longer_than_the_context_is_refused_before_loading(tmp_path, no_model_load, capsys):
    from radis import cli

    model = _backbone(tmp_path / "model", "aaa")  # max_position_embeddings 512, byte-level tokens
    data = tmp_path / "test"
    write_jsonl(data / "de-en.jsonl", [
        {"id": "test-de-en-00000", "src_lang": "de", "tgt_lang": "en", "source": "Kurz.", "reference": "Short."},
        {"id": "test-de-en-00001", "src_lang": "de", "tgt_lang": "en", "source": "Lang " * 120, "reference": "x"}])
    settings = {"device": "cpu", "seed": 1, "generation": {"backend": "hf", "batch_size": 2, "dtype": "float32"},
                "decoding": {"max_new_tokens": 16}, "evaluation": {"instruction": 1, "postprocess": "first_line"}}
    rc = cli.main(["translate", "--model", str(model), "--directions", "de-en", "--data-dir", str(data),
                   "--out-dir", str(tmp_path / "out"), "--settings", json.dumps(settings)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "test-de-en-00001" in err and "test-de-en-00000" not in err and "512 tokens" in err
    assert "max_new_tokens 16" in err and not (tmp_path / "out").exists()


# --- item 5: weightless or half-downloaded models ------------------------------------------------

def _local_spec(path: Path) -> dict:
    return {"source": {"kind": "local", "path": str(path)}}


def test_a_model_directory_without_weights_is_not_materialised(tmp_path):
    from radis.backbones import materialise

    only_config = tmp_path / "only-config"
    only_config.mkdir()
    (only_config / "config.json").write_text("{}")
    with pytest.raises(InputError, match=f"{only_config}: no weight file"):
        materialise("m", _local_spec(only_config), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_a_truncated_or_missing_weight_file_is_refused(tmp_path):
    from radis.backbones import check_weights, materialise

    model = build_tiny_lm(tmp_path / "model")
    [entry] = check_weights(model)
    weights = model / "model.safetensors"
    assert entry == {"file": "model.safetensors", "bytes": weights.stat().st_size}
    blob = weights.read_bytes()
    weights.write_bytes(blob[:-100])  # a download cut short
    with pytest.raises(InputError, match="its header needs"):
        materialise("m", _local_spec(model), tmp_path / "out")
    weights.write_bytes(blob)
    # a sharded checkpoint whose index names a shard that is not there
    weights.rename(model / "model-00001-of-00002.safetensors")
    write_json(model / "model.safetensors.index.json", {"metadata": {}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})
    with pytest.raises(InputError, match="1 of 2 weight file.*model-00002-of-00002.safetensors"):
        materialise("m", _local_spec(model), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    record = materialise("m", _local_spec(build_tiny_lm(tmp_path / "whole")), tmp_path / "out")
    assert record["weights"] == check_weights(tmp_path / "out")


def test_hub_snapshots_go_through_the_hub_cache(local_hub, tmp_path, monkeypatch):
    """Offline, from the hub cache (where huggingface_hub resumes a killed download from its
    ``.incomplete`` blobs, which nothing here deletes): a branch revision resolves through the
    cache's refs, the weights are hard links to the cached blobs (no second copy), and the other
    files are copies, so rewriting a tokenizer file never writes through into the cache."""
    import shutil

    from radis import backbones

    cache = tmp_path / "hub"
    shutil.copytree(local_hub, cache, symlinks=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    partial = next((cache / "models--haoranxu--ALMA-7B" / "blobs").iterdir()).with_suffix(".incomplete")
    partial.write_bytes(b"half a download")
    record = backbones.materialise("alma-7b", {"source": {"kind": "hub", "id": "haoranxu/ALMA-7B",
                                                          "revision": "main"}}, tmp_path / "out",
                                   locks=tmp_path / "locks")
    refs = (cache / "models--haoranxu--ALMA-7B" / "refs" / "main").read_text()
    assert record["revision"] == refs and partial.read_bytes() == b"half a download"
    weights = tmp_path / "out" / "model.safetensors"
    blob = (cache / "models--haoranxu--ALMA-7B" / "snapshots" / refs / "model.safetensors").resolve()
    assert weights.stat().st_ino == blob.stat().st_ino
    config = tmp_path / "out" / "config.json"
    assert config.stat().st_ino != (cache / "models--haoranxu--ALMA-7B" / "snapshots" / refs / "config.json").resolve().stat().st_ino


# --- item 6: temporaries after SIGKILL and SIGTERM -----------------------------------------------

_HOLD_WRITE = """
import sys, time
from pathlib import Path
from radis import interrupt
from radis.io import atomic_dir
interrupt.install()
with atomic_dir(Path(sys.argv[1])) as tmp:
    (tmp / "weights.bin").write_bytes(b"0" * 1_000_000)
    print("writing", flush=True)
    time.sleep(120)
"""


def _start_write(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_WRITE, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    assert proc.stdout.readline().strip() == "writing", proc.stderr.read()
    return proc


def test_a_temporary_left_by_sigkill_is_swept_when_the_job_runs_again(tmp_path):
    out = tmp_path / "merged"
    proc = _start_write(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    [left] = list(tmp_path.glob(".merged.*.tmp"))
    assert (left / "weights.bin").exists()
    # the job runs again (here: materialise into the same output)
    model = build_tiny_lm(tmp_path / "src")
    run = subprocess.run([sys.executable, "-m", "radis", "materialise", "--name", "m", "--out", str(out),
                          "--settings", json.dumps(_local_spec(model))], capture_output=True, text=True,
                         env=_env(), timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert not list(tmp_path.glob(".merged.*")) and (out / "model.safetensors").exists()


def test_sigterm_during_a_write_removes_its_temporary(tmp_path):
    proc = _start_write(tmp_path / "merged")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert "Terminated: stopped by SIGTERM" in err
    assert not list(tmp_path.glob(".merged.*")) and not (tmp_path / "merged").exists()


def test_sigterm_stops_training_at_the_next_step_with_a_checkpoint(tmp_path):
    backbone = _backbone(tmp_path / "backbone", "aaa")
    trainset = tmp_path / "train.jsonl"
    write_jsonl(trainset, TRAINSET * 25)  # 50 steps per epoch
    settings = {"device": "cpu", "seed": 1, "training": {**SETTINGS, "epochs": 40, "save_steps": 100_000}}
    cmd = [sys.executable, "-m", "radis", "train", "--backbone", str(backbone), "--trainset", str(trainset),
           "--out", str(tmp_path / "adapter"), "--checkpoints", str(tmp_path / "ckpt"),
           "--settings", json.dumps(settings)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 240
    while not (tmp_path / "ckpt" / "key.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    time.sleep(2)  # some steps
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]
    assert "Traceback" not in err and "stopped by SIGTERM after step" in err
    [checkpoint] = list((tmp_path / "ckpt").glob("checkpoint-*"))
    step = int(checkpoint.name.split("-")[1])
    assert 0 < step < 2000 and f"{checkpoint} saved: rerun to resume" in err
    assert (checkpoint / "trainer_state.json").exists() and (checkpoint / "radis_hardware.json").exists()
    assert not (tmp_path / "adapter").exists() and not list(tmp_path.glob(".adapter.*"))


# --- item 7: the AlpacaEval annotation cache survives a kill -------------------------------------

_SAVE_TWICE = """
import sys, time
from pathlib import Path
import pandas as pd
from alpaca_eval.annotators import PairwiseAnnotator
from radis.evaluate.alpacaeval import annotator_config, atomic_annotation_cache, judged_by

work, cache = Path(sys.argv[1]), Path(sys.argv[2])
rows = lambda n: pd.DataFrame([{"instruction": f"i{i}", "output_1": "a", "output_2": "b",
                                "annotator": "weighted_alpaca_eval_gpt4_turbo", "preference": 1.0 + i % 2}
                               for i in range(n)])
with atomic_annotation_cache(), judged_by(None, []):  # no call is made
    annotator = PairwiseAnnotator(annotators_config=str(annotator_config("weighted_alpaca_eval_gpt4_turbo",
                                                                          "judge", work)), caching_path=str(cache))
    annotator.df_annotations = rows(3)
    annotator.save()                       # a first batch of paid judgements, saved whole
    plain = pd.DataFrame.to_json

    def slow_to_json(self, path, **kwargs):  # the second save is killed halfway through writing
        text = plain(self, None, **kwargs)
        with open(path, "w") as f:
            f.write(text[: len(text) // 2])
            f.flush()
            print("saving", flush=True)
            time.sleep(120)

    pd.DataFrame.to_json = slow_to_json
    annotator.df_annotations = rows(6)
    annotator.save()
"""


def test_the_alpacaeval_cache_survives_a_kill_while_saving(tmp_path):
    import pandas as pd

    cache = tmp_path / "cache" / "alpacaeval.json"
    cache.parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _SAVE_TWICE, str(tmp_path / "work"), str(cache)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    line = proc.stdout.readline().strip()
    assert line == "saving", proc.communicate(timeout=60)[1][-3000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    survived = pd.read_json(cache)  # the last whole save, not half a file
    assert list(survived["instruction"]) == ["i0", "i1", "i2"]
    # and the next run's annotator loads it (alpaca_eval reads the cache when it starts)
    from alpaca_eval.annotators import PairwiseAnnotator

    from radis.evaluate.alpacaeval import annotator_config, judged_by

    config = annotator_config("weighted_alpaca_eval_gpt4_turbo", "judge", tmp_path / "work2")
    with judged_by(None, []):
        assert len(PairwiseAnnotator(annotators_config=str(config), caching_path=str(cache)).df_annotations) == 3


# --- item 8: judge verdicts keyed by what answered; ratings; unrated counts -----------------------

def _judge_request(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}], "max_tokens": 8, "temperature": 0}


def test_a_served_judge_with_another_backbone_is_asked_again(tmp_path):
    from fake_openai import FakeOpenAI

    from radis.judges.client import JudgeClient, JudgeConfig

    served = JudgeConfig(name="local", model="judge", serve="judge-backbone", api_key_env=None, max_retries=0)
    old, new = _backbone(tmp_path / "old", "aaa"), _backbone(tmp_path / "new", "bbb")
    cache = tmp_path / "cache"
    with FakeOpenAI() as first, FakeOpenAI() as second:
        JudgeClient(served, cache, base_url=first.base_url, model_dir=old).complete([_judge_request("q")])
        # the same backbone behind a restarted server (another port): cached
        JudgeClient(served, cache, base_url=second.base_url, model_dir=old).complete([_judge_request("q")])
        assert (first.requests, second.requests) == (1, 0)
        # another backbone under the same judge name and model name: asked again
        JudgeClient(served, cache, base_url=second.base_url, model_dir=new).complete([_judge_request("q")])
        assert second.requests == 1
    entries = [json.loads(p.read_text()) for p in cache.rglob("*.json")]
    assert len({e["answered_by"] for e in entries}) == 2


def test_an_api_judge_at_another_endpoint_is_asked_again(tmp_path):
    from fake_openai import FakeOpenAI

    from radis.judges.client import JudgeClient, JudgeConfig

    with FakeOpenAI() as one, FakeOpenAI() as other:
        for fake in (one, one, other):
            cfg = JudgeConfig(name="api", model="gpt-4-0613", base_url=fake.base_url, api_key_env=None, max_retries=0)
            JudgeClient(cfg, tmp_path).complete([_judge_request("q")])
        assert (one.requests, other.requests) == (1, 1)


@pytest.mark.parametrize("text, rating", [
    ("Rating: [[11]]", None),            # off the 1-10 scale
    ("Rating: [[0]]", None),
    ("as shown in [3], the answer is good", None),  # a citation, not a rating
    ("see [3]. Rating: [[8]]", 8.0),
    ("Rating: [[10]]", 10.0),
])
def test_only_a_double_bracketed_rating_on_the_scale_counts(text, rating):
    from radis.evaluate import mtbench

    assert mtbench.parse_rating(text) == rating


def test_unrated_judgements_are_counted_beside_the_score():
    from radis.tables import general_table, render_markdown

    def cell(method, score, failures=0):
        return {"backbone": "b", "method": method, "benchmark": "mtbench",
                "metrics": {"score": score, "n_judgments": 6, "n_parse_failures": failures}}

    table = general_table([cell("base", 5.0), cell("vanilla", 4.0, failures=2),
                           cell("radis", "n/a: 6 of 6 judgments had no [[rating]]", failures=6)],
                          ["b"], ["vanilla", "radis"], ["mtbench"])
    text = render_markdown(table)
    assert "| 4.00 (2 of 6 unrated) |" in text
    assert "| 5.00 |" in text and "(6 of 6 unrated)" not in text


# --- item 9: results keep the umask's permissions ----------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_results_get_the_umask_permissions(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "result.json", {"a": 1})
        with atomic_dir(tmp_path / "model") as tmp:
            write_json(tmp / "config.json", {})
    finally:
        os.umask(old)
    assert (tmp_path / "result.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "model" / "config.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "model").stat().st_mode & 0o777 == mode | (0o111 & ~umask)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_saved_weights_get_the_umask_permissions(tmp_path, umask, mode):
    """safetensors creates its files 0600 whoever calls it (save_pretrained, peft, the Trainer):
    the weights a group shares must get the umask's permissions like every other result."""
    import torch
    from safetensors.torch import save_file

    from radis.io import grant_umask

    old = os.umask(umask)
    try:
        with atomic_dir(tmp_path / "model") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp / "model.safetensors"))
        checkpoint = tmp_path / "checkpoint-1"  # written in place by the Trainer, granted on save
        checkpoint.mkdir()
        save_file({"w": torch.zeros(2)}, str(checkpoint / "adapter_model.safetensors"))
        grant_umask(checkpoint)
    finally:
        os.umask(old)
    assert (tmp_path / "model/model.safetensors").stat().st_mode & 0o777 == mode
    assert (checkpoint / "adapter_model.safetensors").stat().st_mode & 0o777 == mode
