"""Ours beside the paper's (radis.reproduction): the reproduction tables from rendered table CSVs
and the paper's numbers (workflow/resources/paper_results.yaml)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from radis.config import load_config
from radis.reproduction import setup_differences, write_reproduction
from radis.settings import ReproductionStep
from radis.tables import translation_table, write_table

REPO = Path(__file__).resolve().parents[1]
EN_X = ["en-cs", "en-de", "en-ru", "en-zh"]
#: the paper's Table 1, LLaMA-2-7B-Chat block (COMET)
PAPER = {"base": [70.14, 75.10, 75.76, 72.57], "vanilla": [81.80, 82.81, 84.67, 81.96]}


@pytest.fixture(scope="module")
def paper_config():
    return load_config(REPO / "config/config.yaml", REPO / "config/paper.yaml")


def test_the_paper_config_is_the_papers_setup_and_the_rehearsal_says_how_it_is_not(paper_config):
    assert setup_differences(paper_config, paper_config) == []
    rehearsal = load_config(REPO / "config/config.yaml", REPO / "config/paper.yaml", REPO / "config/rehearsal.yaml")
    differences = setup_differences(rehearsal, paper_config)
    keys = [d.split(":")[0] for d in differences]
    assert "data.train_limit" in keys and "training.epochs" in keys and "general.mtbench.judge" in keys
    # hardware and engine sizes are not result-changing settings
    assert not {"training.gpus", "generation.batch_size", "backbones.llama-3-70b-instruct.tensor_parallel_size"} & set(keys)
    assert "data.train_limit: 2 (paper: unset)" in differences
    assert "training.batch_size" in keys  # the effective batch changes what is learned; the micro-batch does not


def _cells(backbone: str, scores: dict[str, list[float]], n: int = 300) -> list[dict]:
    """Translation cells with COMET segment scores around the given system scores."""
    rng = np.random.default_rng(7)
    out = []
    for m, row in scores.items():
        for d, target in zip(EN_X, row):
            seg = rng.normal(0, 0.1, n)
            seg = seg - seg.mean() + target / 100
            out.append({"backbone": backbone, "method": m, "direction": d,
                        "metrics": {"comet": float(100 * seg.mean()), "chrf": 50.0, "bleu": 20.0},
                        "segments": {"items": "wmt22", "comet": seg.tolist()}})
    return out


def _table1(tmp_path: Path, backbone: str, scores: dict[str, list[float]], metric: str = "comet") -> Path:
    table = translation_table(_cells(backbone, scores), [backbone], ["vanilla"], EN_X, metric)
    write_table(table, tmp_path / "table1")
    return tmp_path / "table1.csv"


def _read(stem: Path) -> tuple[str, list[dict]]:
    return stem.with_suffix(".md").read_text(), list(csv.DictReader(stem.with_suffix(".csv").open()))


def test_a_paper_run_marks_each_cell_outside_our_interval(tmp_path):
    ours = {"base": PAPER["base"], "vanilla": [*PAPER["vanilla"][:3], PAPER["vanilla"][3] + 5]}  # en-zh: +5 COMET
    table1 = _table1(tmp_path, "llama-2-7b-chat", ours)
    out = tmp_path / "reproduction"
    write_reproduction([str(table1)], [], str(out), _step({"directions": EN_X, "differences": [], "stand_in": {}}))
    md, rows = _read(out)
    assert md.index("This run has the paper's setup") < md.index("## Table 1")
    assert len(rows) == 10  # 2 rows × (4 directions + Avg.)
    by_cell = {(r["method"], r["column"]): r for r in rows}
    assert by_cell[("vanilla", "Chinese")]["outside"] == "True"
    assert float(by_cell[("vanilla", "Chinese")]["difference"]) == pytest.approx(5.0)
    assert by_cell[("vanilla", "Czech")]["outside"] == "False" and float(by_cell[("base", "Czech")]["paper"]) == 70.14
    assert by_cell[("vanilla", "Avg.")]["outside"] == "True"  # the average moved by 1.25
    assert "2 of 10 paper value(s) outside our interval." in md
    assert "No cell to compare: this run has no such table." in md  # Table 3: not given


def test_another_setup_says_so_first_and_a_chrf_table_is_not_compared(tmp_path):
    table1 = _table1(tmp_path, "smollm2-135m", PAPER, metric="chrf")
    out = tmp_path / "reproduction"
    write_reproduction([str(table1)], [], str(out),
                       _step({"directions": EN_X, "differences": ["data.train_limit: 6 (paper: unset)"],
                        "stand_in": {"smollm2-135m": "llama-2-7b-chat"},
                        "labels": {"smollm2-135m": "SmolLM2-135M-Instruct", "llama-2-7b-chat": "LLaMA-2-7B-Chat"}}))
    md, rows = _read(out)
    assert md.index("**This run is not the paper's setup") < md.index("## Table 1")
    assert "backbone SmolLM2-135M-Instruct stands in for the paper's LLaMA-2-7B-Chat" in md
    assert "`data.train_limit: 6 (paper: unset)`" in md
    assert "this run scored translation with chrf (no COMET model), the paper with COMET" in md and rows == []
    # with COMET, the stand-in's cells are compared with the paper's backbone's
    write_table(translation_table(_cells("smollm2-135m", PAPER), ["smollm2-135m"], ["vanilla"], EN_X, "comet"),
                tmp_path / "table1")
    write_reproduction([str(table1)], [], str(out), _step({"directions": EN_X, "differences": [],
                                                    "stand_in": {"smollm2-135m": "llama-2-7b-chat"}}))
    _, rows = _read(out)
    assert {r["paper_backbone"] for r in rows} == {"llama-2-7b-chat"} and len(rows) == 10


def test_table4_categories_beside_the_papers_with_intervals_over_the_rationales(tmp_path):
    from radis.analysis.rationales import CATEGORIES
    from radis.io import write_json

    n = 40
    items = [{"id": i, "direction": "de-en", "categories": [c.key for c in CATEGORIES[: 1 + i % 3]]} for i in range(n)]
    items.append({"id": n, "direction": "de-en", "categories": None})  # unparsed: in no count
    counts = {c.key: sum(1 for i in items[:n] if c.key in i["categories"]) for c in CATEGORIES}
    result = {"items": items, "occurrence": {"categories": [
        {"key": c.key, "name": c.name, "percent": 100.0 * counts[c.key] / n} for c in CATEGORIES]}}
    path = tmp_path / "analysis" / "smollm2-135m" / "rationale_categories.json"
    write_json(path, result)
    table1 = _table1(tmp_path, "llama-2-7b-chat", PAPER)
    out = tmp_path / "reproduction"
    write_reproduction([str(table1)], [str(path)], str(out), _step({"directions": EN_X, "differences": [], "stand_in": {}}))
    _, rows = _read(out)
    table4 = {r["method"]: r for r in rows if r["table"] == "4"}
    assert len(table4) == len(CATEGORIES) == 8
    first = table4[CATEGORIES[0].name]  # in every rationale: 100%, an interval of [100, 100]
    assert float(first["ours"]) == 100.0 and float(first["low"]) == float(first["high"]) == 100.0
    assert first["outside"] == "True" and float(first["paper"]) == CATEGORIES[0].paper_percent
    absent = table4[CATEGORIES[-1].name]
    assert float(absent["ours"]) == 0.0 and absent["outside"] == "True"


def _step(settings: dict) -> ReproductionStep:
    """``radis reproduction``'s settings as the rule gives them (bootstrap: the schema's default)."""
    return ReproductionStep.from_step(settings)
