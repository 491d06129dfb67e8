"""Seq-KD: the references and the backbone's own translations of the same sources (Eq. 5)."""

from __future__ import annotations

from radis.methods import Method, Synthesis, example, generation_fields
from radis.prompts import render_generation_prompt, user


def seqkd_prompts(tokenizer, records: list[dict]) -> list[str]:
    return [render_generation_prompt(tokenizer, [user(r["instruction"])]) for r in records]


def add_seqkd(records: list[dict], generations: list) -> list[dict]:
    return [{**r, "seqkd_response": g.text.strip(), **generation_fields(g)}
            for r, g in zip(records, generations, strict=True)]


def summary(records: list[dict]) -> dict:
    return {"empty": sum(1 for r in records if not r["seqkd_response"])}


def build(records: list[dict]) -> list[dict]:
    """Both targets; an empty self-translation adds nothing (there is nothing to distil)."""
    examples = []
    for r in records:
        examples.append(example(r, r["reference"]))
        if r["seqkd_response"]:
            examples.append(example(r, r["seqkd_response"], "/seqkd"))
    return examples


METHOD = Method("seqkd", build, Synthesis("seqkd", seqkd_prompts, add_seqkd, summary), label="Seq-KD")
