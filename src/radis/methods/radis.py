"""RaDis (the paper's method): the reference extended with the backbone's own rationale, ŷ = y + r
(Eq. 2). The rationale is the continuation the backbone writes after the reference, asked with an
open assistant turn that already holds y (radis.prompts.render_continuation_prompt)."""

from __future__ import annotations

from radis.methods import Method, Synthesis, example, generation_fields
from radis.prompts import assistant, render_continuation_prompt, user


def enriched_response(reference: str, rationale: str) -> str:
    """ŷ = CONCAT(y, r); an empty rationale (the model closed the turn at once) leaves y alone."""
    rationale = rationale.rstrip()
    return reference + rationale if rationale.strip() else reference


def rationale_prompts(tokenizer, records: list[dict]) -> list[str]:
    return [render_continuation_prompt(tokenizer, [user(r["instruction"]), assistant(r["reference"])]) for r in records]


def add_rationales(records: list[dict], generations: list) -> list[dict]:
    out = []
    for r, g in zip(records, generations, strict=True):
        rationale = g.text.rstrip() if g.text.strip() else ""
        out.append({**r, "rationale": rationale, "enriched_response": enriched_response(r["reference"], rationale),
                    **generation_fields(g)})
    return out


def summary(records: list[dict]) -> dict:
    n = len(records)
    hits = sum(1 for r in records if r["rationale"])
    # the share of training pairs with a non-empty continuation after y (not the paper's 139/200,
    # which counts rationales in zero-shot replies)
    return {"with_rationale": hits, "rationale_rate": hits / n if n else 0.0,
            "rationale_rate_means": "share of training pairs with a non-empty rationale"}


def build(records: list[dict]) -> list[dict]:
    return [example(r, r["enriched_response"]) for r in records]


METHOD = Method("radis", build, Synthesis("rationale", rationale_prompts, add_rationales, summary), label="RaDis")
