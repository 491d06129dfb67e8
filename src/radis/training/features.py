"""What is learned from a chat example: token ids, and labels on the assistant's last reply only.

Loss covers the assistant's reply through its end-of-turn token: chat models whose pad token is
their eos would otherwise never learn to stop, so labels are built explicitly from character
offsets rather than from the padding mask. For the same reason an example cut before its
end-of-turn token by ``training.max_length`` is refused or left out, never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

from radis.io import InputError
from radis.prompts import render_conversation, render_generation_prompt

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


def build_features(tokenizer, messages: list[dict], max_length: int) -> Features:
    """Token ids and labels of one chat example: labels are the ids of the last assistant turn
    (its content and the end-of-turn token), ``IGNORE_INDEX`` everywhere else."""
    prompt = render_generation_prompt(tokenizer, messages[:-1])
    full = render_conversation(tokenizer, messages)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently inside the full conversation")
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    labels = [tok if start >= len(prompt) else IGNORE_INDEX for tok, (start, _) in zip(ids, enc["offset_mapping"])]
    eos = tokenizer.eos_token_id
    ends = [i for i, tok in enumerate(ids) if tok == eos and labels[i] != IGNORE_INDEX]
    if not ends:
        raise ValueError(f"the chat template does not close the assistant turn with eos {tokenizer.eos_token!r}")
    labels[ends[-1] + 1:] = [IGNORE_INDEX] * (len(labels) - ends[-1] - 1)  # template text after the turn
    truncated = len(ids) > max_length
    return Features(ids[:max_length], labels[:max_length], truncated, lost_end_of_turn=ends[-1] >= max_length)


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
