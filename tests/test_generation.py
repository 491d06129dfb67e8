"""The hf backend: batching (with the shared prompt prefix computed once and grouped-KV decoding)
must not change what greedy decoding writes, compared with plain one-request ``generate`` calls."""

from __future__ import annotations

import pytest

from radis.generation.hf import shared_prefix_length


def test_shared_prefix_leaves_every_row_a_token_of_its_own():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5]]) == 3
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2  # the shorter row keeps its last token
    assert shared_prefix_length([[7, 2], [1, 2]]) == 0
    assert shared_prefix_length([[1, 2, 3]]) == 2


@pytest.fixture(scope="module")
def generator(embedded_backbone):
    from radis.generation.hf import HFGenerator

    return HFGenerator(embedded_backbone, batch_size=4)


def test_batched_greedy_generation_equals_one_request_at_a_time(generator):
    import torch

    from radis.config import DecodingParams
    from radis.prompts import render_continuation_prompt, render_generation_prompt, user, assistant

    tok = generator.tokenizer
    prompts = [
        render_generation_prompt(tok, [user("Translate the following sentence from German to English:\nHallo Welt.")]),
        render_generation_prompt(tok, [user("What is the capital of France? Answer in one word.")]),
        render_continuation_prompt(tok, [user("Translate from Czech to English:\nDobrý den, jak se máte?"),
                                         assistant("Good day, how are you?")]),
        render_generation_prompt(tok, [user("Write a haiku about the sea, please, with a long and winding "
                                            "introduction that makes this prompt much longer than the rest.")]),
        render_generation_prompt(tok, [user("Count to five.")]),
    ]
    params = DecodingParams(max_new_tokens=12, min_new_tokens=4)
    batched = generator.generate(prompts, params)
    kwargs = generator._kwargs(params)
    for prompt, got in zip(prompts, batched):
        enc = tok(prompt, add_special_tokens=False, return_tensors="pt")
        with torch.inference_mode():
            ids = generator.model.generate(**enc, **kwargs)
        alone = generator._decode(ids[0, enc["input_ids"].shape[1]:].tolist())
        assert (got.text, got.n_tokens, got.finished) == (alone.text, alone.n_tokens, alone.finished), prompt
    assert all(g.n_tokens >= 4 for g in batched)
