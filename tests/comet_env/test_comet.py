"""The COMET path, run inside the comet environment (envs/comet.yaml) by
tests/test_translation_metrics.py::test_comet_suite_in_the_comet_environment: a tiny COMET
checkpoint built offline, loaded and scored exactly as the score_translation rule does."""

from __future__ import annotations

import math
import os

# Before anything imports huggingface_hub/transformers (they read it once, at import).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from radis.evaluate.translation import CometUnavailableError, score_translations  # noqa: E402

SRC = ["Der Hund läuft.", "Die Katze schläft auf dem Sofa."]
REF = ["The dog runs.", "The cat sleeps on the sofa."]


@pytest.fixture(scope="session")
def offline():
    """Force Hugging Face offline even if another test imported the hub first: any request raises."""
    import huggingface_hub.constants
    import transformers.utils.hub

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        mp.setattr(transformers.utils.hub, "_is_offline_mode", True)
        yield


@pytest.fixture(scope="session")
def tiny_comet(tmp_path_factory, offline):
    from comet_tiny import build_tiny_comet

    return build_tiny_comet(tmp_path_factory.mktemp("tiny-comet"))


def test_comet_with_local_tiny_checkpoint(tiny_comet):
    hyp = ["The dog is running.", "A cat sleeps on a sofa."]
    result = score_translations(SRC, hyp, REF, "en", comet_model=str(tiny_comet), comet_batch_size=2)
    assert isinstance(result["comet"], float) and math.isfinite(result["comet"])
    assert result["comet_model"] == str(tiny_comet)
    # The model directory (hub layout) is accepted too, and gives the same score.
    again = score_translations(SRC, hyp, REF, "en", comet_model=str(tiny_comet.parents[1]))
    assert again["comet"] == pytest.approx(result["comet"])


def test_tiny_checkpoint_weights_are_really_loaded(tiny_comet):
    # comet loads with strict=False: a key mismatch would silently leave random weights.
    import torch

    from radis.evaluate.translation import load_comet

    saved = torch.load(tiny_comet, map_location="cpu", weights_only=False)["state_dict"]
    loaded = load_comet(str(tiny_comet)).state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)


def test_comet_hub_id_offline_names_the_way_out(offline):
    with pytest.raises(CometUnavailableError, match="could not be fetched.*local checkpoint"):
        score_translations(SRC, REF, REF, "en", comet_model="radis-test/no-such-comet-model")


def test_missing_local_checkpoint(tmp_path):
    with pytest.raises(CometUnavailableError, match="does not exist"):
        score_translations(SRC, REF, REF, "en", comet_model=str(tmp_path / "model.ckpt"))


def test_scoring_in_chunks_equals_one_call_and_logs_progress(tiny_comet, capsys):
    """Scored a few batches per predict call (so the log shows done/total, rate and time left), the
    segment scores and their mean are COMET's own for the whole set at once."""
    from radis.evaluate.translation import COMET_CHUNK_BATCHES, comet_segment_scores, load_comet

    model = load_comet(str(tiny_comet))
    n = 2 * COMET_CHUNK_BATCHES + 3  # three predict calls at batch size 1
    samples = [{"src": f"{SRC[i % 2]} {i}", "mt": f"The dog {i}.", "ref": REF[i % 2]} for i in range(n)]
    capsys.readouterr()
    chunked = comet_segment_scores(model, samples, batch_size=1, gpus=0)
    err = capsys.readouterr().err
    whole = model.predict(samples, batch_size=1, gpus=0, progress_bar=False)
    assert chunked == pytest.approx([float(x) for x in whole.scores], abs=1e-6)
    assert sum(chunked) / n == pytest.approx(float(whole.system_score), abs=1e-6)
    assert "comet: 100%" in err and f"{n}/{n}" in err and "seg/s" in err
