"""The paper's translation instructions (Fig. 5) and rendering in the backbone's own chat format.

RaDis always uses the backbone's original chat template (Appendix B.1), both to elicit rationales
and to fine-tune, so every prompt here goes through ``tokenizer.apply_chat_template``.
"""

from __future__ import annotations

from radis.data import seeded_rng
from radis.languages import Direction, language_name

#: Paper Fig. 5; {lang1}/{lang2} are English language names, {sent1} the source sentence.
INSTRUCTIONS: tuple[str, ...] = (
    "Could you please translate this sentence from {lang1} to {lang2}?\n{sent1}",
    "Translate the following sentence from {lang1} to {lang2}:\n{sent1}",
    "Translate this sentence from {lang1} to {lang2}.\n{sent1}",
    "Translate from {lang1} to {lang2}:\n{sent1}",
    "{sent1}\nTranslate this sentence to {lang2}.",
)


def translation_instruction(direction: Direction, source: str, template: int) -> str:
    return INSTRUCTIONS[template].format(
        lang1=language_name(direction.src), lang2=language_name(direction.tgt), sent1=source
    )


def format_translation_prompt(prompt_format: dict, bos: str, direction: Direction, source: str) -> str:
    """A released MT model's own prompt (workflow/resources/prompt_formats), as plain text."""
    names = prompt_format.get("language_names", {})
    return prompt_format["translation"].format(
        bos=bos, source=source,
        src_lang=names.get(direction.src) or language_name(direction.src),
        tgt_lang=names.get(direction.tgt) or language_name(direction.tgt),
    )


def draw_templates(n: int, seed: int, salt: str) -> list[int]:
    """One instruction template per sample, drawn with a fixed seed (B.1: avoids overfitting to one).

    ``salt`` (e.g. the direction) keeps directions independent, so adding a direction does not
    change the draws of the others.
    """
    rng = seeded_rng(seed, salt)
    return [rng.randrange(len(INSTRUCTIONS)) for _ in range(n)]


def user(content: str) -> dict:
    return {"role": "user", "content": content}


def assistant(content: str) -> dict:
    return {"role": "assistant", "content": content}


def render_generation_prompt(tokenizer, messages: list[dict]) -> str:
    """The chat up to an opened assistant turn: what the model answers."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def render_continuation_prompt(tokenizer, messages: list[dict]) -> str:
    """The chat with the last (assistant) message left open, so the model continues it.

    This is how a rationale is elicited: [user: instruction(x), assistant: y] with the assistant
    turn not closed; whatever the model writes next is r.
    """
    if messages[-1]["role"] != "assistant":
        raise ValueError("the message to continue must be the assistant's")
    return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)


def render_conversation(tokenizer, messages: list[dict]) -> str:
    """A complete chat, every turn closed: the training text."""
    return tokenizer.apply_chat_template(messages, tokenize=False)
