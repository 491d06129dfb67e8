"""Benchmark 1: synthesis throughput of the ``hf`` backend against what a user would write instead.

All sides decode the same rationale prompts (real demo data, the embedded model, the default
config's rationale decoding: greedy, ``min_new_tokens``) and must give identical generations:

- ``hf``: :class:`radis.generation.hf.HFGenerator` (length-sorted batches, progress bar);
- batched ``generate``: one ``model.generate`` call per batch, left-padded by the tokenizer, on a
  separately loaded model with transformers' default attention, on the very batches the backend
  forms (sorted by length, cut by the configured batch size);
- ``generate_batch``: transformers' continuous batching, given a batch's requests at once (its
  natural use: it schedules them itself), where the installed transformers has it. On CPU it
  runs at a few tokens/s, so it gets the first batch only.

The first two are timed per batch, back to back, alternating which goes first; their ratio is the
median over batches. ``generate_batch`` runs once after a warm-up call.
"""

from __future__ import annotations

import torch
from common import Report, default_config, embedded_model, median, rationale_records, timed


class BatchedGenerate:
    """The library path a user writes: left padding, one ``generate`` call per batch."""

    def __init__(self, model_dir, dtype: str):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()

    @torch.inference_mode()
    def generate(self, prompts: list[str], kwargs: dict, decode) -> list:
        enc = self.tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
        out = self.model.generate(**enc, **kwargs)
        width = enc["input_ids"].shape[1]
        return [decode(self.tokenizer(p, add_special_tokens=False).input_ids, row)
                for p, row in zip(prompts, out[:, width:].tolist())]


def continuous_batching(model, prompt_ids: list[list[int]], kwargs: dict, decode) -> list | None:
    """``model.generate_batch`` over every request; None where transformers lacks it."""
    from transformers import GenerationConfig

    if not hasattr(model, "generate_batch"):
        return None
    config = GenerationConfig(**{k: v for k, v in kwargs.items() if k != "max_new_tokens"})
    out = model.generate_batch(prompt_ids, generation_config=config, max_new_tokens=kwargs["max_new_tokens"])
    by_order = [out[f"req_{i}"] for i in range(len(prompt_ids))]
    return [decode(ids, list(o.generated_tokens)) for ids, o in zip(prompt_ids, by_order)]


def run(n_requests: int, report: Report) -> list[dict]:
    """Returns the records with their rationales (the training benchmark fine-tunes on them)."""
    from radis.config import DecodingParams
    from radis.generation.hf import HFGenerator, generate_kwargs
    from radis.methods.radis import add_rationales, rationale_prompts

    config = default_config()
    params = DecodingParams.from_config(config["decoding"]["rationale"])
    batch_size = config["generation"]["batch_size"]
    dtype = config["generation"]["dtype"]
    generator = HFGenerator(embedded_model(), batch_size=batch_size, dtype=dtype, seed=config["seed"])
    plain = BatchedGenerate(embedded_model(), dtype)
    records = rationale_records(n_requests, config["seed"])
    prompts = rationale_prompts(generator.tokenizer, records)
    encoded = [generator.tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]), reverse=True)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    kwargs = generate_kwargs(params, generator.tokenizer, generator.stop_ids)

    # warm-up (first-call costs: allocator, thread pool) for both paths alike
    generator.generate(prompts[:2], params.__class__(max_new_tokens=2))
    plain.generate(prompts[:2], {**kwargs, "max_new_tokens": 2, "min_new_tokens": None}, generator._decode)

    generations = [None] * len(prompts)
    hf_t, plain_t, ratios, tokens, differ = [], [], [], 0, []
    for k, batch in enumerate(batches):
        texts = [prompts[i] for i in batch]
        for side in (("hf", "plain") if k % 2 == 0 else ("plain", "hf")):
            with timed() as t:
                if side == "hf":
                    got_hf = generator.generate(texts, params)
                else:
                    got_plain = plain.generate(texts, kwargs, generator._decode)
            (hf_t if side == "hf" else plain_t).append(t)
        n_tok = sum(g.n_tokens for g in got_plain)
        tokens += n_tok
        ratios.append(plain_t[-1].wall / hf_t[-1].wall)
        for i, a, b in zip(batch, got_hf, got_plain):
            generations[i] = a
            if a != b:
                differ.append(i)
        print(f"  synthesis batch {k + 1}/{len(batches)}: {len(batch)} requests, {n_tok} tokens, "
              f"hf {hf_t[-1].wall:.1f}s, batched generate {plain_t[-1].wall:.1f}s", flush=True)

    section = "1 synthesis"
    wall_hf, wall_plain = sum(t.wall for t in hf_t), sum(t.wall for t in plain_t)
    cpu_ratio = median([p.cpu / h.cpu for p, h in zip(plain_t, hf_t)])
    ratio = median(ratios)
    report.add(section, f"requests / generated tokens (batch {batch_size}, max_new_tokens "
                        f"{params.max_new_tokens}, min {params.min_new_tokens}, greedy)", f"{n_requests} / {tokens}")
    report.add(section, "hf backend, tokens/s", f"{tokens / wall_hf:.1f}")
    report.add(section, "batched left-padded model.generate (same batches), tokens/s", f"{tokens / wall_plain:.1f}")
    report.add(section, "hf / batched generate (median over batches, wall)", f"{ratio:.2f}x", note=(
        f"per batch {', '.join(f'{r:.2f}' for r in ratios)}; CPU-time ratio {cpu_ratio:.2f}x"))
    report.add(section, "greedy outputs identical: hf vs batched generate", f"{n_requests - len(differ)}/{n_requests}",
               "all", not differ, f"differ: {differ}" if differ else "")

    baselines = {"batched generate": tokens / wall_plain}
    continuous_batching(plain.model, encoded[:2], {**kwargs, "max_new_tokens": 2, "min_new_tokens": None},
                        generator._decode)  # warm-up
    cb_requests = order[:batch_size]  # on CPU it runs at a few tokens/s: one batch's requests bound its time
    with timed() as t:
        got_cb = continuous_batching(plain.model, [encoded[i] for i in cb_requests], kwargs, generator._decode)
    if got_cb is None:
        report.add(section, "generate_batch (continuous batching)", "not in this transformers")
    else:
        same = sum(generations[i] == g for i, g in zip(cb_requests, got_cb))
        cb_tokens = sum(g.n_tokens for g in got_cb)
        baselines["generate_batch"] = cb_tokens / t.wall
        report.add(section, f"model.generate_batch (continuous batching, the first batch's {len(cb_requests)} "
                            "requests at once), tokens/s", f"{cb_tokens / t.wall:.1f}",
                   note=f"{cb_tokens} tokens in {t.wall:.1f}s")
        report.add(section, "greedy outputs identical: hf vs generate_batch", f"{same}/{len(cb_requests)}", "all",
                   same == len(cb_requests), "" if same == len(cb_requests) else
                   "generate_batch drops what continuous batching does not support (e.g. min_new_tokens)")
    best_name, best = max(baselines.items(), key=lambda kv: kv[1])
    overall = (tokens / wall_hf) / best
    report.add(section, f"hf / best baseline ({best_name}), tokens/s ratio", f"{overall:.2f}x",
               ">= 1.5x to keep hand-written decoding", note="the hf backend is the library path itself: "
               "hand-written prefix sharing and grouped-KV decoding measured 1.07x CPU time over batched "
               "generate (2026-12-02, RESULTS.md) and were removed")
    return add_rationales(records, generations)
