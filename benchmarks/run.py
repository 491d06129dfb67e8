#!/usr/bin/env python3
"""The performance benchmarks of radis-workflow, one command, a table of figures and ratios.

    python benchmarks/run.py [--quick] [--threads N]     (full: ~10-15 min on 2 CPU cores)
    python benchmarks/run.py --default-run               (once: the default DAG in a scratch dir)

1. synthesis: the hf backend (batched, length-sorted, shared prefix) against model.generate one
   request at a time, on 64 real rationale requests, with identical greedy outputs;
2. training: radis.train.train against a plain transformers.Trainer + peft run on the RaDis
   training set built from those rationales (same features, batch, seed and steps);
3. DAG overhead: dry run of config/paper.yaml, no-op rerun of a finished run;
4./5. peak RSS and time per stage of a finished default run (benchmarks/stage_report.py).
The GPU figures (6.) come from benchmarks/gpu.py on a GPU host.

Both sides of every comparison run in this process, back to back, alternating which goes first;
the ratios are medians over the repeats. Scratch files live in results/benchmarks-work/.
Threads: one by default. On a 2-core machine shared with other jobs, two OpenMP threads per
process spin at every barrier while the other core is taken, and the same work then varies
five-fold; with one thread both sides get steady, comparable time. ``--threads 2`` measures the
DAG's own setting (``threads: 2``) on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="16 requests / examples, one round, one repeat (a few minutes; plumbing more than figures)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of both sides (default 1)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["synthesis", "training", "dag"])
    parser.add_argument("--default-run", action="store_true",
                        help="run the embedded default DAG to the end in results/benchmarks-work/default-run "
                             "(tens of minutes; figures 4 and 5 then come from it) and exit")
    args = parser.parse_args(argv)
    if args.default_run:  # as a user runs it: the profile's cores, the config's threads
        import dag
        from stage_report import collect, render

        wall = dag.make_run(dag.DEFAULT_RUN, None)
        print(f"default run finished in {wall / 60:.1f} min: {dag.DEFAULT_RUN}")
        print(render(collect(dag.DEFAULT_RUN / "results")))
        return 0

    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import torch

    torch.set_num_threads(args.threads)
    from common import Report, git_revision, machine

    started = time.perf_counter()
    n = 16 if args.quick else 64
    rounds = 1 if args.quick else 3
    repeats = 1 if args.quick else 3
    info = machine()
    print(f"radis-workflow benchmarks, {datetime.datetime.now().isoformat(timespec='seconds')}, "
          f"revision {git_revision()}, {'quick' if args.quick else 'full'}, {args.threads} thread(s)")
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    report = Report()
    trainset = None
    if "synthesis" not in args.skip or "training" not in args.skip:
        import synthesis

        print(f"1. synthesis: {n} rationale requests", flush=True)
        records = synthesis.run(n, report)
        from radis.methods import radis

        trainset = radis(records)
    if "training" not in args.skip:
        import training

        print(f"2. training: {len(trainset)} RaDis examples, {rounds} round(s)", flush=True)
        training.run(trainset, rounds, report)
    if "dag" not in args.skip:
        import dag

        print("3.-5. DAG overhead, memory and time per stage", flush=True)
        dag.run(report, repeats)
    print()
    print(report.render())
    print(f"\nbenchmarks took {(time.perf_counter() - started) / 60:.1f} min; load average at the end "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if all(r.met is not False for r in report.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
