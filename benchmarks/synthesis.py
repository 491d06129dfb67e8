"""Benchmark 1: synthesis throughput of the ``hf`` backend against one-request-at-a-time generation.

Both sides decode the same rationale prompts (real demo data, the embedded model, the default
config's rationale decoding: greedy, ``min_new_tokens``) and must give identical generations.
The prompts are cut into the very batches ``HFGenerator`` forms (sorted by length, cut by the
configured batch size); each batch is timed once batched and once as a loop of single
``model.generate`` calls, back to back, alternating which goes first, and the ratio is the median
over batches.
"""

from __future__ import annotations

import torch
from common import Report, default_config, embedded_model, median, rationale_records, timed


def one_at_a_time(generator, prompts: list[str], kwargs: dict):
    """The straightforward way: ``model.generate`` per request, no padding, no batching."""
    out = []
    with torch.inference_mode():
        for prompt in prompts:
            enc = generator.tokenizer(prompt, add_special_tokens=False, return_tensors="pt").to(generator.device)
            ids = generator.model.generate(**enc, **kwargs)
            out.append(generator._decode(ids[0, enc["input_ids"].shape[1]:].tolist()))
    return out


def run(n_requests: int, report: Report) -> list[dict]:
    """Returns the records with their rationales (the training benchmark fine-tunes on them)."""
    from radis.config import DecodingParams
    from radis.generation.hf import HFGenerator
    from radis.synth import add_rationales, rationale_prompts

    config = default_config()
    params = DecodingParams.from_config(config["decoding"]["rationale"])
    batch_size = config["generation"]["batch_size"]
    generator = HFGenerator(embedded_model(), batch_size=batch_size, dtype=config["generation"]["dtype"],
                            seed=config["seed"])
    records = rationale_records(n_requests, config["seed"])
    prompts = rationale_prompts(generator.tokenizer, records)
    lengths = [len(generator.tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i], reverse=True)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    kwargs = generator._kwargs(params)

    # warm-up (first-call costs: allocator, thread pool) for both paths alike
    generator.generate(prompts[:2], params.__class__(max_new_tokens=2))

    generations = [None] * len(prompts)
    batched_t, single_t, ratios, tokens, differ = [], [], [], 0, []
    for k, batch in enumerate(batches):
        texts = [prompts[i] for i in batch]
        for side in (("batched", "single") if k % 2 == 0 else ("single", "batched")):
            with timed() as t:
                if side == "batched":
                    got_batched = generator.generate(texts, params)
                else:
                    got_single = one_at_a_time(generator, texts, kwargs)
            (batched_t if side == "batched" else single_t).append(t)
        n_tok = sum(g.n_tokens for g in got_single)
        tokens += n_tok
        ratios.append(single_t[-1].wall / batched_t[-1].wall)
        for i, a, b in zip(batch, got_batched, got_single):
            generations[i] = a
            if a != b:
                differ.append(i)
        print(f"  synthesis batch {k + 1}/{len(batches)}: {len(batch)} requests, {n_tok} tokens, "
              f"batched {batched_t[-1].wall:.1f}s, one-at-a-time {single_t[-1].wall:.1f}s", flush=True)

    wall_b, wall_s = sum(t.wall for t in batched_t), sum(t.wall for t in single_t)
    cpu_ratio = median([s.cpu / b.cpu for s, b in zip(single_t, batched_t)])
    ratio = median(ratios)
    section = "1 synthesis"
    report.add(section, f"requests / generated tokens (batch {batch_size}, max_new_tokens "
                        f"{params.max_new_tokens}, min {params.min_new_tokens})", f"{n_requests} / {tokens}")
    report.add(section, "hf batched + length-sorted, tokens/s", f"{tokens / wall_b:.1f}")
    report.add(section, "model.generate one at a time, tokens/s", f"{tokens / wall_s:.1f}")
    report.add(section, "speed-up (median over batches, wall)", f"{ratio:.2f}x", ">= 3x", ratio >= 3,
               f"per batch {', '.join(f'{r:.2f}' for r in ratios)}; CPU-time ratio {cpu_ratio:.2f}x")
    report.add(section, "greedy outputs identical to one-at-a-time", f"{n_requests - len(differ)}/{n_requests}",
               "all", not differ, f"differ: {differ}" if differ else "")
    return add_rationales(records, generations)
