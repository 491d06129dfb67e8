"""The paper's translation instructions (Fig. 5) and rendering in the backbone's own chat format.

RaDis always uses the backbone's original chat template (Appendix B.1), both to elicit rationales
and to fine-tune, so every prompt here goes through ``tokenizer.apply_chat_template``.

A reply inside a prompt (the reference a rationale continues, an earlier MT-Bench answer) is
written as the model writes it: its tokens are those of the reply tokenised alone, as LLaMA-Factory
(the paper's training code) tokenises a response apart from its prompt. Templates differ in the
text between ``[/INST]`` and the reply: LLaMA-2-Chat writes a space, Mistral-7B-Instruct-v0.2's
original template none (``[/INST]The``, so SentencePiece reads ``The`` where the model writes
``▁The``), its later revision a space again. :func:`join_apart` takes whichever joint keeps the
reply's own tokens, so prompts do not depend on which revision a backbone carries.
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


def token_ids(tokenizer, text: str) -> list[int]:
    """``text``'s ids as the generators and the trainer read them: no special tokens added (the
    chat template wrote them)."""
    return tokenizer(text, add_special_tokens=False).input_ids


#: what may stand between a prompt and a reply that follows it (tried in this order)
_JOINTS = ("", " ")


def join_apart(tokenizer, before: str, after: str) -> str | None:
    """``before`` + ``after`` with the joint (nothing, or one space) whose tokens are those of
    ``before`` then those of ``after`` tokenised alone, as LLaMA-Factory encodes a prompt and a
    response (or a system text and a user turn) apart: a reply then starts with the token the
    model writes first (``▁The`` after LLaMA-2's and Mistral's ``[/INST]``, ``The`` after Llama-3's
    header). Spaces ending ``before`` (a template's own joint) are replaced; None when no joint
    keeps the tokens (a tokenizer that merges across the boundary whatever stands there)."""
    before = before.rstrip(" ")
    head, want = token_ids(tokenizer, before), token_ids(tokenizer, after)
    for joint in _JOINTS:
        ids = token_ids(tokenizer, before + joint + after)
        if ids[:len(head)] == head and ids[len(head):] == want:
            return before + joint + after
    return None


def _replies_as_written(tokenizer, text: str, messages: list[dict]) -> str:
    """``text`` (a rendered chat) with each assistant reply joined to what precedes it by
    :func:`join_apart`; a reply the template rewrote, or no joint keeps, is left as rendered."""
    cursor = 0
    for message in messages:
        reply = message["content"].strip()
        if message["role"] != "assistant" or not reply:
            continue
        at = text.find(reply, cursor)
        if at < 0:
            continue
        joined = join_apart(tokenizer, text[:at], reply)
        if joined is not None:
            text = joined + text[at + len(reply):]
            at = len(joined) - len(reply)
        cursor = at + len(reply)
    return text


def render_generation_prompt(tokenizer, messages: list[dict]) -> str:
    """The chat up to an opened assistant turn: what the model answers (earlier replies, as in an
    MT-Bench turn-2 prompt, written as the model wrote them)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if any(m["role"] == "assistant" for m in messages):
        text = _replies_as_written(tokenizer, text, messages)
    return text


def render_continuation_prompt(tokenizer, messages: list[dict]) -> str:
    """The chat with the last (assistant) message left open, so the model continues it.

    This is how a rationale is elicited: [user: instruction(x), assistant: y] with the assistant
    turn not closed; whatever the model writes next is r. y's tokens are those the model would
    have written for it (:func:`join_apart`), the first one included, whatever the template glues.
    """
    if messages[-1]["role"] != "assistant":
        raise ValueError("the message to continue must be the assistant's")
    joined = join_apart(tokenizer, render_generation_prompt(tokenizer, messages[:-1]),
                        messages[-1]["content"].strip())
    if joined is not None:
        return joined
    return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)


def render_conversation(tokenizer, messages: list[dict]) -> str:
    """A complete chat, every turn closed, as the template writes it (the training features take
    its text around the last reply: radis.training.features)."""
    return tokenizer.apply_chat_template(messages, tokenize=False)


def with_instructions(records: list[dict], direction: Direction, seed: int) -> list[dict]:
    """Attach the instruction (one of the 5 templates, drawn per sample with a fixed seed).

    Every method draws the same way, so Vanilla-FT, Seq-KD, SDFT and RaDis see the same
    instruction for the same sentence pair.
    """
    templates = draw_templates(len(records), seed, str(direction))
    return [
        {**r, "template": t, "instruction": translation_instruction(direction, r["source"], t)}
        for r, t in zip(records, templates)
    ]
