"""The registry of general-ability benchmarks (paper §4.1, Table 3): one place that the config
schema, the rules, the CLI, the evaluation dispatch, the plan and the tables all read.

A benchmark lives in one module of :mod:`radis.evaluate` that declares, at module level:

* ``BENCHMARKS``: its :class:`Benchmark` entries (AlpacaEval 1 and 2 are two entries of one module:
  they share instructions and responses and differ in the reference they are compared with);
* ``FILES``: its data files (:class:`EvalFile`), fetched once into ``results/data/general``;
* for a judged benchmark, ``generate_responses(generator, data_dir, settings, seed)`` (the model's
  responses, one record per item; ``settings``: :class:`radis.settings.ResponseSetSettings`, the
  section's ``decoding``, ``limit`` and ``temperatures``) and ``judge_responses(benchmark,
  responses, judging)`` (``{"metrics", "judge", "details"}``; ``judging``:
  :class:`radis.evaluate.general.Judging`, with the typed judge and section).

``radis plan`` costs a judged benchmark by two more declarations of its module (without them it
says the benchmark is not costed): ``plan_items(data_dir, limit, seed)`` (:class:`PlanItems`: the
seeded subset's prompt texts, from the real data) and ``JUDGE_COST`` (:class:`JudgeCost`).

The module's name is the benchmark's data set, its response set (``{module}.responses.jsonl``,
written once per model by ``generate_general``) and its config section (``general.{module}``: its
``limit``, ``decoding`` and ``judge``). So adding a benchmark is one new module and one config
section; nothing else names it. A benchmark that is not judged (GSM8K, scored by lm-eval in a job
of its own) has ``judged=False``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EvalFile:
    """One data file of a benchmark: its path in the local layout (the upstream repository's), the
    upstream file at a pinned commit and that file's sha256."""

    path: str
    url: str
    sha256: str


@dataclass(frozen=True)
class PlanItems:
    """A judged benchmark's seeded subset as ``radis plan`` costs it: per item the texts of its user
    turns, and how many turns a model answers (MT-Bench: 2)."""

    texts: list[tuple[str, ...]]
    turns: int = 1


@dataclass(frozen=True)
class JudgeCost:
    """One judge call of a benchmark as ``radis plan`` costs it: the judge prompt's own tokens, how
    often that prompt quotes an item's prompt and a model's answer (the answer at the section's
    ``decoding.max_new_tokens``), the tokens the judge writes (from the benchmark's section,
    radis.settings.JudgedSection), and whether a call judges one turn or one item."""

    template_tokens: int
    prompts: int
    answers: int
    completion_tokens: Callable[[Any], int]
    per_turn: bool = False


@dataclass(frozen=True)
class Benchmark:
    name: str  # key in general.benchmarks and of the result file {name}.json
    column: str  # the paper's column header in Tables 3 and 5
    metric: str  # the key of the result's metrics that the cell shows
    judged: bool = True  # answered by generate_general and scored by judge_general
    refusal: bool = False  # may be judged by the offline refusal matcher (judge: refusal)
    reference: str | None = None  # AlpacaEval: the reference outputs' file (one of FILES)
    module: str = ""  # filled by the registry: the radis.evaluate module that declares it

    @property
    def section(self) -> str:
        """Its config section under ``general``, its data set and its response set."""
        return self.module


@functools.cache
def _registry() -> tuple[dict[str, Benchmark], dict[str, tuple[EvalFile, ...]]]:
    from dataclasses import replace

    from radis.registry import declaring

    benchmarks: dict[str, Benchmark] = {}
    files: dict[str, tuple[EvalFile, ...]] = {}
    for module in declaring("radis.evaluate", "BENCHMARKS"):
        name = module.__name__.rpartition(".")[2]
        benchmarks.update({b.name: replace(b, module=name) for b in module.BENCHMARKS})
        files[name] = tuple(module.FILES)
    return benchmarks, files


def benchmarks() -> dict[str, Benchmark]:
    """Every benchmark, by name."""
    return _registry()[0]


def benchmark(name: str) -> Benchmark:
    from radis.io import InputError
    from radis.registry import lookup

    return lookup(benchmarks(), name, "benchmark", InputError)


def datasets() -> dict[str, tuple[EvalFile, ...]]:
    """Every data set (a benchmark module) with its files."""
    return _registry()[1]


def response_sets(names) -> list[str]:
    """The response sets the judged benchmarks among ``names`` read, sorted (AlpacaEval 1 and 2: one)."""
    return sorted({benchmark(n).section for n in names if benchmark(n).judged})


def module(name: str):
    """The module that generates and judges benchmark ``name``, or response set ``name``."""
    import importlib

    return importlib.import_module(f"radis.evaluate.{benchmark(name).module if name in benchmarks() else name}")


def data_file(data_dir, dataset: str, index: int = 0):
    """The local path of a data set's ``index``-th file under ``data_dir`` (results/data/general)."""
    from pathlib import Path

    return Path(data_dir) / datasets()[dataset][index].path
