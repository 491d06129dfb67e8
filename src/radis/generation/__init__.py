"""One generation interface for every stage that asks a model for text.

Synthesis (rationales, Seq-KD, SDFT) and evaluation render their prompts with the backbone's chat
template and hand plain strings to a :class:`Generator`. Backends differ only in speed: ``hf``
(transformers, CPU or GPU) and ``vllm`` (its own environment, ``envs/vllm.yaml`` or
``envs/vllm-cpu.yaml``). Sampling is seeded per request (:func:`request_seed`) by both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from radis.settings import DecodingParams, GeneralGenerationStep, GenerationStep


@dataclass(frozen=True)
class Generation:
    text: str
    #: number of generated tokens (the end-of-turn token included when produced)
    n_tokens: int
    #: True when the model ended the turn itself, False when max_new_tokens cut it off
    finished: bool
    #: the reply's token ids, the end-of-turn token left out (what the backends are compared on)
    token_ids: tuple[int, ...] = ()


class Generator(Protocol):
    model_dir: Path
    #: the model's Hugging Face tokenizer; prompts are rendered with its chat template
    tokenizer: Any

    def generate(self, prompts: list[str], params: DecodingParams) -> list[Generation]:
        """Continue each fully rendered prompt (special tokens included; no BOS is added)."""
        ...


#: the sampler an engine uses where a model's generation_config.json names none: vLLM's
#: ``SamplingParams`` defaults, and transformers' ``GenerationConfig`` defaults (top-k 50), which
#: FastChat's ``generate(do_sample=True, temperature=…)`` for MT-Bench answers runs with
ENGINE_SAMPLERS = {"vllm": {"temperature": 1.0, "top_p": 1.0, "top_k": 0},
                   "transformers": {"temperature": 1.0, "top_p": 1.0, "top_k": 50}}


def model_sampler(model_dir: str | Path, engine: str) -> dict:
    """The temperature, top_p and top_k a model's ``generation_config.json`` names, ``engine``'s
    default (:data:`ENGINE_SAMPLERS`) for each it leaves out (top_k 0: no cut)."""
    import json

    path = Path(model_dir) / "generation_config.json"
    configured = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    sampler = {key: configured.get(key) if configured.get(key) is not None else default
               for key, default in ENGINE_SAMPLERS[engine].items()}
    return {"temperature": float(sampler["temperature"]), "top_p": float(sampler["top_p"]),
            "top_k": max(int(sampler["top_k"]), 0)}


def resolve_decoding(params: DecodingParams, model_dir: str | Path) -> DecodingParams:
    """``params`` with ``sampling: model`` replaced by the model's own sampler (vLLM's defaults
    where its generation config names none): what the generation really ran with, for the record."""
    from dataclasses import replace

    if params.sampling != "model":
        return params
    return replace(params, sampling="params", **model_sampler(model_dir, "vllm"))


def sampler_record(params: DecodingParams, seed: int) -> dict:
    """How a step decoded (``params`` resolved), as its metadata records it."""
    if params.greedy:
        return {"decoding": "greedy"}
    return {"decoding": "sampled", "temperature": params.temperature, "top_p": params.top_p,
            "top_k": params.top_k, "seed": seed, "seeded": "per request: the config seed and the prompt"}


def request_seed(seed: int, prompt: str) -> int:
    """The seed of one sampled request: the config seed and the prompt, nothing else, so a request
    draws the same sample in whatever batch, shard, order or rerun it lands (a repeated prompt
    draws the same sample too)."""
    import hashlib

    digest = hashlib.sha256(f"{seed}\n{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 2**63


def load_generator(backend: str, model_dir: str | Path, *, batch_size: int = 8, dtype: str,
                   tensor_parallel_size: int = 1,
                   trust_remote_code: bool = False, seed: int = 0) -> Generator:
    """The ``backend``'s generator of ``model_dir``; ``dtype`` is the config's ``generation.dtype``
    (no default here: every engine loads the weights in the precision the config names)."""
    if backend == "hf":
        from radis.generation.hf import HFGenerator

        return HFGenerator(Path(model_dir), batch_size=batch_size, dtype=dtype,
                           trust_remote_code=trust_remote_code, seed=seed)
    if backend == "vllm":
        from radis.generation.vllm import VLLMGenerator

        return VLLMGenerator(Path(model_dir), dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                             trust_remote_code=trust_remote_code, seed=seed)
    raise ValueError(f"unknown generation backend {backend!r} (known: hf, vllm)")


#: config.json keys that hold a model's context length, by architecture family
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


def context_length(model_dir: str | Path) -> int | None:
    """The model's context length from its ``config.json`` (no weights read); None if it names none."""
    import json

    path = Path(model_dir) / "config.json"
    if not path.is_file():
        return None
    config = json.loads(path.read_text(encoding="utf-8"))
    config = {**config.get("text_config", {}), **config}  # multimodal configs nest the language model's
    return next((int(config[k]) for k in CONTEXT_KEYS if isinstance(config.get(k), int)), None)


def load_tokenizer(model_dir: str | Path, trust_remote_code: bool = False):
    """The model's tokenizer alone: what prompts are rendered with, seconds before any weight loads."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)


def load_model(model_dir: str | Path, *, dtype: str = "auto", device: str = "auto", trust_remote_code: bool = False):
    """The model's weights, ready to generate or score: on ``device`` ("auto": the GPU when there is
    one), in ``dtype`` (a torch dtype's name; "auto": bfloat16 on a GPU, float32 on CPU), in eval
    mode (no dropout), so every stage that runs a model sees the same numbers from it."""
    import torch
    from transformers import AutoModelForCausalLM

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype),
                                                 trust_remote_code=trust_remote_code)
    return model.to(device).eval()


def check_prompts_fit(model_dir: str | Path, tokenizer, prompts: list[str], max_new_tokens: int, names: list[str],
                      step: str) -> None:
    """Refuse, before the model is loaded, prompts whose tokens plus ``max_new_tokens`` exceed the
    model's context: past it a model attends to positions it never saw (garbage or a crash, after
    the weights took minutes to load). Names the first records and the keys to change."""
    from radis.io import InputError

    context = context_length(model_dir)
    if context is None:
        return
    lengths = [len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
    over = [(name, n) for name, n in zip(names, lengths, strict=True) if n + max_new_tokens > context]
    if over:
        shown = ", ".join(f"{name} ({n} tokens)" for name, n in over[:3])
        raise InputError(
            f"{step}: {len(over)} of {len(prompts)} prompt(s) do not fit the context of {model_dir} "
            f"({context} tokens, config.json) with decoding max_new_tokens {max_new_tokens}: {shown}; "
            "shorten or drop those records, or lower the step's decoding max_new_tokens")


def generator_from_settings(settings: GenerationStep | GeneralGenerationStep, model_dir: str | Path) -> Generator:
    """The generator a step's settings ask for (``generation``, with the model's tensor-parallel
    size, and the seed)."""
    g = settings.generation
    return load_generator(g.backend, model_dir, batch_size=g.batch_size, dtype=g.dtype,
                          tensor_parallel_size=g.tensor_parallel_size,
                          trust_remote_code=settings.trust_remote_code, seed=settings.seed)


def refuse_overlong_prompts(settings: GenerationStep, model: str | Path, build_prompts, records: list[dict],
                            step: str) -> None:
    """Refuse records whose prompt would not fit the model's context, before its weights load."""
    from jinja2.exceptions import TemplateError

    from radis.io import InputError

    tokenizer = load_tokenizer(model, settings.trust_remote_code)
    try:
        prompts = build_prompts(tokenizer, records)
    except (ValueError, TemplateError) as e:  # no chat template, or one that refuses these messages
        raise InputError(f"{model}: cannot render the {step} prompts with its tokenizer: {e}") from None
    check_prompts_fit(model, tokenizer, prompts, settings.decoding.max_new_tokens,
                      [r.get("id", f"record {i}") for i, r in enumerate(records)], step)
