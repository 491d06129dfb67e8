"""COMET scores from the hub cache alone (issue 26 item 8), in the comet environment.

unbabel-comet builds a checkpoint's encoder from the hub id its hparams name (wmt22-comet-da:
``xlm-roberta-large``), unpinned, wherever the job runs. Here a tiny COMET whose hparams name a hub
id sits in a hub cache with that encoder's snapshot under ``evaluation.comet_encoder``'s id and
commit; the score step runs as the score_translation rule runs it (``HF_HUB_OFFLINE=1``, the hub
cache as ``HF_HUB_CACHE``, no ``$HOME`` cache, a hub endpoint that refuses connections) and must
build the encoder from that snapshot. The download step (the local rule download_comet) names what
it put in the cache and refuses an encoder other than the one the checkpoint names.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMET_ID, ENCODER_ID = "radis-test/tiny-comet", "radis-test/tiny-encoder"
#: the commits the tiny repositories are cached at (made up: pinned, so no lock and no hub is asked)
COMET_COMMIT = hashlib.sha1(COMET_ID.encode()).hexdigest()
ENCODER_COMMIT = hashlib.sha1(ENCODER_ID.encode()).hexdigest()
ENCODER = {"id": ENCODER_ID, "revision": ENCODER_COMMIT}


def snapshot(cache: Path, repo_id: str, commit: str) -> Path:
    return cache / ("models--" + repo_id.replace("/", "--")) / "snapshots" / commit


def checkpoint(cache: Path) -> Path:
    return snapshot(cache, COMET_ID, COMET_COMMIT) / "checkpoints" / "model.ckpt"


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> Path:
    """A hub cache holding the tiny COMET (its hparams name the encoder ``tiny-encoder``, a hub id,
    as wmt22-comet-da names ``xlm-roberta-large``) and the encoder's tokenizer and config."""
    from comet_tiny import build_tiny_comet

    cache = tmp_path_factory.mktemp("hub-cache")
    comet = snapshot(cache, COMET_ID, COMET_COMMIT)
    build_tiny_comet(comet, encoder_id=ENCODER_ID.split("/")[1])
    encoder = snapshot(cache, ENCODER_ID, ENCODER_COMMIT)
    encoder.parent.mkdir(parents=True)
    shutil.move(comet / "encoder", encoder)
    return cache


def radis(cache: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m radis`` in this (the comet) environment as the score jobs run: offline, the hub
    cache as HF_HUB_CACHE, no home cache, and a hub endpoint nothing answers on."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(cwd / "no-home"),
           "HF_ENDPOINT": "http://127.0.0.1:9", "PYTHONPATH": str(REPO / "src")}
    env.pop("TRANSFORMERS_CACHE", None)
    return subprocess.run([sys.executable, "-m", "radis", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_score_builds_the_encoder_from_the_cached_snapshot_offline(hub_cache, tmp_path):
    rows = [{"source": "Der Hund läuft.", "hypothesis": "The dog is running.", "reference": "The dog runs.",
             "src_lang": "de", "tgt_lang": "en"}]
    hyp, meta, out = tmp_path / "de-en.hyp.jsonl", tmp_path / "de-en.hyp.meta.json", tmp_path / "de-en.json"
    hyp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    meta.write_text(json.dumps({"direction": "de-en"}))
    settings = {"comet_model": COMET_ID, "comet_revision": COMET_COMMIT, "comet_encoder": ENCODER,
                "comet_batch_size": 2}
    run = radis(hub_cache, tmp_path, "score", "--hypotheses", str(hyp), "--generation-meta", str(meta),
                "--backbone", "b", "--method", "m", "--out", str(out), "--settings", json.dumps(settings))
    assert run.returncode == 0, run.stderr[-3000:]
    cell = json.loads(out.read_text())
    assert math.isfinite(cell["metrics"]["comet"])
    signatures = cell["provenance"]["signatures"]
    assert signatures["comet_checkpoint"] == str(checkpoint(hub_cache))
    assert signatures["comet_encoder"] == str(snapshot(hub_cache, ENCODER_ID, ENCODER_COMMIT))


def test_download_names_the_snapshots_and_refuses_another_encoder(hub_cache, tmp_path):
    settings = {"comet_model": COMET_ID, "comet_revision": COMET_COMMIT, "comet_encoder": ENCODER}
    out = tmp_path / "results/comet/download.json"
    run = radis(hub_cache, tmp_path, "download-comet", "--out", str(out), "--settings", json.dumps(settings))
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(out.read_text()) == {
        "comet_model": COMET_ID, "checkpoint": str(checkpoint(hub_cache)),
        "encoder": str(snapshot(hub_cache, ENCODER_ID, ENCODER_COMMIT))}
    # an encoder other than the one the checkpoint names: the config key, before anything is fetched
    other = {**settings, "comet_encoder": {"id": "radis-test/other-encoder", "revision": ENCODER_COMMIT}}
    run = radis(hub_cache, tmp_path, "download-comet", "--out", str(tmp_path / "o.json"),
                "--settings", json.dumps(other))
    assert run.returncode == 2, run.stderr
    assert "evaluation.comet_encoder.id" in run.stderr and "'tiny-encoder'" in run.stderr, run.stderr
    # a commit the cache lacks, offline: the way out is named, no traceback
    missing = {**settings, "comet_encoder": {"id": ENCODER_ID, "revision": "f" * 40}}
    run = radis(hub_cache, tmp_path, "download-comet", "--out", str(tmp_path / "m.json"),
                "--settings", json.dumps(missing))
    assert run.returncode == 2 and "download_comet" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, run.stderr


def test_the_checkpoints_weights_are_loaded_under_the_cached_encoder(hub_cache, monkeypatch):
    """The encoder built from the snapshot (config and tokenizer) carries the checkpoint's weights:
    comet loads with strict=False, where a key mismatch would silently leave random weights."""
    import huggingface_hub.constants
    import torch

    from radis.evaluate.translation import load_comet

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    model = load_comet(COMET_ID, COMET_COMMIT, ENCODER)
    assert model.hparams.pretrained_model == str(snapshot(hub_cache, ENCODER_ID, ENCODER_COMMIT))
    saved = torch.load(checkpoint(hub_cache), map_location="cpu", weights_only=False)["state_dict"]
    loaded = model.state_dict()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
