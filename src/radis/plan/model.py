"""The plan's cost model: the rates and assumptions, and the stages, judge uses and plan it fills."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BYTES_PER_TOKEN = 4
#: chat template and instruction around a sentence (SmolLM2's default system prompt alone is ~20)
PROMPT_OVERHEAD_TOKENS = 50
A100_FLOPS = 312e12
MFU = {"train": 0.35, "prefill": 0.35, "decode": 0.10}
#: CPU, 2 cores, embedded model (135M): ~60 generated tokens/s batched (batch 8-16), ~21 at batch
#: 1, ~150 tokens/s through LoRA training (72 trained tokens/s, half the tokens are prompt)
CPU_FLOPS = {"train": 6 * 135e6 * 150, "prefill": 6 * 135e6 * 150, "decode": 2 * 135e6 * 60,
             "decode_batch1": 2 * 135e6 * 21}
#: per-job start-up on CPU: Python, torch and transformers imports and the model load, or a light job
CPU_JOB_S = {"model": 12.0, "light": 2.0}
#: LoRA r16 on all linear layers of LLaMA-2-7B: 40.0M of 6.74B parameters; scaled by N and r/16
LORA_FRACTION_R16 = 40.0e6 / 6.74e9
#: XLM-R large behind Unbabel/wmt22-comet-da
COMET_PARAMS = 560e6
#: what download_comet puts into the hub cache: wmt22-comet-da's checkpoints/model.ckpt (2.32 GB) and
#: XLM-R's tokenizer and config (≈ 14 MB)
COMET_DOWNLOAD_BYTES = 2.33e9
#: fixed judge prompt text per Table 4 call: the rationale-categories prompt (a benchmark's judge
#: calls are costed by its module: radis.benchmarks.JudgeCost)
TABLE4_TEMPLATE_TOKENS = 400
#: lm-eval's default generation cap when gsm8k.max_gen_toks is null
LM_EVAL_MAX_GEN_TOKS = 256
ASSUMPTIONS = [
    f"tokens = UTF-8 bytes / {BYTES_PER_TOKEN} of the real data, + {PROMPT_OVERHEAD_TOKENS} per prompt for the "
    "chat template and instruction",
    "generated: translations, Seq-KD answers, SDFT paraphrases as long as their reference; rationales, "
    "general-ability answers, GSM8K solutions and judgements at max_new_tokens (upper bound)",
    "FLOPs: 6·N·tokens training, 2·N·tokens prompts and generation; N from the model name",
    "A100 bf16 312 TFLOP/s at MFU train 35%, prompts 35%, decoding 10% (not measured: FLOP-based)",
    "CPU: job time summed over jobs (a run on 2 cores with threads 1 runs two at once), at the embedded "
    "model's measured rates on 2-core machines as FLOP/s (training and prompts 122 G, batched "
    "decoding 16 G, batch-1 decoding 5.7 G), + 12 s start-up per model job, 2 s per light job",
    "disk: weights N × 2 bytes (bf16) or 4 (fp32); LoRA r16 ≈ 0.59% of N, kept with 2 checkpoints "
    "(weights + Adam states, fp32)",
]


def parameters(name: str, entry: dict) -> float:
    """Parameter count from the model's name or hub id (``7b``, ``13b``, ``135m``)."""
    source = entry.get("source", {})
    texts = [name, str(source.get("id", "")), str(source.get("base", {}).get("id", "")), str(source.get("path", ""))]
    for text in texts:
        found = re.search(r"(\d+(?:\.\d+)?)([bm])(?![a-z])", text.lower())
        if found:
            return float(found[1]) * (1e9 if found[2] == "b" else 1e6)
    raise ValueError(f"backbone {name!r}: no parameter count in its name or id (e.g. '7b'); the plan needs one")


def text_tokens(*texts: str) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / BYTES_PER_TOKEN


@dataclass
class Stage:
    name: str
    jobs: int = 0
    tokens: float = 0.0          # tokens processed (prompts + generated, or trained)
    flops: dict = field(default_factory=dict)   # kind -> FLOPs
    light_jobs: int = 0          # jobs without a model (start-up only)
    disk_bytes: float = 0.0

    def add(self, kind: str, n_params: float, tokens: float, factor: int = 2) -> None:
        self.tokens += tokens
        self.flops[kind] = self.flops.get(kind, 0.0) + factor * n_params * tokens

    def seconds(self, device: str) -> float:
        if device == "cpu":
            compute = sum(f / CPU_FLOPS[k] for k, f in self.flops.items())
            return compute + (self.jobs - self.light_jobs) * CPU_JOB_S["model"] + self.light_jobs * CPU_JOB_S["light"]
        return sum(f / (A100_FLOPS * MFU[k.removesuffix("_batch1")]) for k, f in self.flops.items())


@dataclass
class JudgeUse:
    served: bool = False
    calls: int = 0
    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0


@dataclass
class Plan:
    device: str
    stages: dict[str, Stage]
    judges: dict[str, JudgeUse]
    prices: dict[str, tuple[float, float] | None]
    #: experiment.seeds: every trained model's chain runs once per seed (radis.seeds)
    seeds: list[int] = field(default_factory=list)
    #: what the plan could not cost: a judged benchmark whose module declares no cost model
    uncosted: list[str] = field(default_factory=list)

    def stage(self, name: str) -> Stage:
        return self.stages.setdefault(name, Stage(name))

    @property
    def seconds(self) -> float:
        return sum(s.seconds(self.device) for s in self.stages.values())

    def job_counts(self) -> dict[str, int]:
        return {name: s.jobs for name, s in self.stages.items() if s.jobs}
