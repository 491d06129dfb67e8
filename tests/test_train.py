"""Label masks, accumulation and checkpoint handling of the trainer, with the embedded tokenizer."""

import json

import pytest
from transformers import AutoTokenizer

from radis.io import InputError
from radis.prompts import assistant, user
from radis.training.checkpoints import last_checkpoint
from radis.training.features import IGNORE_INDEX, build_features
from radis.training.sampler import gradient_accumulation


@pytest.fixture(scope="module")
def tokenizer(embedded_backbone):
    return AutoTokenizer.from_pretrained(embedded_backbone)


def test_loss_covers_the_assistant_reply_and_its_end_of_turn_only(tokenizer):
    messages = [user("Translate from Czech to English:\nDobrý den"), assistant("Good day.\nIt is a greeting.")]
    f = build_features(tokenizer, messages, max_length=512)
    targets = [t for t, label in zip(f.input_ids, f.labels) if label != IGNORE_INDEX]
    assert tokenizer.decode(targets) == "Good day.\nIt is a greeting.<|im_end|>"
    assert targets[-1] == tokenizer.eos_token_id == 2
    # the labelled span is contiguous and ends exactly at the end-of-turn token
    first = next(i for i, label in enumerate(f.labels) if label != IGNORE_INDEX)
    last = max(i for i, label in enumerate(f.labels) if label != IGNORE_INDEX)
    assert all(label != IGNORE_INDEX for label in f.labels[first:last + 1])
    assert f.input_ids[last] == 2 and all(label == IGNORE_INDEX for label in f.labels[last + 1:])
    # nothing of the prompt (system, user turn, assistant header) is learned
    assert tokenizer.decode(f.input_ids[:first]).endswith("<|im_start|>assistant\n")
    assert f.n_target == len(targets) and not f.truncated


def test_truncation_keeps_the_prompt(tokenizer):
    messages = [user("Translate:\nx"), assistant("word " * 200)]
    f = build_features(tokenizer, messages, max_length=64)
    assert len(f.input_ids) == len(f.labels) == 64 and f.truncated


def test_gradient_accumulation_reaches_the_effective_batch():
    assert gradient_accumulation(128, 8, 4) == 4
    assert gradient_accumulation(256, 8, 4) == 8
    with pytest.raises(InputError, match="batch_size 100"):
        gradient_accumulation(100, 8, 4)


KEY = {"settings": {"learning_rate": 1e-4, "epochs": 3}, "seed": 42, "data": "abc"}


def test_checkpoints_of_other_settings_are_set_aside_never_deleted(tmp_path, capsys):
    """Days of A100 time: a checkpoint of another key (or of no recorded key) moves to
    checkpoints.stale/, and the log names the fields that differ; the last few sets are kept."""
    ckpt = tmp_path / "checkpoints"

    def checkpoint(step):
        (ckpt / f"checkpoint-{step}").mkdir(parents=True)
        (ckpt / f"checkpoint-{step}" / "trainer_state.json").write_text(f'{{"global_step": {step}}}')

    checkpoint(3)
    (ckpt / "fingerprint.txt").write_text("aaa\n")  # an older run's stamp: its key is unknown
    assert last_checkpoint(ckpt, KEY) is None
    (first,) = (tmp_path / "checkpoints.stale").iterdir()
    assert (first / "checkpoint-3" / "trainer_state.json").exists() and "unknown" in (first / "WHY.txt").read_text()
    checkpoint(5)
    assert last_checkpoint(ckpt, KEY).endswith("checkpoint-5")
    changed = {**KEY, "settings": {**KEY["settings"], "learning_rate": 5e-5}}
    assert last_checkpoint(ckpt, changed) is None
    assert "training key differs in: settings.learning_rate" in capsys.readouterr().err
    sets = sorted((tmp_path / "checkpoints.stale").iterdir())
    assert len(sets) == 2 and (sets[-1] / "checkpoint-5").is_dir() and (sets[-1] / "key.json").is_file()
    for step in (6, 7, 8):  # only the newest STALE_KEPT sets stay
        checkpoint(step)
        last_checkpoint(ckpt, {**KEY, "seed": step})
    assert len(list((tmp_path / "checkpoints.stale").iterdir())) == 3


def test_half_written_checkpoints_are_skipped(tmp_path):
    """A job killed while saving leaves a checkpoint without (or with a truncated) trainer_state.json,
    which the Trainer writes last: the resume falls back to the last whole checkpoint."""
    ckpt = tmp_path / "checkpoints"
    for step, state in ((2, '{"global_step": 2}'), (4, '{"global_st'), (6, None)):
        (ckpt / f"checkpoint-{step}").mkdir(parents=True)
        if state is not None:
            (ckpt / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    (ckpt / "key.json").write_text(json.dumps(KEY))
    assert last_checkpoint(ckpt, KEY).endswith("checkpoint-2")
    assert sorted(p.name for p in ckpt.glob("checkpoint-*")) == ["checkpoint-2"]


SETTINGS = {"finetuning": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"},
            "epochs": 1, "learning_rate": 1e-3, "lr_scheduler": "cosine", "warmup_ratio": 0.0, "batch_size": 2,
            "micro_batch_size": 1, "max_length": 96, "bf16": False, "gradient_checkpointing": False, "save_steps": 1}
TRAINSET = [{"id": str(i), "messages": [user(f"Translate from German to English:\nHallo {i}"),
                                         assistant(f"Hello {i}")]} for i in range(4)]


@pytest.mark.parametrize("finetuning", ["lora", "full"])
def test_train_resume_and_merge(embedded_backbone, tmp_path, finetuning):
    import json

    from safetensors.torch import load_file

    from radis.training.merge import merge
    from radis.training.trainer import train

    settings = {**SETTINGS, "finetuning": finetuning}
    out, ckpt, merged = tmp_path / "adapter", tmp_path / "checkpoints", tmp_path / "merged"
    first = train(embedded_backbone, TRAINSET, settings, out, ckpt, seed=1)
    assert first["steps"] == 2 and first["gradient_accumulation"] == 2 and first["resumed_from"] is None
    assert first["target_tokens"] > 0 and first["truncated"] == 0
    assert (out / ("adapter_config.json" if finetuning == "lora" else "config.json")).exists()
    # a rerun with the same settings resumes from the last checkpoint instead of step 0
    again = train(embedded_backbone, TRAINSET, settings, out, ckpt, seed=1)
    assert again["resumed_from"] and again["resumed_from"].endswith("checkpoint-2")
    merge(embedded_backbone, out, merged)
    weights = load_file(merged / "model.safetensors")
    base = load_file(embedded_backbone / "model.safetensors")
    assert set(weights) == set(base)  # a plain model again: no LoRA tensors left
    changed = [k for k in base if not (weights[k] == base[k]).all()]
    assert changed, "training changed no weight"
    assert json.loads((merged / "radis_provenance.json").read_text())


@pytest.mark.parametrize("world_size", [2, 4])
def test_window_sampler_shards_one_window_per_step_over_processes(world_size):
    """On several GPUs accelerate's BatchSamplerShard deals our micro-batches round-robin; each
    optimizer step must still cover exactly one window of the seeded permutation, over all ranks."""
    import torch
    from accelerate.data_loader import BatchSamplerShard

    from radis.training.sampler import WindowSortedBatchSampler

    lengths = [((i * 37) % 53) + 5 for i in range(48)]
    micro, accumulation, seed = 2, 3, 7
    sampler = WindowSortedBatchSampler(lengths, micro, accumulation, seed, world_size)
    sampler.set_epoch(1)
    shards = [list(BatchSamplerShard(sampler, num_processes=world_size, process_index=rank))
              for rank in range(world_size)]
    window = micro * accumulation * world_size
    order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed + 1)).tolist()
    for step in range(len(lengths) // window):
        seen = [i for rank in range(world_size) for batch in shards[rank][step * accumulation:(step + 1) * accumulation]
                for i in batch]
        assert sorted(seen) == sorted(order[step * window:(step + 1) * window])
    # every rank makes the same number of micro-batches, so no rank waits at the all-reduce
    assert len({len(s) for s in shards}) == 1


def test_two_process_ddp_training_equals_one_process(embedded_backbone, tmp_path):
    """The data-parallel path of the paper's 4 GPUs, run for real with 2 CPU processes (gloo): the
    window sampler gives every optimizer step the same examples as one process, so the loss and
    the adapter are the same (up to float summation order)."""
    import json
    import os
    import pathlib
    import subprocess
    import sys

    from safetensors.torch import load_file

    from radis.io import write_jsonl

    trainset = tmp_path / "train.jsonl"
    write_jsonl(trainset, [{"id": str(i), "messages": [user(f"Translate from German to English:\nDas ist Satz {i}"
                                                            + " und noch mehr" * (i % 3)),
                                                       assistant(f"This is sentence {i}" + " and more" * (i % 3))]}
                           for i in range(8)])
    settings = json.dumps({"device": "cpu", "seed": 3, "training": {**SETTINGS, "batch_size": 4, "micro_batch_size": 1,
                                                                     "save_steps": 50}})
    repo = pathlib.Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo / "src")}
    summaries = {}
    for n in (1, 2):
        launcher = [sys.executable] if n == 1 else [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                                                    "2", "--master_port", "29561"]
        run = subprocess.run([*launcher, "-m", "radis", "train", "--backbone", str(embedded_backbone), "--trainset",
                              str(trainset), "--out", str(tmp_path / f"adapter{n}"), "--checkpoints",
                              str(tmp_path / f"ckpt{n}"), "--settings", settings],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
        assert run.returncode == 0, run.stderr[-4000:]
        lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{\"examples\"")]
        assert len(lines) == n  # one summary per process
        summaries[n] = lines[0]
    assert summaries[2]["world_size"] == 2 and summaries[2]["gradient_accumulation"] == 2
    assert summaries[1]["world_size"] == 1 and summaries[1]["gradient_accumulation"] == 4
    assert summaries[1]["steps"] == summaries[2]["steps"] == 2
    assert summaries[2]["train_loss"] == pytest.approx(summaries[1]["train_loss"], rel=1e-5)
    one, two = (load_file(tmp_path / f"adapter{n}/adapter_model.safetensors") for n in (1, 2))
    assert one.keys() == two.keys()
    # LoRA B starts at zero, so B is what training moved; Adam turns float noise in near-zero
    # gradients into differences of up to one step for single elements, hence a norm comparison
    b_keys = [k for k in one if "lora_B" in k]
    moved = sum(float(one[k].pow(2).sum()) for k in b_keys) ** 0.5
    apart = sum(float((one[k] - two[k]).pow(2).sum()) for k in b_keys) ** 0.5
    assert moved > 0 and apart < 0.02 * moved, (apart, moved)
