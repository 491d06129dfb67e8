"""Generate with a radis backend and print the results as JSON; the tests run it in the vllm
environment (envs/vllm-cpu.yaml on CPU hosts), where the ``vllm`` backend lives.

    python tests/vllm_generate.py --backend vllm --model DIR --prompts prompts.json --out out.json
        [--dtype float32] [--tensor-parallel-size 1] [--max-new-tokens 16]
        [--temperature 0 --top-p 1 --top-k 0] [--again N]

``prompts.json`` is a list of fully rendered prompts; ``out.json`` gets one
``{text, n_tokens, finished, token_ids}`` per prompt. Greedy decoding unless a temperature is
given; ``--again N`` generates the last N prompts once more, reversed, in a second call (another
batch), written after the first call's results. The ``__main__`` guard matters: vLLM spawns its
worker processes with tensor parallelism.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--tensor-parallel-size", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--again", type=int, default=0)
    a = p.parse_args()

    from radis.generation import load_generator
    from radis.settings import DecodingParams

    prompts = json.loads(Path(a.prompts).read_text(encoding="utf-8"))
    generator = load_generator(a.backend, a.model, dtype=a.dtype, tensor_parallel_size=a.tensor_parallel_size,
                               batch_size=len(prompts))
    params = DecodingParams.from_config({"max_new_tokens": a.max_new_tokens, "temperature": a.temperature,
                                         "top_p": a.top_p, "top_k": a.top_k})
    generations = generator.generate(prompts, params)
    if a.again:
        generations += generator.generate(prompts[-a.again:][::-1], params)
    results = [{"text": g.text, "n_tokens": g.n_tokens, "finished": g.finished, "token_ids": list(g.token_ids)}
               for g in generations]
    Path(a.out).write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
