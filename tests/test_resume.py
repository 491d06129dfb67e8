"""A training job killed with SIGKILL resumes from its last checkpoint and ends with the adapter of
an uninterrupted run (issue 7, item 1).

The real ``radis train`` command runs as a subprocess with the embedded model: 8 optimizer steps (2
epochs of 4), a checkpoint every 2. The test kills it once ``checkpoint-2`` is complete (mid-epoch
0), reruns the very same command, and compares the final adapter with that of a run never killed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from radis.io import write_jsonl
from radis.methods import synthesis_kinds
from radis.prompts import assistant, user

SETTINGS = {
    "training": {"finetuning": "lora",
                 "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}, "epochs": 2, "learning_rate": 1e-3, "lr_scheduler": "cosine", "warmup_ratio": 0.0,
                 "batch_size": 2, "micro_batch_size": 1, "max_length": 64, "bf16": False,
                 "gradient_checkpointing": False, "save_steps": 2},
    "seed": 3,
    "trust_remote_code": False,
}
TOTAL_STEPS = 8  # 8 examples / batch 2 = 4 steps per epoch, 2 epochs
# sentences of different lengths, so the window sampler's length sorting matters
TRAINSET = [{"id": str(i), "messages": [
    user(f"Translate from German to English:\n{'Hallo Welt ' * (i % 3 + 1)}{i}"),
    assistant(f"{'Hello world ' * (i % 3 + 1)}{i}")]} for i in range(8)]


def _command(backbone: Path, trainset: Path, run: Path) -> list[str]:
    # the arguments of workflow/rules/train.smk's rule train
    return [sys.executable, "-m", "radis", "train", "--backbone", str(backbone), "--trainset", str(trainset),
            "--out", str(run / "adapter"), "--checkpoints", str(run / "checkpoints"),
            "--settings", json.dumps(SETTINGS)]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _summary(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def _complete(checkpoint: Path) -> bool:
    try:
        return json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] > 0
    except (OSError, ValueError, KeyError):
        return False


def _kill_9_once(cmd: list[str], ready, what: str, timeout_s: float = 240) -> None:
    """Start ``cmd`` and ``kill -9`` it as soon as ``ready()`` holds (it must not finish first)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            assert proc.poll() is None, f"the job ended before {what} was written"
            assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the job finished before it could be killed"


def _loss_curve(run: Path) -> list[float]:
    return json.loads((run / "adapter" / "radis_provenance.json").read_text())["summary"]["loss_curve"]


def _adapter(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run / "adapter" / "adapter_model.safetensors")


def test_killed_training_resumes_to_the_same_adapter(embedded_backbone, tmp_path):
    trainset = tmp_path / "trainset.jsonl"
    write_jsonl(trainset, TRAINSET)

    # 1. uninterrupted reference run
    whole = tmp_path / "whole"
    done = subprocess.run(_command(embedded_backbone, trainset, whole), capture_output=True, text=True,
                          timeout=300, env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    reference = _summary(done.stdout)
    assert reference["steps"] == TOTAL_STEPS and reference["steps_run"] == TOTAL_STEPS
    assert reference["resumed_from"] is None

    # 2. the same run, killed with SIGKILL as soon as checkpoint-2 is complete
    killed = tmp_path / "killed"
    checkpoint = killed / "checkpoints" / "checkpoint-2"
    _kill_9_once(_command(embedded_backbone, trainset, killed), lambda: _complete(checkpoint), "checkpoint-2")
    assert not (killed / "adapter").exists()
    done_steps = sorted(int(p.name.split("-")[1]) for p in (killed / "checkpoints").glob("checkpoint-*")
                        if _complete(p))
    assert done_steps and max(done_steps) < TOTAL_STEPS

    # 3. rerun the very same command: it resumes from the last complete checkpoint, not step 0
    done = subprocess.run(_command(embedded_backbone, trainset, killed), capture_output=True, text=True,
                          timeout=300, env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = _summary(done.stdout)
    last = max(done_steps)
    assert resumed["resumed_from"].endswith(f"checkpoint-{last}")
    assert f"resuming from checkpoint-{last}" in done.stderr
    assert resumed["steps"] == TOTAL_STEPS and resumed["steps_run"] == TOTAL_STEPS - last
    # the loss of every step after the checkpoint is the uninterrupted run's
    assert _loss_curve(killed) == _loss_curve(whole) and len(_loss_curve(whole)) == TOTAL_STEPS

    # 4. the same adapter, bit for bit: on CPU every operation is deterministic given the same
    #    inputs, and a resume restores weights, optimizer, scheduler, RNG and the data order exactly
    a, b = _adapter(whole), _adapter(killed)
    assert set(a) == set(b) and a
    differing = [k for k in a if not (a[k] == b[k]).all()]
    assert not differing, f"{len(differing)} of {len(a)} adapter tensors differ, e.g. {differing[:3]}"
    print(f"killed after checkpoint-{last} of {TOTAL_STEPS} steps; resumed run made "
          f"{resumed['steps_run']} steps; adapter identical ({len(a)} tensors)")


# --- synthesis (issue 7, item 2) ---------------------------------------------------------------

DIRECTIONS = ("cs-en", "en-de")
SYNTH_SETTINGS = {"seed": 7, "trust_remote_code": False,
                  "generation": {"backend": "hf", "batch_size": 2, "dtype": "float32", "shard_size": 2},
                  "decoding": {"max_new_tokens": 4, "min_new_tokens": 2}}
N_SHARDS = 3  # 2 directions x 3 sentences, 2 per shard (one shard mixes the directions)


def _synth_command(model: Path, data: Path, out: Path) -> list[str]:
    # the arguments of workflow/rules/synth.smk's rule synthesize
    return [sys.executable, "-m", "radis", "synthesize", "--kind", "rationale", "--model", str(model),
            "--directions", *DIRECTIONS, "--data-dir", str(data), "--out-dir", str(out),
            "--settings", json.dumps(SYNTH_SETTINGS)]


def _generated(stdout: str) -> list[int]:
    """Indices of the shards a run generated (it logs 'shard i/n (...): generated|reused name')."""
    return [int(line.split()[1].split("/")[0]) for line in stdout.splitlines()
            if line.startswith("shard ") and ": generated " in line]


def test_killed_synthesis_reruns_only_unfinished_shards(embedded_backbone, tmp_path):
    from radis.data.alma import prepare, read_mirror
    from radis.languages import Direction

    repo = Path(__file__).resolve().parents[1]
    data = tmp_path / "data"
    for d in DIRECTIONS:
        records = read_mirror(repo / "workflow/resources/demo", Direction.parse(d), "train")
        write_jsonl(data / f"{d}.jsonl", prepare(records, 3, 7))

    whole = tmp_path / "whole"
    done = subprocess.run(_synth_command(embedded_backbone, data, whole), capture_output=True, text=True,
                          timeout=300, env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    assert _generated(done.stdout) == list(range(1, N_SHARDS + 1))
    assert not (tmp_path / "whole.shards").exists()  # removed after success

    killed = tmp_path / "killed"
    shards = tmp_path / "killed.shards"
    _kill_9_once(_synth_command(embedded_backbone, data, killed),
                 lambda: shards.is_dir() and bool(list(shards.glob("0*.jsonl"))), "a first shard")
    finished = sorted(int(p.name[:5]) + 1 for p in shards.glob("0*.jsonl"))
    assert finished and len(finished) < N_SHARDS, finished
    assert not any((killed / f"{d}.jsonl").exists() for d in DIRECTIONS)

    done = subprocess.run(_synth_command(embedded_backbone, data, killed), capture_output=True, text=True,
                          timeout=300, env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    regenerated = _generated(done.stdout)
    assert regenerated == [i for i in range(1, N_SHARDS + 1) if i not in finished]
    assert f"{len(finished)} reused, {N_SHARDS - len(finished)} generated" in done.stdout
    for d in DIRECTIONS:
        assert (killed / f"{d}.jsonl").read_bytes() == (whole / f"{d}.jsonl").read_bytes()
    assert not shards.exists()
    print(f"killed with {len(finished)} of {N_SHARDS} shards written; rerun generated {regenerated}; "
          "outputs byte-identical")


def test_changed_settings_never_reuse_a_shard(tmp_path, monkeypatch):
    """Shards are keyed by kind, settings, model and inputs: anything else is set aside (never
    deleted: days of GPU time), not reused, and the log says which fields of the key differ."""
    from radis import synth
    from radis.generation import Generation
    from radis.settings import DecodingParams

    class Echo:
        tokenizer = None
        calls = 0

        def generate(self, prompts, params):
            Echo.calls += 1
            return [Generation(f" {p}", 2, True) for p in prompts]

    kinds = synthesis_kinds()
    monkeypatch.setitem(kinds, "seqkd", dataclasses.replace(kinds["seqkd"], prompts=lambda tok, rs: [r["instruction"] for r in rs]))
    records = [{"instruction": f"i{i}", "reference": f"y{i}"} for i in range(5)]
    params = DecodingParams.from_config({"max_new_tokens": 4})

    def run(settings, records=records):
        return synth.synthesize_in_shards("seqkd", Echo, records, params, tmp_path / "s", settings, "m",
                                          shard_size=2, log=lambda _: None)

    def shard_files(directory):
        return sorted(p.name for p in directory.glob("*[0-9a-f].jsonl"))

    first, stats = run({"a": 1})
    assert stats == {"shards": 3, "reused": 0, "generated": 3, "shard_size": 2,
                     "hardware": [{"settings": {}, "shards": [0, 1, 2]}]} and Echo.calls == 3
    assert [r["seqkd_response"] for r in first] == [f"i{i}" for i in range(5)]
    again, stats = run({"a": 1})
    assert again == first and stats["reused"] == 3 and Echo.calls == 3
    made_first = shard_files(tmp_path / "s")
    _, stats = run({"a": 2})  # another config: every shard regenerated, the old ones set aside
    assert stats["reused"] == 0 and Echo.calls == 6 and len(shard_files(tmp_path / "s")) == 3
    assert len(list((tmp_path / "s").iterdir())) == 7  # each shard with its hardware record, and key.json
    (aside,) = (tmp_path / "s.stale").iterdir()
    assert shard_files(aside) == made_first and "settings.a" in (aside / "WHY.txt").read_text()
    assert len(list(aside.glob("*.hardware.json"))) == 3 and (aside / "key.json").exists() is False
    changed = [*records[:4], {"instruction": "other", "reference": "y4"}]
    _, stats = run({"a": 2}, changed)  # one changed input: only its shard is regenerated
    assert stats["reused"] == 2 and stats["generated"] == 1 and Echo.calls == 7
