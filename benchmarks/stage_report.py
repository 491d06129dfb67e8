#!/usr/bin/env python3
"""Time and memory per stage of a finished run, from Snakemake's ``benchmark:`` files.

    python benchmarks/stage_report.py RESULTS_DIR     (e.g. results, or a scratch run's results)

Every rule writes ``RESULTS_DIR/benchmarks/<rule>/...tsv`` (columns s, max_rss, ...); the stage
of a file is its first directory under ``benchmarks/`` (or its name for top-level files). Printed:
per stage the jobs, the summed job time and its share of all job time (where the next bottleneck
is), the peak RSS of any of its jobs, and the run's wall time. The wall time is the one recorded
by ``benchmarks/run.py --default-run`` (``run_wall.json`` beside RESULTS_DIR) where present,
otherwise the span from the first job's start (file time minus its duration) to the last job's end.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: the memory ceiling the issue sets for any stage of the default run
RSS_LIMIT_MB = 8 * 1024


@dataclass
class Stage:
    name: str
    jobs: int = 0
    seconds: float = 0.0
    max_rss_mb: float = 0.0
    max_rss_job: str = ""


@dataclass
class RunReport:
    results_dir: Path
    stages: list[Stage] = field(default_factory=list)
    wall_s: float | None = None
    wall_source: str = ""

    @property
    def job_seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    @property
    def peak(self) -> Stage | None:
        return max(self.stages, key=lambda s: s.max_rss_mb, default=None)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None  # Snakemake writes '-' or 'NA' where it could not measure


def collect(results_dir: Path) -> RunReport:
    results_dir = Path(results_dir)
    root = results_dir / "benchmarks"
    files = sorted(root.rglob("*.tsv"))
    if not files:
        raise SystemExit(f"{root}: no Snakemake benchmark files (is this a finished run's results directory?)")
    stages: dict[str, Stage] = {}
    starts, ends = [], []
    for path in files:
        rel = path.relative_to(root)
        name = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        rows = list(csv.DictReader(path.open(), delimiter="\t"))
        if not rows:
            continue
        stage = stages.setdefault(name, Stage(name))
        seconds = [x for x in (_number(r.get("s")) for r in rows) if x is not None]
        job_s = sum(seconds) / len(seconds) if seconds else 0.0  # repeats: their mean
        stage.jobs += 1
        stage.seconds += job_s
        for r in rows:
            rss = _number(r.get("max_rss"))
            if rss is not None and rss > stage.max_rss_mb:
                stage.max_rss_mb, stage.max_rss_job = rss, str(rel.with_suffix(""))
        end = path.stat().st_mtime
        ends.append(end)
        starts.append(end - job_s)
    report = RunReport(results_dir, sorted(stages.values(), key=lambda s: -s.seconds))
    recorded = results_dir.parent / "run_wall.json"
    if recorded.exists():
        report.wall_s, report.wall_source = json.loads(recorded.read_text())["wall_s"], "measured by run.py"
    elif starts:
        report.wall_s, report.wall_source = max(ends) - min(starts), "span of the benchmark files"
    return report


def render(report: RunReport) -> str:
    total = report.job_seconds or 1.0
    lines = [f"run: {report.results_dir}",
             (f"wall time: {report.wall_s / 60:.1f} min ({report.wall_source}); job time summed: "
              f"{report.job_seconds / 60:.1f} min over {sum(s.jobs for s in report.stages)} jobs"),
             "",
             "| stage | jobs | job time s | share | peak RSS MB | peak job |",
             "|---|---|---|---|---|---|"]
    for s in report.stages:
        lines.append(f"| {s.name} | {s.jobs} | {s.seconds:.1f} | {s.seconds / total:.1%} | {s.max_rss_mb:.0f} | "
                     f"{s.max_rss_job} |")
    over = [s for s in report.stages if s.max_rss_mb > RSS_LIMIT_MB]
    lines.append("")
    lines.append(f"stages above {RSS_LIMIT_MB} MB peak RSS: " + (", ".join(s.name for s in over) if over else "none"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results_dir", type=Path, help="a finished run's results directory")
    args = parser.parse_args(argv)
    print(render(collect(args.results_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
