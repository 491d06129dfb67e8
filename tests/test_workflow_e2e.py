"""The whole DAG on the embedded model at tiny sizes: real data, real model, real training.

Runs Snakemake in a scratch directory with an overlay config (2 directions, 2 sentences each,
short generations, one epoch), then checks the tables, that a second run has nothing to do, and
that changing one method's parameter reruns only that method's jobs.
"""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from overlays import TINY

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

# The tiny sizes are shared with the SLURM test; the local judge gets a key like a paid API would,
# and it must never reach results or logs.
OVERLAY = {**TINY, "judges": {"local": {"api_key_env": "RADIS_E2E_JUDGE_KEY"}}}
SENTINEL = "sk-radis-e2e-sentinel-5f3a9c"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "overlay.yaml"), "--cores", "2", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RADIS_E2E_JUDGE_KEY": SENTINEL}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3000)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_comet_checkpoint):
    workdir = tmp_path_factory.mktemp("e2e")
    # COMET with a tiny local checkpoint, so the score_translation jobs run COMET in its environment
    overlay = {**OVERLAY, "evaluation": {"comet_model": str(tiny_comet_checkpoint)}}
    (workdir / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    run = snakemake(workdir, "all")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return workdir


@pytest.mark.e2e
def test_every_table_cell_is_a_number(finished_run):
    for n, languages in ((1, ["German"]), (2, ["Czech"])):
        rows = list(csv.DictReader((finished_run / f"results/tables/table{n}.csv").open()))
        # the prior MT model's row last, as in the paper (evaluated as released, in ALMA's prompt format)
        assert [(r["backbone"], r["method"]) for r in rows[-1:]] == [("smollm2-135m-alma-prompt", "base")]
        assert rows[-1][f"{languages[0]} delta"] == ""
        assert [r["method"] for r in rows] == ["base", "vanilla", "seqkd", "sdft", "radis", "base"]
        for row in rows:
            for column in [*languages, "Avg."]:
                # each score within its bootstrap interval, from the segments its cell kept (issue 25)
                assert float(row[f"{column} low"]) <= float(row[column]) <= float(row[f"{column} high"]), row
            if row["method"] != "base":
                float(row[f"{languages[0]} delta"])
                if row["backbone"] == "smollm2-135m":
                    assert 0 < float(row[f"{languages[0]} p"]) <= 1
        md = (finished_run / f"results/tables/table{n}.md").read_text()
        assert "w/ RaDis" in md and "Backbone LLM" in md and " ±" in md and "bootstrap interval" in md
        assert md.index("Backbone LLM") < md.index("*Prior LLM-based MT models*") < md.index(
            "SmolLM2-135M (ALMA prompt)")
    meta = "results/eval/{}/base/translation/en-de.hyp.meta.json"
    assert json.loads((finished_run / meta.format("smollm2-135m-alma-prompt")).read_text())["prompt_format"] == "alma"
    assert json.loads((finished_run / meta.format("smollm2-135m")).read_text())["prompt_format"] is None


@pytest.mark.e2e
def test_each_stage_ran_in_its_own_environment(finished_run):
    """COMET scores come from the comet environment (transformers 4, numpy 1), training from the
    main one (transformers 5): their provenance records different transformers major versions."""
    cell = json.loads((finished_run / "results/eval/smollm2-135m/radis/translation/en-de.json").read_text())
    assert isinstance(cell["metrics"]["comet"], float)
    # how many replies each translation-extraction rule touched is part of the cell
    from radis.evaluate.translation import EXTRACTION_RULES

    assert set(cell["extraction"]) == {*EXTRACTION_RULES, "untouched"}  # a count for every rule
    assert all(0 <= v <= cell["n"] for v in cell["extraction"].values())
    scored = cell["provenance"]["packages"]
    trained = json.loads((finished_run / "results/models/smollm2-135m/radis/adapter/radis_provenance.json")
                         .read_text())["packages"]
    assert "unbabel-comet" in scored and "unbabel-comet" not in trained
    assert scored["transformers"].startswith("4.") and int(trained["transformers"].split(".")[0]) >= 5
    assert scored["numpy"].startswith("1.") and int(trained["numpy"].split(".")[0]) >= 2
    # the translations it scored were generated in the main environment (the hf backend)
    assert cell["provenance"]["generation"]["packages"]["transformers"] == trained["transformers"]


@pytest.mark.e2e
def test_table3_and_figure1(finished_run):
    rows = list(csv.DictReader((finished_run / "results/tables/table3.csv").open()))
    # the backbone first, its fine-tuned models, the prior-model stand-in last (as the paper prints them)
    assert [r["method"] for r in rows] == ["base", "vanilla", "seqkd", "sdft", "radis", "base"]
    assert rows[-1]["backbone"] == "smollm2-135m-alma-prompt" and rows[0]["RP[%]"] == rows[-1]["RP[%]"] == "-"
    for row in rows:
        for column in ["MT-Bench", "AlpacaEval", "AlpacaEval 2.0", "AdvBench", "GSM8K"]:
            value = row[column]
            assert value.startswith("n/a: ") or float(value) == float(value), (column, value)
        # the SmolLM2 judge is scored by log-probabilities: every MT-Bench cell is a rating
        assert 1 <= float(row["MT-Bench"]) <= 10, row
        # within its interval from the cell's per-item scores (issue 25)
        for column in ["MT-Bench", "AdvBench", "GSM8K"]:
            assert float(row[f"{column} low"]) <= float(row[column]) <= float(row[f"{column} high"]), (column, row)
        # drift from backbone: a number for every trained method, "-" for the backbone rows
        if row["method"] == "base":
            assert row["Drift KL"] == row["Drift ΔNLL"] == "-"
        else:
            assert float(row["Drift KL"]) >= 0 and float(row["Drift ΔNLL"]) == float(row["Drift ΔNLL"]), row
            # within its interval over the answers (drift.json keeps each answer's sums)
            assert float(row["Drift KL low"]) <= float(row["Drift KL"]) <= float(row["Drift KL high"]), row
    mtbench = json.loads((finished_run / "results/eval/smollm2-135m/radis/mtbench.json").read_text())
    assert mtbench["metrics"]["scoring"] == "logprobs"
    png = (finished_run / "results/figures/figure1.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    points = json.loads((finished_run / "results/figures/figure1.json").read_text())
    assert all(isinstance(p["mtbench"], float) for p in points)  # every model placed


@pytest.mark.e2e
def test_table4_and_figure4(finished_run):

    table4 = (finished_run / "results/tables/table4-smollm2-135m.md").read_text()
    assert "Word/phrase translation" in table4 or "word/phrase translation" in table4.lower()
    result = json.loads((finished_run / "results/analysis/smollm2-135m/rationale_categories.json").read_text())
    assert len(result["items"]) == 2 and result["prompt_version"]  # 1 per direction, 2 directions
    assert result["scoring"] == "logprobs" and result["occurrence"]["classified"] > 0
    grads = json.loads((finished_run / "results/analysis/smollm2-135m/gradient_similarity.json").read_text())
    for method in ("seqkd", "radis"):
        layers = grads["results"][method]["layers"]
        assert len(layers) == 30 and all(v is None or -1 <= v <= 1 for v in layers)
    assert (finished_run / "results/figures/figure4-smollm2-135m.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.e2e
def test_table5_external_rationales(finished_run):
    rows = list(csv.DictReader((finished_run / "results/tables/table5.csv").open()))
    assert [r["method"] for r in rows] == ["base", "vanilla", "radis", "radis-vanilla"]
    for row in rows:
        for column in ("X→EN", "EN→X"):
            assert float(row[f"{column} low"]) <= float(row[column]) <= float(row[f"{column} high"]), row
    meta = (finished_run / "results/synth/smollm2-135m/rationale-radis-vanilla/cs-en.meta.json").read_text()
    assert "models/smollm2-135m/vanilla/merged" in meta  # written by the merged Vanilla-FT model


@pytest.mark.e2e
def test_html_report_has_every_table_and_figure(finished_run):
    run = snakemake(finished_run, "--report", str(finished_run / "report.html"))
    assert run.returncode == 0, run.stderr[-3000:]
    html = (finished_run / "report.html").read_text(errors="replace")
    for name in ("table1.csv", "table2.csv", "table3.csv", "table5.csv", "figure1.png", "loss-smollm2-135m.png"):
        assert name in html, name


@pytest.mark.e2e
def test_results_carry_provenance_and_rationale_rate(finished_run):

    cell = json.loads((finished_run / "results/eval/smollm2-135m/radis/translation/en-de.json").read_text())
    assert cell["n"] == 2 and cell["provenance"]["generation"]["config_hash"]
    meta = json.loads((finished_run / "results/synth/smollm2-135m/rationale/cs-en.meta.json").read_text())
    assert 0 <= meta["summary"]["rationale_rate"] <= 1
    adapter = finished_run / "results/models/smollm2-135m/radis/adapter"
    assert (adapter / "adapter_config.json").exists()
    merged = finished_run / "results/models/smollm2-135m/radis/merged"
    assert (merged / "model.safetensors").exists()


@pytest.mark.e2e
@pytest.mark.e2e
def test_every_result_file_has_the_umask_permissions(finished_run):
    """A group shares results/: no file of the run (weights, checkpoints, caches) may have fewer
    permissions than the umask gives a new file (safetensors writes 0600)."""
    from radis.io import current_umask

    wanted = 0o666 & ~current_umask()
    files = [p for p in (finished_run / "results").rglob("*") if p.is_file() and not p.is_symlink()]
    narrow = [f"{p.relative_to(finished_run)} {oct(p.stat().st_mode & 0o777)}" for p in files
              if p.stat().st_mode & wanted != wanted]
    assert len(files) > 500 and not narrow, narrow[:20]


def test_the_judge_key_is_nowhere_in_results_or_logs(finished_run):
    leaks = [str(p) for root in ("results", ".snakemake") for p in (finished_run / root).rglob("*")
             if p.is_file() and SENTINEL.encode() in p.read_bytes()]
    assert not leaks
    assert list((finished_run / "results/judge-cache").rglob("*.json"))  # the judge was called


@pytest.mark.e2e
def test_second_run_has_nothing_to_do(finished_run):
    run = snakemake(finished_run, "-n", "all")
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


@pytest.mark.e2e
def test_hardware_settings_and_display_names_rerun_nothing(finished_run):
    """The README's advice after an out-of-memory error (lower the batch), another save_steps, or a
    prior model renamed: no model, synthesis or evaluation job reruns; only what shows the name."""
    (finished_run / "hw.yaml").write_text(yaml.safe_dump({
        "generation": {"batch_size": 3}, "training": {"micro_batch_size": 2, "save_steps": 5},
        "backbones": {"smollm2-135m-alma-prompt": {"label": "Renamed"}}}))
    run = snakemake(finished_run, "-n", "all", "--configfile", str(finished_run / "overlay.yaml"),
                    str(finished_run / "hw.yaml"))
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    jobs = set(re.findall(r"^(\w+)\s+\d+$", out.split("Job stats:")[1], re.M)) - {"total", "all"} if "Job stats:" in out else set()
    assert jobs and jobs <= {"tables", "table3", "figure1", "drift_figure", "reproduction"}, jobs


@pytest.mark.e2e
def test_changing_one_method_reruns_only_that_method(finished_run):
    (finished_run / "lr.yaml").write_text(yaml.safe_dump({"methods": {"radis": {"training": {"learning_rate": 2e-4}}}}))
    run = snakemake(finished_run, "-n", "all", "--configfile", str(finished_run / "overlay.yaml"),
                    str(finished_run / "lr.yaml"))
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], re.M))
    assert jobs.get("train") == "1" and jobs.get("merge") == "1"
    assert "synthesize" not in jobs and "build_trainset" not in jobs
    assert re.findall(r"output: results/models/[^/]+/(\w+)/adapter", out) == ["radis"]


@pytest.mark.e2e
def test_a_second_seed_is_its_own_chain_and_the_tables_pool_the_seeds(finished_run):
    """experiment.seeds [42, 7] on the finished run: planned, the first seed's chains are finished
    and rerun nothing, seed 7 gets its own chain of every method (greedy synthesis shared, Table 5's
    rationales from seed 7's own Vanilla-FT). Run (two methods, AdvBench only, to keep it short):
    seed 7 builds, trains, merges and evaluates its own models; the tables show each cell's mean
    over the two seeds with its spread, and `radis cell --seed 7` names a file the run wrote.
    Runs last in this module: it rewrites the tables."""
    (finished_run / "seeds-only.yaml").write_text(yaml.safe_dump({"experiment": {"seeds": [42, 7]}}))
    plan = snakemake(finished_run, "-n", "-p", "all", "--configfile", str(finished_run / "overlay.yaml"),
                     str(finished_run / "seeds-only.yaml"))
    out = plan.stdout + plan.stderr
    assert plan.returncode == 0, out
    outputs = " ".join(re.findall(r"output: ([^\n]+)", out))
    # nothing of the first seed's chains, nor of the backbone's and the prior model's evaluation
    assert not re.search(r"results/(models|eval|trainsets|synth)/[^/ ]+/(base|[a-z-]+)[/.]", outputs), outputs
    # seed 7's own chain of every method; greedy synthesis shared, but Table 5's generator is trained
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], re.M))
    assert jobs["train"] == jobs["merge"] == "5" and jobs["synthesize"] == "1"
    assert "output: results/synth/smollm2-135m/rationale-radis-vanilla@7/" in out
    assert "synthesize --kind rationale --model results/models/smollm2-135m/vanilla@7/merged " in out  # its own

    # the run itself on two methods and AdvBench only, to keep it short
    seeds = {"experiment": {"seeds": [42, 7], "methods": ["vanilla", "radis"], "external_rationales": []},
             "general": {"benchmarks": ["advbench"]}}
    (finished_run / "seeds.yaml").write_text(yaml.safe_dump(seeds))
    overlays = ["--configfile", str(finished_run / "overlay.yaml"), str(finished_run / "seeds.yaml")]
    run = snakemake(finished_run, "all", *overlays)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    models = finished_run / "results/models/smollm2-135m"
    assert (models / "vanilla@7/adapter/adapter_model.safetensors").read_bytes() != \
        (models / "vanilla/adapter/adapter_model.safetensors").read_bytes()  # another seed, another model
    for n, column in ((1, "German"), (2, "Czech")):
        table = list(csv.DictReader((finished_run / f"results/tables/table{n}.csv").open()))
        assert [r["method"] for r in table] == ["base", "vanilla", "radis", "base"]  # the prior model last
        rows = {r["method"]: r for r in table[:3]}
        for m in ("vanilla", "radis"):
            first, second = (json.loads((finished_run / f"results/eval/smollm2-135m/{v}/translation/"
                                         f"{'en-de' if n == 1 else 'cs-en'}.json").read_text())["metrics"][rows[m]["metric"]]
                             for v in (m, f"{m}@7"))
            assert float(rows[m][column]) == pytest.approx((first + second) / 2, abs=0.006)
            assert float(rows[m][f"{column} seed sd"]) == pytest.approx(abs(first - second) / 2 ** 0.5, abs=0.01)
            assert float(rows[m][f"{column} low"]) <= float(rows[m][column]) <= float(rows[m][f"{column} high"])
        assert rows["base"][f"{column} seed sd"] == ""
        assert "mean over 2 seeds (42, 7" in (finished_run / f"results/tables/table{n}.md").read_text()
    table3 = {r["method"]: r for r in csv.DictReader((finished_run / "results/tables/table3.csv").open())}
    assert table3["radis"]["Drift KL seed sd"] != "" and table3["base"]["Drift KL seed sd"] == ""
    points = json.loads((finished_run / "results/figures/drift.json").read_text())
    assert sorted(p["method"] for p in points) == ["radis", "vanilla"] and all("gain_interval" in p for p in points)
    cell = subprocess.run([sys.executable, "-m", "radis", "cell", "1", "smollm2-135m", "radis", "German", "--seed", "7",
                           "--configfile", *overlays[1:]], capture_output=True, text=True, cwd=REPO)
    assert cell.returncode == 0, cell.stderr
    target = cell.stdout.splitlines()[1]
    assert target == "results/eval/smollm2-135m/radis@7/translation/en-de.json" and (finished_run / target).exists()
