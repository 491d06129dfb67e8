"""transformers backend: batched, length-sorted generation with a progress bar; CPU or GPU.

Prompts are sorted by length so each batch pads little, generated in left-padded batches by
transformers' own ``generate``, and returned in the caller's order. Greedy decoding gives the same
text as one-at-a-time calls (tests/test_generation.py; benchmarks/synthesis.py on real rationale
prompts). Hand-written prefix sharing and grouped-KV decoding attention were measured against this
plain batched ``generate`` on 2 cores (issue 15: 1.04x-1.2x, below the 1.5x that would pay for
their code) and removed; transformers' continuous batching (``generate_batch``) ran at a few
tokens/s on CPU and ignores ``min_new_tokens``, so it is no alternative here either.

The local judge server (radis.judges.server) runs its model with this module's end-of-turn ids,
``generate`` arguments and stop trimming, so a judge decodes as a generation step does.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import LogitsProcessorList

from radis.generation import Generation, load_model, load_tokenizer, request_seed, resolve_decoding
from radis.settings import DecodingParams


def stop_token_ids(tokenizer, generation_config) -> list[int]:
    """Every id that ends an assistant turn: the tokenizer's eos and the model's generation config's
    (``model.generation_config``, or None when the model has none)."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return sorted(ids)


def generate_kwargs(params: DecodingParams, tokenizer, stop_ids: list[int]) -> dict:
    """``generate`` keyword arguments for ``params`` (resolved: radis.generation.resolve_decoding):
    the turn ends at any of ``stop_ids``; greedy decoding when the temperature is 0, else sampling.
    Whatever sampler settings the model's generation config names (a top_k, a default
    temperature) are cleared, so ``params`` alone decide. A tokenizer without a pad token pads
    with the first stop id."""
    kwargs = {
        "max_new_tokens": params.max_new_tokens,
        "min_new_tokens": params.min_new_tokens or None,
        "repetition_penalty": params.repetition_penalty,
        "eos_token_id": stop_ids,
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0],
    }
    if params.greedy:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or None)
    return kwargs


class SeededSampling:
    """A logits processor that samples each row of a batch from its own seeded generator and
    leaves only the drawn token: ``generate``'s greedy step then takes it. transformers' own
    sampling draws a whole batch from one global generator, so a request's sample would depend on
    its batch-mates; here row i's draws come from ``seeds[i]`` alone (radis.generation.request_seed).
    Temperature, top-k and top-p are transformers' own warpers, applied in its order."""

    def __init__(self, params: DecodingParams, seeds: list[int]):
        from transformers.generation.logits_process import (
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        self.warpers = [TemperatureLogitsWarper(params.temperature)]
        if params.top_k:
            self.warpers.append(TopKLogitsWarper(params.top_k))
        if params.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(params.top_p))
        self.seeds = seeds
        self.generators: list[torch.Generator] | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.generators is None:
            self.generators = [torch.Generator(device=scores.device).manual_seed(s) for s in self.seeds]
        for warper in self.warpers:
            scores = warper(input_ids, scores)
        probs = torch.softmax(scores.float(), dim=-1)
        drawn = torch.stack([torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(self.generators)])
        return torch.full_like(scores, float("-inf")).scatter_(1, drawn, 0.0)


def trim_at_stop(ids: list[int], stop_ids: list[int]) -> tuple[list[int], bool]:
    """The reply's token ids before the first end-of-turn token, and whether there was one (the
    model finished its turn) or ``max_new_tokens`` cut it off; what follows a stop is padding."""
    for i, token in enumerate(ids):
        if token in stop_ids:
            return ids[:i], True
    return ids, False


class HFGenerator:
    def __init__(self, model_dir: Path, *, batch_size: int = 8, dtype: str,
                 trust_remote_code: bool = False, seed: int = 0):
        self.model_dir = Path(model_dir)
        self.batch_size = batch_size
        self.seed = seed
        self.tokenizer = load_tokenizer(model_dir, trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = load_model(model_dir, dtype=dtype, trust_remote_code=trust_remote_code)
        self.stop_ids = stop_token_ids(self.tokenizer, self.model.generation_config)

    @torch.inference_mode()
    def generate(self, prompts: list[str], params: DecodingParams) -> list[Generation]:
        encoded = [self.tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]), reverse=True)
        results: list[Generation | None] = [None] * len(prompts)
        params = resolve_decoding(params, self.model_dir)
        kwargs = generate_kwargs(params, self.tokenizer, self.stop_ids)
        if not params.greedy:  # seeded per request: do_sample off, the drawn token is the only one left
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with tqdm(total=len(prompts), desc="generate", unit="seq", mininterval=5) as bar:
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                if not params.greedy:
                    sampler = SeededSampling(params, [request_seed(self.seed, prompts[i]) for i in batch])
                    kwargs["logits_processor"] = LogitsProcessorList([sampler])
                rows = self._generate_batch([encoded[i] for i in batch], kwargs)
                for row, i in zip(rows, batch):
                    results[i] = self._decode(encoded[i], row)
                bar.update(len(batch))
        return results  # type: ignore[return-value]

    def _generate_batch(self, rows: list[list[int]], kwargs: dict) -> list[list[int]]:
        """New token ids of each row of one left-padded ``generate`` call."""
        batch = self.tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt").to(self.model.device)
        out = self.model.generate(**batch, **kwargs)
        return out[:, batch["input_ids"].shape[1]:].tolist()

    def _decode(self, prompt: list[int], ids: list[int]) -> Generation:
        """The reply's text as the tokenizer renders it after the prompt.

        Decoding the new tokens on their own loses the leading space of a SentencePiece reply
        ("▁This" decodes to "This" at the start of a text), which would glue a rationale to the
        reference it continues (y + r = "…end.This…"); decoding prompt + reply and cutting the
        prompt's text off keeps exactly what follows the prompt, as vLLM's detokeniser does.
        """
        kept, finished = trim_at_stop(ids, self.stop_ids)
        n_tokens = len(kept) + (1 if finished else 0)
        return Generation(continuation_text(self.tokenizer, prompt, kept), n_tokens, finished, tuple(kept))


def continuation_text(tokenizer, prompt: list[int], reply: list[int]) -> str:
    """Text of ``reply`` token ids as they render after ``prompt`` (special tokens skipped)."""
    head = tokenizer.decode(prompt, skip_special_tokens=True)
    full = tokenizer.decode(prompt + reply, skip_special_tokens=True)
    if full.startswith(head):
        return full[len(head):]
    # a byte-fallback character split across the boundary: fall back to the reply alone
    return tokenizer.decode(reply, skip_special_tokens=True)
