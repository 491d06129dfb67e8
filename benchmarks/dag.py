"""Benchmarks 3–5: DAG overhead, and memory and time per stage of a finished default run.

A finished run lives in a scratch working directory under ``results/benchmarks-work/``:
``default-run-worktree`` (the embedded default from a fresh clone of the working tree, made by
``python benchmarks/run.py --default-run``, tens of minutes) or, where there is none, ``tiny-run`` (the default at the tiny sizes of
``tests/overlays.py``, made here once in a few minutes and reused).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml
from common import REPO, WORK, Report, median
from stage_report import RSS_LIMIT_MB, collect

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY_RUN = WORK / "tiny-run"


def snakemake(workdir: Path, *args: str, overlay: Path | None = None, timeout: int = 7200):
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--profile", str(REPO / "profiles" / "local")]
    if overlay is not None:
        cmd += ["--configfile", str(overlay)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    done = subprocess.run([*cmd, *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)
    return done, time.perf_counter() - t0


def _overlay(run_dir: Path) -> Path | None:
    path = run_dir / "overlay.yaml"
    return path if path.exists() else None


def tiny_overlay() -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from overlays import TINY
    finally:
        sys.path.pop(0)
    return TINY


def make_run(run_dir: Path, overlay: dict | None) -> float:
    """Run the DAG to the end in ``run_dir``; records the wall time beside its results."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = None
    if overlay is not None:
        path = run_dir / "overlay.yaml"
        path.write_text(yaml.safe_dump(overlay))
    done, wall = snakemake(run_dir, "all", overlay=path)
    (run_dir / "snakemake.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"the run in {run_dir} failed (see {run_dir / 'snakemake.log'}):\n{done.stderr[-3000:]}")
    (run_dir / "run_wall.json").write_text(json.dumps({"wall_s": wall, "finished": time.time()}) + "\n")
    return wall


#: the argument of --revision that means "the working tree as it is, uncommitted changes included"
WORKTREE = "worktree"
#: the stage environments a fresh clone shares with this checkout (built once by envs/setup.sh)
ENVIRONMENTS = (".venv", ".venv-comet", ".venv-vllm")


def fresh_clone(revision: str, dest: Path) -> str:
    """A fresh clone of this repository at ``revision`` (or of the working tree) in ``dest``;
    returns the revision's short hash. The working tree's clone links this checkout's environments
    (what its README's set-up made); another revision gets its own, made by its own README's
    set-up command (``bash envs/setup.sh``, not timed): an older revision may pin other versions
    (39355c0 ran transformers 4.x in one environment), and it is measured as a user would run it."""
    import shutil

    if dest.exists():
        shutil.rmtree(dest)
    git = ["git", "-C", str(REPO)]
    subprocess.run(["git", "clone", "--quiet", "--no-local", "--no-checkout", str(REPO), str(dest)], check=True)
    if revision == WORKTREE:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        subprocess.run(["git", "-C", str(dest), "checkout", "--quiet", head], check=True)
        files = subprocess.run([*git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                               capture_output=True, check=True).stdout.decode().split("\0")
        for name in filter(None, files):  # uncommitted edits and new files, as they are on disk
            src, dst = REPO / name, dest / name
            if src.is_file() and not src.is_symlink():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
            elif not src.exists() and dst.exists():
                dst.unlink()  # deleted in the working tree
        label = head + "+worktree"
    else:
        subprocess.run(["git", "-C", str(dest), "checkout", "--quiet", revision], check=True)
        label = subprocess.run(["git", "-C", str(dest), "rev-parse", "--short", "HEAD"], capture_output=True,
                               text=True, check=True).stdout.strip()
    if revision == WORKTREE:
        for env in ENVIRONMENTS:
            if (REPO / env).exists():
                (dest / env).symlink_to((REPO / env).resolve())
    else:
        env = {**os.environ, "RADIS_NO_PROFILE_LINKS": "1"}
        env.pop("VIRTUAL_ENV", None)
        setup = subprocess.run(["bash", "envs/setup.sh"], cwd=dest, capture_output=True, text=True, env=env)
        (dest / "setup.log").write_text(setup.stdout + setup.stderr)
        if setup.returncode:
            raise SystemExit(f"the set-up of {label} in {dest} failed (see {dest / 'setup.log'})")
    return label


def main_job(clone: Path, extra: list[str] = (), timeout: int = 4 * 3600) -> float:
    """The README's main-job command in ``clone``: ``.venv/bin/snakemake --profile profiles/local all``
    (plus ``extra`` arguments, e.g. ``--config threads=2`` to try a setting); its wall time,
    recorded beside the clone's results like :func:`make_run` does."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    done = subprocess.run([str(clone / ".venv" / "bin" / "snakemake"), "--profile", "profiles/local", "all", *extra],
                          cwd=clone, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    wall = time.perf_counter() - t0
    (clone / "snakemake.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"the main job in {clone} failed (see {clone / 'snakemake.log'}):\n{done.stderr[-3000:]}")
    (clone / "run_wall.json").write_text(json.dumps({"wall_s": wall, "finished": time.time()}) + "\n")
    return wall


def compare_default_runs(revisions: list[str], extra: list[str] = ()) -> str:
    """The default run from a fresh clone of each revision, back to back; both times, the ratio
    to the first, and time per stage of each (Snakemake's benchmark files)."""
    from stage_report import render

    runs = []
    for revision in revisions:
        clone = WORK / f"default-run-{revision}"
        label = fresh_clone(revision, clone)
        print(f"  default run of {label} in {clone} ...", flush=True)
        wall = main_job(clone, extra)
        print(f"  {label}: {wall / 60:.1f} min", flush=True)
        runs.append((label, wall, collect(clone / "results")))
    lines = ["| revision | wall time, min | ratio to " + runs[0][0] + " | jobs |", "|---|---|---|---|"]
    for label, wall, report in runs:
        lines.append(f"| {label} | {wall / 60:.1f} | {runs[0][1] / wall:.2f}x faster | "
                     f"{sum(s.jobs for s in report.stages)} |")
    stages = sorted({s.name for _, _, r in runs for s in r.stages})
    lines += ["", "| stage | " + " | ".join(f"{label}: jobs, job time s" for label, _, _ in runs) + " |",
              "|---|" + "---|" * len(runs)]
    for name in stages:
        cells = []
        for _, _, report in runs:
            s = next((s for s in report.stages if s.name == name), None)
            cells.append(f"{s.jobs}, {s.seconds:.0f}" if s else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [""] + [render(report) + "\n" for _, _, report in runs]
    return "\n".join(lines)


#: the finished default run that figures 4 and 5 read: the working tree's, from --default-run
DEFAULT_RUN = WORK / f"default-run-{WORKTREE}"


def finished_run() -> Path | None:
    for run_dir in (DEFAULT_RUN, TINY_RUN):
        if (run_dir / "run_wall.json").exists():
            return run_dir
    return None


def dry_run_paper(repeats: int) -> tuple[list[float], int]:
    workdir = WORK / "dryrun"
    workdir.mkdir(parents=True, exist_ok=True)
    times, jobs = [], 0
    for _ in range(repeats):
        done, wall = snakemake(workdir, "-n", "all", overlay=REPO / "config" / "paper.yaml", timeout=600)
        if done.returncode:
            raise SystemExit(f"dry run of config/paper.yaml failed:\n{done.stderr[-3000:]}")
        times.append(wall)
        found = re.search(r"^total\s+(\d+)", done.stdout + done.stderr, re.MULTILINE)
        jobs = int(found.group(1)) if found else jobs
    return times, jobs


def noop_rerun(run_dir: Path, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        done, wall = snakemake(run_dir, "all", overlay=_overlay(run_dir), timeout=600)
        out = done.stdout + done.stderr
        if done.returncode or "Nothing to be done" not in out:
            raise SystemExit(f"the rerun in {run_dir} was not a no-op:\n{out[-3000:]}")
        times.append(wall)
    return times


def run(report: Report, repeats: int) -> None:
    times, jobs = dry_run_paper(repeats)
    report.add("3 DAG", f"snakemake -n --configfile config/paper.yaml all ({jobs} jobs), s",
               f"{median(times):.2f}", "<= 5 s", median(times) <= 5, "runs " + ", ".join(f"{t:.2f}" for t in times))
    run_dir = finished_run()
    if run_dir is None:
        print(f"  no finished run under {WORK}: running the default at tiny sizes (tests/overlays.py) once", flush=True)
        make_run(TINY_RUN, tiny_overlay())
        run_dir = TINY_RUN
    kind = "default run" if run_dir == DEFAULT_RUN else "default at tiny sizes"
    times = noop_rerun(run_dir, repeats)
    report.add("3 DAG", f"no-op rerun of a finished {kind}, s", f"{median(times):.2f}", "<= 5 s",
               median(times) <= 5, "runs " + ", ".join(f"{t:.2f}" for t in times))

    stages = collect(run_dir / "results")
    peak = stages.peak
    over = [s.name for s in stages.stages if s.max_rss_mb > RSS_LIMIT_MB]
    report.add("4 memory", f"peak RSS of any stage ({kind}), MB", f"{peak.max_rss_mb:.0f}",
               f"none > {RSS_LIMIT_MB}", not over, f"{peak.max_rss_job}; over: {', '.join(over) or 'none'}")
    per_stage = ", ".join(f"{s.name} {s.max_rss_mb:.0f}" for s in sorted(stages.stages, key=lambda s: -s.max_rss_mb)
                          if s.max_rss_mb >= 100)
    report.add("4 memory", "peak RSS per stage, MB (>= 100 MB)", per_stage)
    report.add("5 whole run", f"wall time of the {kind}, min", f"{stages.wall_s / 60:.1f}", note=stages.wall_source)
    total = stages.job_seconds or 1.0
    shares = ", ".join(f"{s.name} {s.seconds / total:.0%}" for s in stages.stages if s.seconds / total >= 0.01)
    report.add("5 whole run", "share of job time per stage (>= 1%)", shares,
               note=f"python benchmarks/stage_report.py {run_dir.relative_to(REPO)}/results")
