"""The hf backend: length-sorted, left-padded batching must not change what greedy decoding
writes, compared with plain one-request ``generate`` calls."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def generator(embedded_backbone):
    from radis.generation.hf import HFGenerator

    return HFGenerator(embedded_backbone, batch_size=4)


def test_batched_greedy_generation_equals_one_request_at_a_time(generator):
    import torch

    from radis.config import DecodingParams
    from radis.generation.hf import generate_kwargs
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
    params = DecodingParams.from_config({"max_new_tokens": 12, "min_new_tokens": 4})
    batched = generator.generate(prompts, params)
    kwargs = generate_kwargs(params, tok, generator.stop_ids)
    for prompt, got in zip(prompts, batched):
        enc = tok(prompt, add_special_tokens=False, return_tensors="pt")
        with torch.inference_mode():
            ids = generator.model.generate(**enc, **kwargs)
        prompt_ids = enc["input_ids"][0].tolist()
        alone = generator._decode(prompt_ids, ids[0, len(prompt_ids):].tolist())
        assert (got.text, got.n_tokens, got.finished) == (alone.text, alone.n_tokens, alone.finished), prompt
    assert all(g.n_tokens >= 4 for g in batched)
