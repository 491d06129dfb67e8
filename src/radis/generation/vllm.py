"""vLLM backend for GPU hosts (paper: "we employ vllm to facilitate fast data generation").

vLLM pins its own torch/transformers and CUDA packages, so it lives in its own environment
(``envs/vllm.yaml``); this module imports it lazily and fails with a clear message elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from radis.config import DecodingParams
from radis.generation import Generation


class VLLMGenerator:
    def __init__(self, model_dir: Path, *, dtype: str = "bfloat16", tensor_parallel_size: int = 1,
                 trust_remote_code: bool = False, seed: int = 0):
        try:
            from vllm import LLM
        except ImportError as e:
            raise RuntimeError(
                "generation.backend is 'vllm' but vllm cannot be imported here "
                f"({e}); use a GPU host with envs/vllm.yaml, or set generation.backend: hf"
            ) from e
        self.model_dir = Path(model_dir)
        self.llm = LLM(model=str(model_dir), dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                       trust_remote_code=trust_remote_code, seed=seed)
        self.tokenizer = self.llm.get_tokenizer()

    def sampling_params(self, params: DecodingParams):
        from vllm import SamplingParams

        return SamplingParams(
            max_tokens=params.max_new_tokens,
            min_tokens=params.min_new_tokens,
            temperature=params.temperature,
            top_p=params.top_p if not params.greedy else 1.0,
            repetition_penalty=params.repetition_penalty,
            skip_special_tokens=True,
        )

    def generate(self, prompts: list[str], params: DecodingParams) -> list[Generation]:
        from vllm.inputs import TokensPrompt

        # Tokenise ourselves without special tokens: the chat template already wrote BOS etc.
        inputs = [TokensPrompt(prompt_token_ids=self.tokenizer(p, add_special_tokens=False).input_ids)
                  for p in prompts]
        outputs = self.llm.generate(inputs, self.sampling_params(params), use_tqdm=True)
        results = []
        for out in outputs:
            completion = out.outputs[0]
            finished = completion.finish_reason == "stop"
            results.append(Generation(completion.text, len(completion.token_ids), finished))
        return results
