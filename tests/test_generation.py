"""The hf backend: length-sorted, left-padded batching must not change what greedy decoding
writes, compared with plain one-request ``generate`` calls."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def generator(embedded_backbone):
    from radis.generation.hf import HFGenerator

    return HFGenerator(embedded_backbone, batch_size=4, dtype="float32")


def test_batched_greedy_generation_equals_one_request_at_a_time(generator):
    import torch

    from radis.generation.hf import generate_kwargs
    from radis.prompts import assistant, render_continuation_prompt, render_generation_prompt, user
    from radis.settings import DecodingParams

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


def test_sampled_generation_is_seeded_per_request_whatever_the_batch(embedded_backbone, generator):
    """A sampled request draws the same sample alone, in a batch of 4 in another order, or in a
    rerun (radis.generation.request_seed); another config seed draws another sample."""
    from radis.generation.hf import HFGenerator
    from radis.prompts import render_generation_prompt, user
    from radis.settings import DecodingParams

    tok = generator.tokenizer
    prompts = [render_generation_prompt(tok, [user(q)]) for q in
               ("Name a colour.", "Write one sentence about the sea.", "What is 2+2?", "Say hello in French.",
                "Tell me a fact about cats, please, in one short sentence.")]
    params = DecodingParams.from_config({"max_new_tokens": 10, "temperature": 1.0, "top_p": 0.95, "top_k": 50})
    batched = [g.token_ids for g in generator.generate(prompts, params)]
    alone = [generator.generate([p], params)[0].token_ids for p in reversed(prompts)][::-1]
    assert batched == alone
    greedy = [g.token_ids for g in generator.generate(prompts, DecodingParams.from_config({"max_new_tokens": 10}))]
    assert batched != greedy  # it sampled
    other_seed = HFGenerator(embedded_backbone, batch_size=4, dtype="float32", seed=generator.seed + 1)
    assert [g.token_ids for g in other_seed.generate(prompts, params)] != batched


def test_model_sampling_reads_the_generation_config_with_the_engines_defaults(tmp_path):
    from radis.generation import model_sampler, resolve_decoding, sampler_record
    from radis.settings import DecodingParams

    (tmp_path / "generation_config.json").write_text('{"do_sample": true, "temperature": 0.6, "top_p": 0.9}')
    params = DecodingParams.from_config({"max_new_tokens": 8, "sampling": "model"})
    assert not params.greedy
    resolved = resolve_decoding(params, tmp_path)
    assert (resolved.temperature, resolved.top_p, resolved.top_k, resolved.sampling) == (0.6, 0.9, 0, "params")
    assert sampler_record(resolved, 42) == {"decoding": "sampled", "temperature": 0.6, "top_p": 0.9, "top_k": 0,
                                            "seed": 42, "seeded": "per request: the config seed and the prompt"}
    assert model_sampler(tmp_path / "none", "vllm") == {"temperature": 1.0, "top_p": 1.0, "top_k": 0}
    assert model_sampler(tmp_path, "transformers") == {"temperature": 0.6, "top_p": 0.9, "top_k": 50}
    greedy = DecodingParams.from_config({"max_new_tokens": 8})
    assert resolve_decoding(greedy, tmp_path) is greedy and sampler_record(greedy, 42) == {"decoding": "greedy"}
