"""Vanilla-FT: the backbone fine-tuned on the human-written references alone (the paper's baseline)."""

from __future__ import annotations

from radis.methods import Method, example


def build(records: list[dict]) -> list[dict]:
    return [example(r, r["reference"]) for r in records]


METHOD = Method("vanilla", build, label="Vanilla-FT")
