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
    assert jobs["score_translation"] == models  # one per model, every direction (one COMET load)
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
    assert jobs["train"] == 5 and jobs["score_translation"] == 7  # one scoring job per model
    # drift from backbone: one job per trained model, along greedy answers generated once per
    # backbone (MT-Bench's responses are sampled at FastChat's per-category temperatures)
    assert jobs["drift"] == 5 and jobs["drift_answers"] == 1
    assert jobs["loss_curves"] == 1  # the report's loss-curve figure, one per backbone
    assert jobs["drift_figure"] == 1  # translation gain against drift, all backbones in one


def test_cpu_study_is_planned(tmp_path):
    """config/study-cpu.yaml (docs/study-cpu): 4 methods on DE↔EN, three seeds each, drift on
    prompts the backbone answers once (only AdvBench is a judged benchmark there); greedy
    synthesis is shared by the seeds."""
    run = dry_run(tmp_path, REPO / "config/study-cpu.yaml")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    jobs = job_counts(out)
    assert jobs["train"] == jobs["drift"] == 12 and jobs["drift_answers"] == 1 and jobs["synthesize"] == 3
    assert jobs["score_translation"] == 13 and jobs["judge_general"] == 13 and jobs["claims"] == 1
    assert jobs["drift_figure"] == 1  # the study's finding: translation gain against drift, per method
    assert "gsm8k" not in jobs and "figure1" not in jobs and "table5" not in jobs


def test_drift_answers_are_generated_once_when_the_general_responses_are_sampled(tmp_path):
    (tmp_path / "sampled.yaml").write_text(yaml.safe_dump(
        {"general": {"mtbench": {"temperatures": "greedy", "decoding": {"max_new_tokens": 48, "temperature": 0.7}}}}))
    cmd = [str(SNAKEMAKE), "results/tables/table3.md", "--snakefile", str(REPO / "Snakefile"), "--directory",
           str(tmp_path), "-n", "-p", "--cores", "1", "--configfile", str(tmp_path / "sampled.yaml")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    jobs = job_counts(out)
    assert jobs["drift_answers"] == 1 and jobs["drift"] == 4
    greedy = [j["command"] for j in planned_jobs(out) if j["rule"] == "drift_answers"][0]
    assert '"mtbench": {"decoding": {"max_new_tokens": 48, "temperature": 0}' in greedy
    assert '"temperatures": "greedy"' in greedy
    drift = [j["command"] for j in planned_jobs(out) if j["rule"] == "drift"]
    assert all("--answers-dir results/eval/smollm2-135m/base/drift-answers" in c for c in drift)


def test_drift_reuses_the_backbones_responses_when_they_are_greedy(tmp_path):
    (tmp_path / "greedy.yaml").write_text(yaml.safe_dump({"general": {"mtbench": {"temperatures": "greedy"}}}))
    run = dry_run(tmp_path, tmp_path / "greedy.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = job_counts(run.stdout + run.stderr)
    assert jobs["drift"] == 5 and "drift_answers" not in jobs


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
    assert job_counts(out)["score_translation"] == 7  # 6 models of the backbone, 1 prior model


def planned_jobs(output: str) -> list[dict]:
    """Each planned job of a ``-n -p`` dry run: rule, wildcards, resources and shell command."""
    jobs = []
    for block in re.split(r"\n(?=(?:localrule|rule) \w+:\n)", output):
        if not (head := re.match(r"(?:localrule|rule) (\w+):\n", block)):
            continue
        resources = re.search(r"^\s+resources: (.*)$", block, re.M)
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        command = re.search(r"^Shell command: (.*)$", block, re.M)
        jobs.append({"rule": head[1], "wildcards": wildcards[1] if wildcards else "",
                     "resources": dict(kv.split("=", 1) for kv in re.split(r", (?=\w+=)", resources[1])) if resources else {},
                     "command": command[1] if command and command[1] != "None" else ""})
    return jobs


def test_paper_jobs_run_in_their_environments_on_the_gpus_the_config_asks(tmp_path):
    cmd = [str(SNAKEMAKE), "all", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n", "-p",
           "--cores", "1", "--configfile", str(REPO / "config/paper.yaml")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = planned_jobs(run.stdout)
    assert len(jobs) > 150
    vllm_rules = {"synthesize", "translate", "generate_general", "gsm8k", "judge_general"}
    for job in jobs:
        if not job["command"]:
            continue
        python = re.search(r"PYTHONPATH=\S+ (\S+) -m radis", job["command"])
        assert python, job
        env = {"synthesize": "vllm", "translate": "vllm", "generate_general": "vllm", "gsm8k": "vllm",
               "judge_general": "vllm", "drift_answers": "vllm", "score_translation": "comet",
               "download_comet": "comet"}.get(job["rule"], "main")
        assert python[1] == str(REPO / {"main": ".venv", "comet": ".venv-comet", "vllm": ".venv-vllm"}[env]
                                / "bin/python"), job
        gpus = int(job["resources"].get("gpu", 0))
        if job["rule"] == "train":
            assert gpus == 4 and job["resources"]["gpu_model"] == "a100", job
        elif job["rule"] == "synthesize":
            # Table 5's Llama-3-70B-Instruct generator spans 4 A100s (tensor_parallel_size 4)
            assert gpus == (4 if "radis-llama-3-70b-instruct" in job["wildcards"] else 1), job
        elif job["rule"] in vllm_rules | {"figure4", "drift", "drift_answers"}:
            assert gpus == 1, job
        else:
            assert gpus == 0 and not job["resources"].get("gpu_model"), job
        if job["rule"] in vllm_rules | {"train", "figure4", "drift", "drift_answers"}:
            assert '"device": "cuda"' in job["command"], job
    assert {j["rule"] for j in jobs if "rationale-radis-llama-3-70b-instruct" in j["wildcards"]} == {"synthesize"}


def test_default_jobs_ask_for_no_gpu_and_score_in_the_comet_environment(tmp_path):
    cmd = [str(SNAKEMAKE), "all", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n", "-p",
           "--cores", "1"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = [j for j in planned_jobs(run.stdout) if j["command"]]
    assert all(int(j["resources"].get("gpu", 0)) == 0 for j in jobs)
    scoring = [j for j in jobs if j["rule"] == "score_translation"]
    assert scoring and all(str(REPO / ".venv-comet/bin/python") in j["command"] for j in scoring)
    assert all(str(REPO / ".venv/bin/python") in j["command"] for j in jobs if j["rule"] != "score_translation")


def test_a_missing_environment_stops_the_run_before_its_first_job(tmp_path):
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump({"environments": {"comet": str(tmp_path / "no-comet/python")}}))
    cmd = [str(SNAKEMAKE), "results/eval/smollm2-135m/base/translation/en-de.json", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "--cores", "1", "--configfile", str(tmp_path / "overlay.yaml")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "environment 'comet'" in out and "environments.comet" in out and "envs/setup.sh" in out, out[-3000:]
    assert not (tmp_path / "results").exists()  # nothing ran: not even the data or the backbone
