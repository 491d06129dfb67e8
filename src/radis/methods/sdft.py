"""SDFT (Yang et al. 2024): the backbone paraphrases each reference through SDFT's distillation
template and trains on its paraphrase; a paraphrase that talks about the set-up is rejected and
the reference kept."""

from __future__ import annotations

from radis.methods import Method, Synthesis, example, generation_fields
from radis.prompts import render_generation_prompt, user

#: SDFT's general distillation template (Yang et al. 2024, ``alpaca_distill_using``).
SDFT_SYSTEM = (
    "Below are an instruction that describes a task along with a reference answer. "
    "Using the reference answer as a guide, write your own response."
)
SDFT_USER = "### Instruction:\n{instruction}\n\n### Reference Answer:\n{response}\n\n### Response:\n"
#: SDFT rejects a paraphrase that talks about the distillation set-up instead of answering.
SDFT_REJECT_PHRASES = ("reference answer", "your response", "my response", "your own response", "now it's your turn")
SDFT_REJECT_PREFIX = "your turn"


def sdft_messages(instruction: str, response: str) -> list[dict]:
    return [
        {"role": "system", "content": SDFT_SYSTEM},
        user(SDFT_USER.format(instruction=instruction, response=response)),
    ]


def sdft_prompts(tokenizer, records: list[dict]) -> list[str]:
    """SDFT prompts; chat formats without a system role get the system text folded into the user turn."""
    from jinja2.exceptions import TemplateError

    prompts = []
    for r in records:
        messages = sdft_messages(r["instruction"], r["reference"])
        try:
            prompts.append(render_generation_prompt(tokenizer, messages))
        except TemplateError:
            folded = [user(messages[0]["content"] + "\n\n" + messages[1]["content"])]
            prompts.append(render_generation_prompt(tokenizer, folded))
    return prompts


def sdft_rejected(paraphrase: str) -> bool:
    text = paraphrase.strip().lower()
    return not text or any(p in text for p in SDFT_REJECT_PHRASES) or text.startswith(SDFT_REJECT_PREFIX)


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


METHOD = Method("sdft", build, Synthesis("sdft", sdft_prompts, add_sdft, summary))
