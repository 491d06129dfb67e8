"""The DAG as Snakemake plans it (dry runs: no model, no network)."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def dry_run(tmp_path, *configfiles):
    """``snakemake -n all`` (targets before --configfile, which takes several values)."""
    cmd = [str(SNAKEMAKE), "all", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n",
           "--cores", "1"]
    if configfiles:
        cmd += ["--configfile", *map(str, configfiles)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def job_counts(output: str) -> dict[str, int]:
    stats = output.split("Job stats:")[1].split("\n\n")[0]
    return {name: int(n) for name, n in re.findall(r"^(\w+)\s+(\d+)$", stats, re.M)}


def test_paper_grid_is_planned_without_network(tmp_path):
    run = dry_run(tmp_path, REPO / "config/paper.yaml")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    jobs = job_counts(out)
    # 2 backbones × (base + 4 methods), Table 5's two external-rationale RaDis runs (Mistral only),
    # and the 4 prior MT models (evaluated as released)
    models = 2 * 5 + 2 + 4
    # 2 backbones, Llama-3-70B (rationales), Llama-Guard-3-8B, ParroT, BigTrans, BayLing, ALMA
    assert jobs["materialise_backbone"] == 8
    assert jobs["synthesize"] == 2 * 3 + 2
    assert jobs["train"] == jobs["merge"] == jobs["build_trainset"] == 2 * 4 + 2
    assert jobs["prepare_data"] == 16
    assert jobs["translate"] == models
    assert jobs["score_translation"] == models * 8
    # general ability, per model: one job generates the 3 response sets, one judges the 4 judged
    # benchmarks, one runs GSM8K
    assert jobs["generate_general"] == jobs["judge_general"] == jobs["gsm8k"] == models
    assert jobs["table3"] == jobs["table5"] == jobs["figure1"] == jobs["tables"] == 1
    assert jobs["table4"] == jobs["figure4"] == 2  # per backbone
    assert "results/synth/mistral-7b-instruct-v0.2/rationale-radis-llama-3-70b-instruct/en-cs.jsonl" in out
    for backbone in ("llama-2-7b-chat", "mistral-7b-instruct-v0.2"):
        assert f"results/eval/{backbone}/radis/translation/en-cs.json" in out
        assert f"results/eval/{backbone}/radis/alpacaeval2.json" in out
    for prior in ("parrot-7b", "bigtrans-13b", "bayling-7b", "alma-7b"):
        assert f"results/eval/{prior}/base/translation/en-de.json" in out
        assert f"results/eval/{prior}/base/mtbench.json" in out
        assert f"results/eval/{prior}/base/gsm8k.json" in out
        assert f"results/eval/{prior}/seqkd/" not in out  # evaluated as released, never trained


def test_default_grid_is_planned(tmp_path):
    run = dry_run(tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = job_counts(run.stdout + run.stderr)
    # 4 methods + RaDis on the merged Vanilla-FT model's rationales (Table 5); the scored models
    # are those 5, the backbone and the prior-model stand-in
    assert jobs["train"] == 5 and jobs["score_translation"] == 7 * 8


def test_a_bad_config_stops_the_dag_with_the_key_named(tmp_path):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"training": {"learning_rate": -1}}))
    run = dry_run(tmp_path, tmp_path / "bad.yaml")
    assert run.returncode != 0
    assert "training.learning_rate" in run.stderr + run.stdout


def test_directions_are_config_not_hard_wired(tmp_path):
    (tmp_path / "is.yaml").write_text(yaml.safe_dump({"experiment": {"directions": ["is-en", "en-is", "de-en"]}}))
    run = dry_run(tmp_path, tmp_path / "is.yaml")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "results/eval/smollm2-135m/radis/translation/en-is.json" in out
    assert job_counts(out)["score_translation"] == 7 * 3  # 6 models of the backbone, 1 prior model
