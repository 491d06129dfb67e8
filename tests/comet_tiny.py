"""Build a tiny, randomly initialised COMET checkpoint offline, for tests of the COMET code path.

It is unbabel-comet's ``RegressionMetric`` (the class of Unbabel/wmt22-comet-da) on a 2-layer BERT
encoder with a character-level WordPiece vocabulary, saved in the hub layout that
``comet.load_from_checkpoint`` expects::

    <root>/hparams.yaml              class_identifier: regression_metric
    <root>/checkpoints/model.ckpt    Lightning checkpoint (state_dict + hyper_parameters)
    <root>/encoder/                  config.json + vocab.txt (the ``pretrained_model`` it names)

Scores are meaningless; what the tests prove is that loading and predicting work without network.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch
import yaml

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _write_encoder(encoder_dir: Path) -> None:
    from transformers import BertConfig, BertTokenizerFast

    encoder_dir.mkdir(parents=True, exist_ok=True)
    chars = string.ascii_letters + string.digits + string.punctuation
    vocab = SPECIAL + list(chars) + ["##" + c for c in chars]
    (encoder_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(encoder_dir / "vocab.txt")).save_pretrained(encoder_dir)
    BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    ).save_pretrained(encoder_dir)


def build_tiny_comet(root: str | Path, seed: int = 0, encoder_id: str | None = None) -> Path:
    """Write a tiny COMET model under ``root`` and return the path of ``checkpoints/model.ckpt``.

    ``encoder_id``: the hub id its hparams name as ``pretrained_model`` instead of ``<root>/encoder``,
    as wmt22-comet-da names ``xlm-roberta-large`` (the encoder's files stay in ``<root>/encoder``,
    for the test to put into a hub cache under that id)."""
    import pytorch_lightning
    from comet.models import RegressionMetric

    root = Path(root)
    encoder_dir = (root / "encoder").resolve()
    _write_encoder(encoder_dir)

    torch.manual_seed(seed)
    model = RegressionMetric(
        encoder_model="BERT",
        pretrained_model=str(encoder_dir),
        load_pretrained_weights=False,  # random init from config.json: no weights to download
        local_files_only=True,
        hidden_sizes=[16],
        layer="mix",
        pool="avg",
        dropout=0.0,
    )
    hparams = dict(model.hparams)
    if encoder_id is not None:
        hparams["pretrained_model"] = encoder_id
    ckpt = root / "checkpoints" / "model.ckpt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": hparams,
            "pytorch-lightning_version": pytorch_lightning.__version__,
            "epoch": 0,
            "global_step": 0,
        },
        ckpt,
    )
    (root / "hparams.yaml").write_text(yaml.safe_dump(hparams), encoding="utf-8")
    return ckpt
