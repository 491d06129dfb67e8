"""SDFT (Yang et al. 2024): the backbone paraphrases each reference through SDFT's distillation
template and trains on its paraphrase; a paraphrase that talks about the set-up is rejected and
the reference kept.

The prompt is SDFT's own (sail-sg/sdft ``main.py``, template ``alpaca_distill_using``, run by its
LLaMA-Factory fork at 162ce42): plain text, no chat template and no BOS, the system text followed
directly by the user slot (the fork's default system formatter is ``{{content}}``), each part
tokenised apart. The paper notes the prompt is tailored for LLaMA-2; on Mistral SDFT collapses.
"""

from __future__ import annotations

from radis.methods import Method, Synthesis, example, generation_fields
from radis.prompts import join_apart

#: SDFT's general distillation template (Yang et al. 2024, ``alpaca_distill_using``).
SDFT_SYSTEM = (
    "Below are an instruction that describes a task along with a reference answer. "
    "Using the reference answer as a guide, write your own response."
)
SDFT_USER = "### Instruction:\n{instruction}\n\n### Reference Answer:\n{response}\n\n### Response:\n"
#: SDFT rejects a paraphrase that talks about the distillation set-up instead of answering
#: (``eval/gen_distilled_data.py``, ``verify``: these, in any case; a reply starting "Your turn").
SDFT_REJECT_PHRASES = ("reference answer", "your response", "my response", "your own response", "now it's your turn")
SDFT_REJECT_PREFIX = "Your turn"


def sdft_prompt(tokenizer, instruction: str, response: str) -> str:
    """One SDFT prompt as SDFT's LLaMA-Factory fork encodes it: the system text's tokens, then the
    user slot's (:func:`radis.prompts.join_apart`; a tokenizer that merges across the boundary
    gets the two texts back to back, as the fork's template writes them)."""
    user_slot = SDFT_USER.format(instruction=instruction, response=response)
    return join_apart(tokenizer, SDFT_SYSTEM, user_slot) or SDFT_SYSTEM + user_slot


def sdft_prompts(tokenizer, records: list[dict]) -> list[str]:
    return [sdft_prompt(tokenizer, r["instruction"], r["reference"]) for r in records]


def sdft_rejected(paraphrase: str) -> bool:
    """SDFT's filter on the stripped reply, plus one rule of ours: an empty paraphrase is rejected
    (SDFT would train on the empty string)."""
    text = paraphrase.strip()
    return not text or any(p in text.lower() for p in SDFT_REJECT_PHRASES) or text.startswith(SDFT_REJECT_PREFIX)


def add_sdft(records: list[dict], generations: list) -> list[dict]:
    out = []
    for r, g in zip(records, generations, strict=True):
        rejected = sdft_rejected(g.text)
        out.append({**r, "sdft_paraphrase": g.text.strip(), "sdft_rejected": rejected,
                    "sdft_response": r["reference"] if rejected else g.text.strip(), **generation_fields(g)})
    return out


def summary(records: list[dict]) -> dict:
    n = len(records)
    rejected = sum(1 for r in records if r["sdft_rejected"])
    return {"rejected": rejected, "rejection_rate": rejected / n if n else 0.0}


def build(records: list[dict]) -> list[dict]:
    return [example(r, r["sdft_response"]) for r in records]


METHOD = Method("sdft", build, Synthesis("sdft", sdft_prompts, add_sdft, summary), label="SDFT")
