#!/usr/bin/env python3
"""The performance benchmarks of radis-workflow, one command, a table of figures and ratios.

    python benchmarks/run.py [--quick] [--threads N]     (full: ~20-30 min on 2 CPU cores)
    python benchmarks/run.py --default-run [--revision REV ...]
                                                         (the default DAG from fresh clones, back to back)

1. synthesis: the hf backend against batched, left-padded ``model.generate`` on the same
   length-sorted batches and against transformers' continuous batching (``generate_batch``), on 64
   real rationale requests, with identical greedy outputs;
2. training: radis.training.trainer.train against TRL's SFTTrainer (prompt-completion, completion-only loss,
   padding-free) on the RaDis training set built from those rationales (same labels, batch, seed
   and steps), in one process and in two (DDP, gloo);
3. DAG overhead: dry run of config/paper.yaml, no-op rerun of a finished run;
4./5. peak RSS and time per stage of a finished default run (benchmarks/stage_report.py).
The GPU figures (6.) come from benchmarks/gpu.py on a GPU host.

A full run rewrites the generated part of benchmarks/RESULTS.md: the machine, the date, and per
figure the command that produced it. ``--default-run`` runs the README's main-job command from a
fresh clone of each ``--revision`` (a commit, or ``worktree``: this checkout with its uncommitted
changes; default: worktree), one after the other, and prints the wall times, their ratio and time
per stage; with two revisions (old first) that is the before/after measurement of a speed-up.

Both sides of every comparison run back to back, alternating which goes first; the ratios are
medians over the repeats. Scratch files live in results/benchmarks-work/.
Threads: one by default. On a 2-core machine shared with other jobs, two OpenMP threads per
process spin at every barrier while the other core is taken, and the same work then varies
five-fold; with one thread both sides get steady, comparable time. ``--threads 2`` measures the
DAG's own setting (``threads: 2``) on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
#: the command that reproduces a section's figures alone
SECTION_COMMANDS = {
    "1 synthesis": "python benchmarks/run.py --skip training dag",
    "2 training": "python benchmarks/run.py --skip dag",
    "3 DAG": "python benchmarks/run.py --skip synthesis training",
    "4 memory": "python benchmarks/run.py --skip synthesis training",
    "5 whole run": "python benchmarks/run.py --skip synthesis training (after --default-run)",
}


def write_block(name: str, lines: list[str], path: Path = RESULTS) -> None:
    """Replace RESULTS.md's generated block ``name`` (between its marker comments; added after the
    title the first time) with ``lines``; everything else in the file is kept as it is."""
    begin, end = f"<!-- benchmarks/run.py {name}: begin -->", f"<!-- benchmarks/run.py {name}: end -->"
    block = "\n".join([begin, *lines, end])
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        head, sep, rest = text.partition("\n")
        text = head + sep + "\n" + block + "\n" + rest
    path.write_text(text)


def header(command: str, extra: list[str]) -> list[str]:
    from common import git_revision, machine

    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes")
    return [f"- Date: {when}", f"- Command: `{command}`", f"- Revision: {git_revision()}",
            "- Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), *extra]


def default_runs(revisions: list[str], extra: list[str], command: str) -> int:
    import dag

    started = time.perf_counter()
    table = dag.compare_default_runs(revisions, extra)
    head = header(command, [f"- Took {(time.perf_counter() - started) / 60:.1f} min; load average at the end "
                            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"])
    print("\n".join(head) + "\n\n" + table)
    write_block("default-run", ["## The default run from fresh clones, back to back", "", *head, "", table])
    print(f"written: {RESULTS}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="16 requests / examples, one round, one repeat (a few minutes; plumbing more than "
                             "figures; RESULTS.md is not written)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of both sides (default 1)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["synthesis", "training", "dag"])
    parser.add_argument("--rounds", type=int, default=None,
                        help="training rounds per comparison (default: 3, quick: 1; each round is 4 training runs)")
    parser.add_argument("--default-run", action="store_true",
                        help="run the README's main job on the embedded default from a fresh clone of each "
                             "--revision, back to back, and print their times, ratio and time per stage")
    parser.add_argument("--revision", nargs="+", default=None,
                        help="with --default-run: commits to measure, oldest first; 'worktree' is this checkout "
                             "with its uncommitted changes (default: worktree)")
    parser.add_argument("--snakemake-args", default="",
                        help="with --default-run: extra arguments of every main job, e.g. '--config threads=2'")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])])
    if args.default_run:  # as a user runs it: the profile's cores, the config's threads
        import dag

        return default_runs(args.revision or [dag.WORKTREE], shlex.split(args.snakemake_args), command)

    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import torch

    torch.set_num_threads(args.threads)
    from common import Report

    started = time.perf_counter()
    n = 16 if args.quick else 64
    rounds = args.rounds or (1 if args.quick else 3)
    repeats = 1 if args.quick else 3
    head = header(command, [f"- Mode: {'quick' if args.quick else 'full'}, {args.threads} torch thread(s) per process"])
    print("radis-workflow benchmarks\n" + "\n".join(head), flush=True)
    report = Report()
    trainset = None
    if "synthesis" not in args.skip or "training" not in args.skip:
        import synthesis

        print(f"1. synthesis: {n} rationale requests", flush=True)
        records = synthesis.run(n, report)
        from radis.methods import build_trainset

        trainset = build_trainset("radis", records)
    if "training" not in args.skip:
        import training

        print(f"2. training: {len(trainset)} RaDis examples, {rounds} round(s), 1 and 2 processes", flush=True)
        training.run(trainset, rounds, report, args.threads)
    if "dag" not in args.skip:
        import dag

        print("3.-5. DAG overhead, memory and time per stage", flush=True)
        dag.run(report, repeats)
    head.append(f"- Took {(time.perf_counter() - started) / 60:.1f} min; load average at the end "
                f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (above the core count: the machine was shared)")
    print()
    print(report.render())
    print(head[-1])
    if not args.quick and not args.skip:
        commands = [f"- {section}: `{cmd}`" for section, cmd in SECTION_COMMANDS.items()]
        write_block("benchmarks", ["## CPU benchmarks", "", *head, "", "Each section's figures alone:", *commands,
                                   "", "```", report.render(), "```"])
        print(f"written: {RESULTS}")
    return 0 if all(r.met is not False for r in report.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
