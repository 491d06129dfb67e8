"""transformers backend: batched, length-sorted generation with a progress bar; CPU or GPU.

Prompts are sorted by length so each batch pads little, generated in batches, and returned in the
caller's order. Greedy decoding gives the same text as one-at-a-time calls (benchmarks/run.py
checks it on real rationale prompts).

Two things make a batch cheaper than the straightforward ``generate`` call on a padded batch:

- The prefix that every prompt of a batch shares (with chat templates: at least the system
  prompt) is computed once and its key/value cache copied to every row; the rows are laid out as
  [shared prefix | padding | rest of the prompt], so positions stay those of the unpadded prompt.
- Decoding steps of a padded batch attend through the grouped key/value heads directly
  (:func:`grouped_decode_attention`) instead of copying every layer's cache once per query head
  group, as transformers' SDPA path does whenever there is a padding mask.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm.auto import tqdm

from radis.config import DecodingParams
from radis.generation import Generation

#: attention implementation name of :func:`grouped_decode_attention`
GROUPED_DECODE = "radis_grouped_decode"
#: share a batch's common prefix only when it is at least this long (a forward pass is not free)
MIN_SHARED_PREFIX = 8


def stop_token_ids(tokenizer, model) -> list[int]:
    """Every id that ends an assistant turn: the tokenizer's eos and the generation config's."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return sorted(ids)


def grouped_decode_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """SDPA; for one new token per row with a padding mask, the query heads of each key/value
    group attend as that group's rows, so the cache is read in place rather than repeated."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    if query.shape[2] != 1 or groups == 1 or attention_mask is None or dropout:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    batch, heads, _, dim = query.shape
    grouped = query.reshape(batch, heads // groups, groups, dim)
    mask = attention_mask[:, :, :, : key.shape[-2]]
    out = torch.nn.functional.scaled_dot_product_attention(grouped, key, value, attn_mask=mask, scale=scaling)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous(), None


def _use_grouped_decode(model) -> bool:
    """Switch ``model`` from SDPA to :func:`grouped_decode_attention` (same masks); False where the
    model does not use SDPA."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    config = model.config
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(GROUPED_DECODE, grouped_decode_attention)
    AttentionMaskInterface.register(GROUPED_DECODE, sdpa_mask)
    config._attn_implementation = GROUPED_DECODE
    return True


def shared_prefix_length(rows: list[list[int]]) -> int:
    """Tokens that every row starts with, leaving each row at least one token of its own."""
    shortest = min(len(r) for r in rows)
    n = 0
    while n < shortest - 1 and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


class HFGenerator:
    def __init__(self, model_dir: Path, *, batch_size: int = 8, dtype: str = "float32",
                 trust_remote_code: bool = False, seed: int = 0):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_dir = Path(model_dir)
        self.batch_size = batch_size
        self.seed = seed
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code
        ).to(self.device)
        self.model.eval()
        self.grouped_decode = _use_grouped_decode(self.model)
        self.share_prefix = not self.model.config.is_encoder_decoder
        supports = getattr(self.model, "_supports_logits_to_keep", None)
        self.last_logit_only = {"logits_to_keep": 1} if supports is not None and supports() else {}
        self.stop_ids = stop_token_ids(self.tokenizer, self.model)

    def _kwargs(self, params: DecodingParams) -> dict:
        kwargs = {
            "max_new_tokens": params.max_new_tokens,
            "min_new_tokens": params.min_new_tokens or None,
            "repetition_penalty": params.repetition_penalty,
            "eos_token_id": self.stop_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if params.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=None)
        return kwargs

    @torch.inference_mode()
    def generate(self, prompts: list[str], params: DecodingParams) -> list[Generation]:
        encoded = [self.tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]), reverse=True)
        results: list[Generation | None] = [None] * len(prompts)
        kwargs = self._kwargs(params)
        torch.manual_seed(self.seed)
        with tqdm(total=len(prompts), desc="generate", unit="seq", mininterval=5) as bar:
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                rows = self._generate_batch([encoded[i] for i in batch], kwargs)
                for row, i in zip(rows, batch):
                    results[i] = self._decode(encoded[i], row)
                bar.update(len(batch))
        return results  # type: ignore[return-value]

    def _generate_batch(self, rows: list[list[int]], kwargs: dict) -> list[list[int]]:
        """New token ids of each row; the shared prefix is computed once for the batch."""
        shared = shared_prefix_length(rows) if len(rows) > 1 else 0
        pad = self.tokenizer.pad_token_id
        width = max(len(r) for r in rows)
        # [shared prefix | padding | own tokens]: for a prefix of 0 this is plain left padding
        ids = [r[:shared] + [pad] * (width - len(r)) + r[shared:] for r in rows]
        mask = [[1] * shared + [0] * (width - len(r)) + [1] * (len(r) - shared) for r in rows]
        inputs = {"input_ids": torch.tensor(ids, device=self.device),
                  "attention_mask": torch.tensor(mask, device=self.device)}
        if shared >= MIN_SHARED_PREFIX and self.share_prefix:
            prefix = self.model(input_ids=inputs["input_ids"][:1, :shared], use_cache=True, **self.last_logit_only)
            cache = prefix.past_key_values
            if hasattr(cache, "batch_repeat_interleave"):
                cache.batch_repeat_interleave(len(rows))
                inputs["past_key_values"] = cache
        out = self.model.generate(**inputs, **kwargs)
        return out[:, width:].tolist()

    def _decode(self, prompt: list[int], ids: list[int]) -> Generation:
        """The reply's text as the tokenizer renders it after the prompt.

        Decoding the new tokens on their own loses the leading space of a SentencePiece reply
        ("▁This" decodes to "This" at the start of a text), which would glue a rationale to the
        reference it continues (y + r = "…end.This…"); decoding prompt + reply and cutting the
        prompt's text off keeps exactly what follows the prompt, as vLLM's detokeniser does.
        """
        finished = False
        kept = []
        for token in ids:
            if token in self.stop_ids:
                finished = True
                break
            kept.append(token)
        n_tokens = len(kept) + (1 if finished else 0)
        return Generation(continuation_text(self.tokenizer, prompt, kept), n_tokens, finished)


def continuation_text(tokenizer, prompt: list[int], reply: list[int]) -> str:
    """Text of ``reply`` token ids as they render after ``prompt`` (special tokens skipped)."""
    head = tokenizer.decode(prompt, skip_special_tokens=True)
    full = tokenizer.decode(prompt + reply, skip_special_tokens=True)
    if full.startswith(head):
        return full[len(head):]
    # a byte-fallback character split across the boundary: fall back to the reply alone
    return tokenizer.decode(reply, skip_special_tokens=True)
