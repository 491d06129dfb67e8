"""One generation interface for every stage that asks a model for text.

Synthesis (rationales, Seq-KD, SDFT) and evaluation render their prompts with the backbone's chat
template and hand plain strings to a :class:`Generator`. Backends differ only in speed: ``hf``
(transformers, CPU or GPU) and ``vllm`` (GPU, its own environment in ``envs/vllm.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from radis.config import DecodingParams


@dataclass(frozen=True)
class Generation:
    text: str
    #: number of generated tokens (the end-of-turn token included when produced)
    n_tokens: int
    #: True when the model ended the turn itself, False when max_new_tokens cut it off
    finished: bool


class Generator(Protocol):
    model_dir: Path
    #: the model's Hugging Face tokenizer; prompts are rendered with its chat template
    tokenizer: Any

    def generate(self, prompts: list[str], params: DecodingParams) -> list[Generation]:
        """Continue each fully rendered prompt (special tokens included; no BOS is added)."""
        ...


def load_generator(backend: str, model_dir: str | Path, *, batch_size: int = 8, dtype: str = "float32",
                   tensor_parallel_size: int = 1,
                   trust_remote_code: bool = False, seed: int = 0) -> Generator:
    if backend == "hf":
        from radis.generation.hf import HFGenerator

        return HFGenerator(Path(model_dir), batch_size=batch_size, dtype=dtype,
                           trust_remote_code=trust_remote_code, seed=seed)
    if backend == "vllm":
        from radis.generation.vllm import VLLMGenerator

        return VLLMGenerator(Path(model_dir), dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                             trust_remote_code=trust_remote_code, seed=seed)
    raise ValueError(f"unknown generation backend {backend!r} (known: hf, vllm)")
