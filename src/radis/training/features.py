"""What is learned from a chat example: token ids, and labels on the assistant's last reply only.

Loss covers the assistant's reply through its end-of-turn token: chat models whose pad token is
their eos would otherwise never learn to stop, so labels are built explicitly rather than from
the padding mask. For the same reason an example cut before its end-of-turn token by
``training.max_length`` is refused or left out, never trained on.

As in LLaMA-Factory (the paper's training code), prompt, reply and end of turn are tokenised
apart: the reply's first labelled token is the one the model writes first after the generation
prompt (``▁The``), whether the template glues the reply to ``[/INST]`` (Mistral-7B-Instruct-v0.2's
original template: ``]The``) or not, and whitespace the template puts between the reply and its
end-of-turn token (LLaMA-2-Chat: ``… </s>``) is not trained: the model writes the token itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from radis.io import InputError
from radis.prompts import render_conversation, render_generation_prompt, token_ids

IGNORE_INDEX = -100
#: what ``training.overlong`` may say about an example whose end-of-turn token lies past max_length
OVERLONG = ("error", "drop")


@dataclass(frozen=True)
class Features:
    input_ids: list[int]
    labels: list[int]
    truncated: bool
    #: cut before its end-of-turn token: trained on, the model would never learn to stop there
    lost_end_of_turn: bool = False

    @property
    def n_target(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


@dataclass(frozen=True)
class Turn:
    """One chat example split where its last reply starts and ends: the prompt's ids (through the
    generation prompt), the reply's text and ids, and the ids after it (the end of turn first)."""

    prompt_ids: list[int]
    reply: str
    reply_ids: list[int]
    closing_ids: list[int]


def split_turn(tokenizer, messages: list[dict]) -> Turn:
    """The last assistant reply of ``messages`` cut out of the template's rendering and tokenised
    apart from the prompt before it and the end of turn after it."""
    prompt = render_generation_prompt(tokenizer, messages[:-1])
    full = render_conversation(tokenizer, messages)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently inside the full conversation")
    reply = messages[-1]["content"].strip()
    rest = full[len(prompt):]
    at = rest.find(reply)
    if not reply or at < 0:
        raise ValueError("the chat template does not write the reply as given (it rewrites its text)")
    # template text before the reply stays prompt (a space the tokenizer's prefix space replaces dropped)
    head = prompt + rest[:at].rstrip(" ")
    return Turn(token_ids(tokenizer, head), reply, token_ids(tokenizer, reply),
                token_ids(tokenizer, rest[at + len(reply):].lstrip()))


def build_features(tokenizer, messages: list[dict], max_length: int) -> Features:
    """Token ids and labels of one chat example: labels are the ids of the last assistant turn
    (its content and the end-of-turn token), ``IGNORE_INDEX`` everywhere else."""
    turn = split_turn(tokenizer, messages)
    eos = tokenizer.eos_token_id
    if eos not in turn.closing_ids:
        raise ValueError(f"the chat template does not close the assistant turn with eos {tokenizer.eos_token!r}")
    end = turn.closing_ids.index(eos) + 1  # template text after the end of turn is not trained
    ids = turn.prompt_ids + turn.reply_ids + turn.closing_ids
    labels = ([IGNORE_INDEX] * len(turn.prompt_ids) + turn.reply_ids + turn.closing_ids[:end]
              + [IGNORE_INDEX] * (len(turn.closing_ids) - end))
    end_of_turn = len(turn.prompt_ids) + len(turn.reply_ids) + end - 1
    return Features(ids[:max_length], labels[:max_length], len(ids) > max_length,
                    lost_end_of_turn=end_of_turn >= max_length)


def keep_whole_turns(features: list[Features], names: list[str], max_length: int, overlong: str,
                     source: str) -> list[Features]:
    """The examples to train on: those that keep their end-of-turn token within ``max_length``.

    Cutting an example's end of turn teaches the model a reply that never ends, so such examples
    are refused (``overlong: error``, one message before the model loads) or left out and counted
    (``overlong: drop``). A cut in template text after the end of turn is harmless and kept."""
    if overlong not in OVERLONG:
        raise InputError(f"training.overlong must be one of {', '.join(OVERLONG)}, not {overlong!r}")
    cut = [name for name, f in zip(names, features, strict=True) if f.lost_end_of_turn]
    if cut and overlong == "error":
        shown = ", ".join(cut[:3])
        raise InputError(
            f"{source}: {len(cut)} of {len(features)} example(s) are longer than training.max_length "
            f"({max_length} tokens) and would lose their end-of-turn token, e.g. {shown}; raise "
            "training.max_length, or set training.overlong: drop to leave them out (counted in the summary)")
    return [f for f in features if not f.lost_end_of_turn]
