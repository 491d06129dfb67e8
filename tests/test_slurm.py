"""The DAG on a real SLURM controller: `--profile slurm` with snakemake-executor-plugin-slurm.

A one-node cluster (workflow/scripts/slurm_cluster.sh: Debian's slurmctld, slurmd and munge, four
fake A100s) runs the embedded default at tiny sizes (tests/overlays.py) through the repository's
own slurm profile, for Vanilla-FT and RaDis (every kind of rule; the local end-to-end test covers
the other methods, and 2 cores run ~16 SLURM jobs in the time budget, not 30). The test profile is
that profile fitted to one small node (radis.cluster.fitted_profile, as `radis slurm-profile`
writes it); the GPU requests, partitions (routed by each job's GPU request, from
RADIS_SLURM_*_PARTITION), requeue and the choice of status command (this cluster keeps no
accounting) are the real workflow's. With the shipped, paper-sized profile the run stops before
submitting anything, naming what no node can hold.

Evidence that the rules ran as SLURM jobs, without touching any rule: every non-interactive bash
sources $BASH_ENV, and Snakemake runs each rule's shell command with bash, so a probe script
there records, for every `radis` command, the SLURM job it ran in and its CUDA_VISIBLE_DEVICES.
`scontrol show job` (finished jobs stay listed for MinJobAge) gives the submitted jobs, their
comments (which name the rule), partitions and GPUs.

Then: Snakemake itself as a batch job (workflow/scripts/submit.sbatch) rebuilds a deleted cell,
and a rule that fails (a corrupted input) makes Snakemake exit non-zero naming the job and logs.
Everything is bounded by `timeout -k`; the daemons are stopped by the PIDs the script recorded.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from overlays import TINY

# The node's GPUs are /dev/null: jobs compute on CPU (compute.device: cpu) but ask SLURM for GPUs
# as the paper run does, so the requests and their CUDA_VISIBLE_DEVICES are tested for real; training
# asks for 2 and runs as 2 CPU processes over gloo inside its job (radis.launch), as the rehearsal does.
OVERLAY = {**TINY, "experiment": {**TINY["experiment"], "methods": ["vanilla", "radis"]},
           "training": {**TINY["training"], "gpus": 2},
           "compute": {"device": "cpu", "request_gpus": True, "gpu_model": "a100"}}

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
CLUSTER = REPO / "workflow" / "scripts" / "slurm_cluster.sh"
SUBMIT = REPO / "workflow" / "scripts" / "submit.sbatch"

#: The translation tables: every stage of the method (synthesis, training sets, training, merge,
#: translation, scoring), its GPU and CPU rules and its local rules.
TARGETS = [f"results/tables/table{n}.{ext}" for n in (1, 2) for ext in ("md", "csv", "tex")]
GPU_RULES = {"synthesize": 1, "train": 2, "translate": 1}  # GPUs per job, as the config asks
CPU_RULES = {"build_trainset", "merge", "score_translation"}
LOCAL_RULES = {"materialise_backbone", "prepare_data", "tables"}
#: radis subcommand -> rule
COMMANDS = {"synthesize": "synthesize", "train": "train", "translate": "translate", "build-trainset": "build_trainset",
            "merge": "merge", "score": "score_translation", "materialise": "materialise_backbone",
            "prepare-data": "prepare_data", "tables": "tables"}
#: seconds for the main run (the test's budget is 10 minutes in all)
RUN_TIMEOUT = 720

PROBE = r"""# sourced by every non-interactive bash (BASH_ENV): where did this radis command run?
case "${BASH_EXECUTION_STRING:-}" in
  *" -m radis "*|*" -m radis.launch "*)
    printf '%s\t%s\t%s\t%s\n' "${SLURM_JOB_ID:-}" "${SLURM_STEP_ID:-}" "${CUDA_VISIBLE_DEVICES-<unset>}" \
      "$(printf '%s' "$BASH_EXECUTION_STRING" | tr '\n\t' '  ' | cut -c1-400)" >>"$RADIS_TEST_PROBE" ;;
esac
"""


def _why_skip() -> str | None:
    if os.geteuid() != 0:
        return "needs root (slurmd, munged and /etc/slurm)"
    installed = all(shutil.which(t) for t in ("slurmctld", "slurmd", "sbatch", "munged"))
    if not installed and not shutil.which("apt-get"):
        return "SLURM is not installed and there is no apt-get to install it"
    return None


pytestmark = [pytest.mark.slurm, pytest.mark.skipif(_why_skip() is not None, reason=str(_why_skip()))]


def capped_profile(slurm_profile_path: Path, out: Path) -> Path:
    """profiles/slurm fitted to this node by radis.cluster.fitted_profile (what `radis slurm-profile
    --max-cpus 1 --max-mem-mb 2000` writes), with the short waits of a test. The status command is
    left to the workflow, which must pick squeue here (no accounting)."""
    from radis.cluster import fitted_profile, read_nodes

    shipped = yaml.safe_load(slurm_profile_path.read_text())
    profile = fitted_profile(shipped, read_nodes(), ["cpu", "gpu"], max_cpus=1, max_mem_mb=2000)
    profile.update({
        "jobs": 4,
        "local-cores": 2,
        "latency-wait": 5,
        "retries": 0,
        "slurm-init-seconds-before-status-checks": 2,
        "slurm-keep-successful-logs": True,
    })
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return out


def sh(cmd: list[str], timeout: int, **kwargs) -> subprocess.CompletedProcess:
    """Run with `timeout -k` around it, so nothing it starts outlives the bound."""
    return subprocess.run(["timeout", "-k", "20", str(timeout), *map(str, cmd)], capture_output=True, text=True,
                          timeout=timeout + 60, **kwargs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm")
    start = sh(["bash", CLUSTER, "start", state], timeout=600)
    try:
        assert start.returncode == 0, f"cluster did not start:\n{start.stdout}\n{start.stderr}"
        yield state
    finally:
        stop = sh(["bash", CLUSTER, "stop", state], timeout=120)
        print(stop.stderr)


@pytest.fixture(scope="module")
def run(cluster, tmp_path_factory):
    """The tiny DAG through --profile (the repo's slurm profile, capped): the finished working dir."""
    workdir = tmp_path_factory.mktemp("slurm-run")
    (workdir / "overlay.yaml").write_text(yaml.safe_dump(OVERLAY))
    profile = capped_profile(REPO / "profiles" / "slurm" / "config.yaml", workdir / "profile")
    probe = workdir / "probe.sh"
    probe.write_text(PROBE)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BASH_ENV": str(probe), "RADIS_TEST_PROBE": str(workdir / "probe.tsv"),
           "RADIS_SLURM_CPU_PARTITION": "cpu", "RADIS_SLURM_GPU_PARTITION": "gpu"}
    for var in ("RADIS_SLURM_ACCOUNT", "RADIS_SLURM_CPU_QOS", "RADIS_SLURM_GPU_QOS"):
        env.pop(var, None)  # the test cluster has no accounts or QoS

    def snakemake(*args, timeout=RUN_TIMEOUT):
        cmd = [SNAKEMAKE, *args, "--snakefile", REPO / "Snakefile", "--profile", profile,
               "--configfile", workdir / "overlay.yaml"]
        return sh(cmd, timeout=timeout, cwd=workdir, env=env)

    plan = snakemake(*TARGETS, "-n", timeout=300)
    assert plan.returncode == 0, plan.stderr[-3000:]
    started = time.monotonic()
    result = snakemake(*TARGETS)
    elapsed = time.monotonic() - started
    print(f"SLURM run: {elapsed:.0f} s")
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-8000:]}"
    return {"workdir": workdir, "env": env, "plan": plan.stdout + plan.stderr, "log": result.stdout + result.stderr,
            "profile": profile, "snakemake": snakemake, "elapsed": elapsed}


def planned_jobs(plan: str) -> dict[str, int]:
    stats = plan.split("Job stats:")[1].split("\n\n")[0]
    return {name: int(n) for name, n in re.findall(r"^(\w+)\s+(\d+)$", stats, re.M) if name != "total"}


def planned_outputs(plan: str) -> set[str]:
    """Every output and log path the dry run lists (directories included)."""
    paths = set()
    for kind in ("output", "log"):
        for line in re.findall(rf"^\s+{kind}: (.+)$", plan, re.M):
            paths.update(p.strip() for p in line.split(", "))
    return paths


def slurm_jobs() -> list[dict]:
    """Every job the controller knows (finished ones stay for MinJobAge), from `scontrol show job`."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    jobs = []
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        rule = re.match(r"rule_(\w+?)(_wildcards_.*)?$", fields.get("Comment", ""))
        gpus = re.search(r"gpu:a100:(\d+)", fields.get("TresPerJob", ""))
        jobs.append({"id": fields["JobId"], "state": fields["JobState"], "partition": fields["Partition"],
                     "rule": rule.group(1) if rule else fields.get("Comment"), "a100": int(gpus.group(1)) if gpus else 0,
                     "name": fields["JobName"]})
    return jobs


def probe_records(path: Path) -> list[dict]:
    records = []
    for line in path.read_text().splitlines():
        job, step, cuda, command = line.split("\t")
        # `python -m radis SUBCOMMAND`, or `python -m radis.launch ... -- SUBCOMMAND` (training)
        match = re.search(r" -m radis (\S+)", command) or re.search(r" -m radis\.launch .*?-- (\S+)", command)
        records.append({"job": job, "step": step, "cuda": cuda, "rule": COMMANDS.get(match.group(1), match.group(1))})
    return records


def test_every_remote_job_went_through_sbatch(run):
    planned = {rule: n for rule, n in planned_jobs(run["plan"]).items() if rule not in LOCAL_RULES | {"all"}}
    assert set(planned) == set(GPU_RULES) | CPU_RULES
    jobs = slurm_jobs()
    submitted = collections.Counter(j["rule"] for j in jobs)
    assert dict(submitted) == planned, f"jobs: {jobs}"
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    assert len({j["name"] for j in jobs}) == 1  # one Snakemake run: the plugin names jobs by its run id
    for job in jobs:  # partitions from RADIS_SLURM_{GPU,CPU}_PARTITION, A100s as the profile asks
        assert job["partition"] == ("gpu" if job["rule"] in GPU_RULES else "cpu"), job
        assert job["a100"] == GPU_RULES.get(job["rule"], 0), job
    # the plugin's own record: one submission line per job, with its per-job log file
    submissions = re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)", run["log"])
    assert sorted(int(i) for i, _ in submissions) == sorted(int(j["id"]) for j in jobs)
    for _, log in submissions:
        assert (run["workdir"] / log.rstrip(").")).exists() or Path(log.rstrip(").")).exists(), log


def test_job_states_come_from_squeue_on_a_cluster_without_accounting(run):
    """The plugin would query sacct (the binary is there), which never sees a job of this cluster
    end: the workflow switched to squeue before the first job, and the run finished."""
    assert "keeps no accounting" in run["log"] and "from squeue instead of sacct" in run["log"], run["log"][-3000:]


def test_a_plan_no_node_can_run_stops_before_anything_is_submitted(cluster, tmp_path):
    """The shipped profile asks for paper-sized jobs (8 CPUs, 64 GB and up) that this node (2 CPUs)
    can never hold: SLURM would accept and keep them PENDING; the run stops first, naming the rule,
    its request and the --set-resources that fits."""
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(OVERLAY))
    before = len(slurm_jobs())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RADIS_SLURM_CPU_PARTITION": "cpu", "RADIS_SLURM_GPU_PARTITION": "gpu"}
    result = sh([SNAKEMAKE, *TARGETS, "--snakefile", REPO / "Snakefile", "--profile", REPO / "profiles" / "slurm",
                 "--configfile", tmp_path / "overlay.yaml"], timeout=300, cwd=tmp_path, env=env)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-3000:]
    assert "No node of the cluster could run these jobs" in out, out[-5000:]
    assert re.search(r"rule synthesize \(.*\) asks partition 'gpu' for 8 CPUs, 64000 MB, 1 GPUs \(a100\)", out), out[-5000:]
    assert re.search(r"--set-resources synthesize:cpus_per_task=\d+ synthesize:mem_mb=\d+", out), out[-5000:]
    assert len(slurm_jobs()) == before, "a job was submitted"
    assert not (tmp_path / "results/backbones").exists(), "local rules ran before the check"


def test_the_time_limit_warning_reaches_the_trainer_in_its_job_step(cluster, tmp_path):
    """The profile asks SLURM for SIGTERM before a training job's time limit (`--signal` through
    slurm_extra, not B:, so it goes to the job's steps); the rule runs in an `srun` step of the
    plugin, two training processes below it. Here the limit is 3 minutes and the warning 90 s
    before it (the profile's own form, shorter): the trainer must stop at the end of a step, write a
    checkpoint and say so, before SLURM kills the job."""
    overlay = {**OVERLAY, "experiment": {**OVERLAY["experiment"], "methods": ["vanilla"]},
               "training": {**OVERLAY["training"], "epochs": 2000, "save_steps": 100000}}
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    profile_dir = capped_profile(REPO / "profiles" / "slurm" / "config.yaml", tmp_path / "profile")
    profile = yaml.safe_load((profile_dir / "config.yaml").read_text())
    train = profile["set-resources"]["train"]
    assert re.fullmatch(r"'--signal=TERM@\d+'", train["slurm_extra"]), train["slurm_extra"]
    train.update(runtime=3, slurm_extra="'--signal=TERM@90'")
    (profile_dir / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RADIS_SLURM_CPU_PARTITION": "cpu", "RADIS_SLURM_GPU_PARTITION": "gpu"}
    target = "results/models/smollm2-135m/vanilla/adapter"
    result = sh([SNAKEMAKE, target, "--snakefile", REPO / "Snakefile", "--profile", profile_dir,
                 "--configfile", tmp_path / "overlay.yaml"], timeout=480, cwd=tmp_path, env=env)
    log = (tmp_path / "results/logs/train/smollm2-135m/vanilla.log")
    text = log.read_text(errors="replace") if log.exists() else "(no train log)"
    assert result.returncode != 0, "training cannot have finished 2000 epochs in 3 minutes"
    assert re.search(r"stopped by SIGTERM after step \d+ of \d+; \S+checkpoint-\d+ saved: rerun to resume", text), (
        text[-3000:] + result.stderr[-3000:])
    checkpoints = list((tmp_path / "results/models/smollm2-135m/vanilla/checkpoints").glob("checkpoint-*"))
    assert checkpoints and all((c / "radis_hardware.json").is_file() for c in checkpoints), checkpoints


def test_rules_ran_inside_their_jobs_and_gpu_rules_got_cuda_devices(run):
    records = probe_records(run["workdir"] / "probe.tsv")
    by_rule = collections.defaultdict(list)
    for r in records:
        by_rule[r["rule"]].append(r)
    for rule, gpus in GPU_RULES.items():
        assert by_rule[rule], f"no {rule} command seen"
        for r in by_rule[rule]:
            assert r["job"] and r["step"] not in ("", "batch"), r  # in a job step (srun) of a SLURM job
            devices = r["cuda"].split(",")
            assert r["cuda"] != "<unset>" and len(devices) == gpus, r
    for rule in CPU_RULES:
        assert by_rule[rule], f"no {rule} command seen"
        for r in by_rule[rule]:
            assert r["job"] and r["cuda"] in ("<unset>", ""), r
    for rule in LOCAL_RULES:  # local rules (downloads, tables) run where Snakemake runs
        assert by_rule[rule], f"no {rule} command seen"
        assert all(r["job"] == "" for r in by_rule[rule]), by_rule[rule]


def test_outputs_are_the_planned_ones(run):
    """The same files a local run makes: every planned output/log, and nothing else besides
    benchmarks, the training checkpoints (kept outside the outputs for resuming) and the training
    curves of training.report_to (a tracker's logs, watched while a job runs; outside the outputs
    so that a resumed job appends to them)."""
    workdir = run["workdir"]
    planned = planned_outputs(run["plan"])
    missing = sorted(p for p in planned if not (workdir / p).exists())
    assert not missing, missing
    directories = [p for p in planned if (workdir / p).is_dir()]
    assert all(any((workdir / d).iterdir()) for d in directories)
    made = {str(p.relative_to(workdir)) for p in (workdir / "results").rglob("*") if p.is_file()}
    extra = sorted(p for p in made if p not in planned and not any(p.startswith(d + "/") for d in directories)
                   and not p.startswith("results/benchmarks/") and "/checkpoints/" not in p
                   and not re.fullmatch(r"results/models/[^/]+/[^/]+/runs/events\.out\.tfevents\..+", p))
    assert not extra, extra
    for target in TARGETS:
        assert (workdir / target).stat().st_size > 0


def test_snakemake_as_a_batch_job_rebuilds_a_deleted_cell(run):
    workdir = run["workdir"]
    cell = workdir / "results/eval/smollm2-135m/base/translation/cs-en.json"
    cell.unlink()
    env = {**run["env"], "SNAKEMAKE": str(SNAKEMAKE), "RADIS_PROFILE": str(run["profile"])}
    # one CPU (the script asks for 2, all this node has: its rule job could never start)
    submit = sh(["sbatch", "--parsable", "-p", "cpu", "--cpus-per-task=1", SUBMIT, cell.relative_to(workdir), "--snakefile",
                 REPO / "Snakefile", "--configfile", workdir / "overlay.yaml"], timeout=60, cwd=workdir, env=env)
    assert submit.returncode == 0, submit.stderr
    jobid = submit.stdout.strip().split(";")[0]
    deadline = time.monotonic() + 240
    state = ""
    while time.monotonic() < deadline:
        state = subprocess.run(["squeue", "-h", "-t", "all", "-j", jobid, "-o", "%T"], capture_output=True,
                               text=True, timeout=30).stdout.strip()
        if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"):
            break
        time.sleep(2)
    log = (workdir / f"radis-snakemake-{jobid}.log").read_text()
    assert state == "COMPLETED", f"batch job {jobid}: {state}\n{log[-4000:]}"
    assert cell.exists()
    assert "--rerun-incomplete" in log and "1 of 1 steps (100%) done" in log, log[-3000:]
    inner = [j for j in slurm_jobs() if j["rule"] == "score_translation" and int(j["id"]) > int(jobid)]
    assert len(inner) == 1 and inner[0]["state"] == "COMPLETED", inner


def test_a_failing_job_fails_the_run_and_names_the_job_and_its_logs(run):
    workdir = run["workdir"]
    bad = workdir / "results/synth/smollm2-135m/rationale/cs-en.jsonl"
    bad.write_text("this is not JSON\n")  # newer than build_trainset's output: that job reruns and fails
    result = run["snakemake"](*TARGETS, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-3000:]
    assert "Error in rule build_trainset" in out, out[-5000:]
    assert "results/logs/build_trainset/smollm2-135m/radis.log" in out
    assert re.search(r"SLURM-job '\d+' failed", out), out[-5000:]
    assert ".snakemake/slurm_logs/rule_build_trainset/" in out
    assert "cs-en.jsonl" in (workdir / "results/logs/build_trainset/smollm2-135m/radis.log").read_text()
