"""Judging by log-probabilities: a judge's verdict read from its next-token distribution.

Why: a small local judge (the embedded default's SmolLM2-135M) cannot be relied on to write
FastChat's ``[[rating]]`` or a list of categories, so its text gives no number at all; its
next-token distribution still does. With ``judges.<name>.scoring: logprobs`` each verdict is one
token asked with ``logprobs``/``top_logprobs``:

* MT-Bench: the judge's reply is started for it with FastChat's rating prefix (``Rating: [[``, the
  format its prompts ask for) and continued (``continue_final_message``, which vLLM's server and
  radis.judges.server accept; OpenAI's API does not); the rating is the probability-weighted mean of
  "1"…"10" over the next token. Where "10" is no token of its own, the reply after ``[[1`` is asked
  too: P(10) = P("1")·P("0" | "[[1"), and the rest of P("1") stays with 1.
* Table 4: one yes/no question per category; the verdict is P("Yes") / (P("Yes") + P("No")) of the
  first token of the answer, and the category applies when that is above one half.

Only the ``TOP_LOGPROBS`` most likely tokens are seen: a verdict none of whose tokens is among them
is a failure (``None``), reported like a text judge's parse failure, never guessed. An answer with
no logprobs at all judges nothing: the client asks again and, failing that, returns the request
failed (radis.judges.client.failure_of), which :func:`rate` records as ``failed``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from radis.judges.client import JudgeError, failure_of

#: the most alternatives OpenAI's API returns per token (vLLM and radis.judges.server allow as many)
TOP_LOGPROBS = 20
#: FastChat's rating format ("Rating: [[5]]"), up to where the rating starts
RATING_PREFIX = "Rating: [["
RATINGS = tuple(range(1, 11))


def next_token_request(messages: Sequence[Mapping[str, Any]], prefix: str | None = None) -> dict:
    """One greedy token with its top log-probabilities; with ``prefix``, the judge's reply starts with
    it and the model continues it (an assistant message left open)."""
    request: dict[str, Any] = {"messages": [dict(m) for m in messages], "max_tokens": 1, "temperature": 0,
                               "logprobs": True, "top_logprobs": TOP_LOGPROBS}
    if prefix is not None:
        request["messages"].append({"role": "assistant", "content": prefix})
        request["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
    return request


def first_token_probs(response: Mapping[str, Any]) -> dict[str, float]:
    """Probability of each alternative of the first generated token (summed over equal texts); none
    for a failed request (radis.judges.client.failure_of)."""
    if failure_of(response):
        return {}
    logprobs = response["choices"][0].get("logprobs") or {}
    content = logprobs.get("content") or []
    if not content:
        raise JudgeError("the judge returned no logprobs: scoring 'logprobs' needs an endpoint that returns "
                         "them (vLLM, radis.judges.server, OpenAI's chat API)")
    probs: dict[str, float] = {}
    for alt in content[0].get("top_logprobs") or []:
        probs[alt["token"]] = probs.get(alt["token"], 0.0) + math.exp(alt["logprob"])
    return probs


def _digits(probs: Mapping[str, float]) -> dict[int, float]:
    out: dict[int, float] = {}
    for token, p in probs.items():
        text = token.strip()
        if text.isdigit() and int(text) in RATINGS and text == str(int(text)):
            out[int(text)] = out.get(int(text), 0.0) + p
    return out


def needs_ten(probs: Mapping[str, float]) -> bool:
    """Whether "1" may be the start of "10": it is among the alternatives and "10" is not a token there."""
    digits = _digits(probs)
    return digits.get(1, 0.0) > 0 and 10 not in digits


def rating_distribution(first: Mapping[str, float], after_one: Mapping[str, float] | None = None) -> dict[int, float]:
    """Probability of each rating 1..10 seen after the prefix (not normalised: the rest of the mass
    went to tokens that are no rating). ``after_one``: the alternatives after ``[[1`` (see :func:`needs_ten`)."""
    dist = _digits(first)
    if after_one is not None and dist.get(1):
        zero = sum(p for token, p in after_one.items() if token.strip() == "0" or token.startswith("0]"))
        dist[10] = dist.get(10, 0.0) + dist[1] * zero
        dist[1] *= 1.0 - zero
    return dist


def expected_rating(dist: Mapping[int, float]) -> float | None:
    """The probability-weighted rating, renormalised over the ratings; None when none was seen."""
    mass = sum(dist.values())
    return sum(k * p for k, p in dist.items()) / mass if mass > 0 else None


def yes_probability(probs: Mapping[str, float]) -> float | None:
    """P(yes) / (P(yes) + P(no)) over the answer's first token; None when neither is among the alternatives."""
    yes = sum(p for token, p in probs.items() if token.strip().lower() == "yes")
    no = sum(p for token, p in probs.items() if token.strip().lower() == "no")
    return yes / (yes + no) if yes + no > 0 else None


def rate(client, conversations: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict]:
    """``{rating, rating_probs, rating_mass}`` per conversation (a judge prompt whose answer is a rating),
    through ``client`` (a ``radis.judges.client.JudgeClient``): one request each, plus one for those
    whose "1" may begin "10". A conversation whose request failed has ``failed`` (the reason) and no
    rating."""
    answers = client.complete([next_token_request(c, RATING_PREFIX) for c in conversations])
    first = [first_token_probs(r) for r in answers]
    follow = [i for i, probs in enumerate(first) if needs_ten(probs)]
    responses = client.complete([next_token_request(conversations[i], RATING_PREFIX + "1") for i in follow])
    after = dict(zip(follow, responses))
    out = []
    for i, probs in enumerate(first):
        reason = failure_of(answers[i]) or (failure_of(after[i]) if i in after else None)
        if reason:
            out.append({"rating": None, "rating_probs": {}, "rating_mass": 0.0, "failed": reason})
            continue
        dist = rating_distribution(probs, first_token_probs(after[i]) if i in after else None)
        out.append({"rating": expected_rating(dist), "rating_probs": {str(k): dist[k] for k in sorted(dist)},
                    "rating_mass": sum(dist.values())})
    return out


def yes_probabilities(client, conversations: Sequence[Sequence[Mapping[str, Any]]]) -> list[float | None]:
    """:func:`yes_probability` of each conversation's answer, one request each (None where the
    request failed, as where neither "Yes" nor "No" was among the alternatives)."""
    return [yes_probability(first_token_probs(r)) for r in client.complete([next_token_request(c)
                                                                              for c in conversations])]
