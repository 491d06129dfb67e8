"""Downloads happen where the network is (issue 26 item 8): every hub file a run needs is fetched by
a local rule (where Snakemake runs: the login node) into one hub cache that the config or the
environment names, and the jobs on compute nodes read it offline. COMET's own loading from that
cache is tested in its environment (tests/comet_env/test_comet_offline.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

#: the rules of the workflow Snakemake runs where it runs itself (`localrules`), by the Snakemake API
LOCAL_RULES = """
import sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings
snakefile, workdir, *configfiles = sys.argv[1:]
with SnakemakeApi(OutputSettings()) as api:
    workflow = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path(snakefile),
                            config_settings=ConfigSettings(configfiles=[Path(c) for c in configfiles]),
                            workdir=Path(workdir))._workflow
    print("LOCAL", *sorted(workflow._localrules))
"""


def planned(output: str) -> list[dict]:
    """Each job of a ``-n -p`` dry run: rule, inputs, outputs, shell command."""
    jobs = []
    for block in re.split(r"\n(?=(?:localrule|rule) \w+:\n)", output):
        if head := re.match(r"(?:localrule|rule) (\w+):\n", block):
            field = {k: re.search(rf"^\s+{k}: (.*)$", block, re.M) for k in ("input", "output")}
            command = re.search(r"^Shell command: (.*)$", block, re.M)
            jobs.append({"rule": head[1], **{k: m[1].split(", ") if m else [] for k, m in field.items()},
                         "command": command[1] if command else ""})
    return jobs


def test_comet_is_fetched_by_a_local_rule_and_scored_offline_from_the_configured_cache(tmp_path):
    """The paper config's DAG: one download_comet job, a local rule, whose output every
    score_translation job waits for; the score jobs (compute nodes) run with HF_HUB_OFFLINE=1; every
    job that touches the hub uses the cache the config names (`hub_cache`), not one under $HOME."""
    cache = tmp_path / "project" / "hf-hub"
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump({"hub_cache": str(cache)}))
    configs = [str(REPO / "config/paper.yaml"), str(tmp_path / "hub.yaml")]
    run = subprocess.run([str(SNAKEMAKE), "all", "--snakefile", str(REPO / "Snakefile"), "--directory",
                          str(tmp_path), "-n", "-p", "--cores", "1", "--configfile", *configs],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = planned(run.stdout)
    downloads = [j for j in jobs if j["rule"] == "download_comet"]
    scores = [j for j in jobs if j["rule"] == "score_translation"]
    assert len(downloads) == 1 and len(scores) == 16
    assert all(downloads[0]["output"][0] in j["input"] for j in scores)

    local = subprocess.run([sys.executable, "-c", LOCAL_RULES, str(REPO / "Snakefile"), str(tmp_path),
                            *configs], capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr[-3000:]
    local_rules = set(re.search(r"^LOCAL (.*)$", local.stdout, re.M)[1].split())
    assert {"download_comet", "materialise_backbone", "prepare_data"} <= local_rules
    assert "score_translation" not in local_rules

    # the download has the network; the score jobs have the cache alone; both the same cache
    command = downloads[0]["command"]
    assert f"HF_HUB_CACHE={cache} " in command and "HF_HUB_OFFLINE" not in command
    assert '"comet_encoder": {"id": "FacebookAI/xlm-roberta-large", "revision": "c23d21b' in command
    assert all(j["command"].startswith(f"HF_HUB_OFFLINE=1 HF_HUB_CACHE={cache} ") for j in scores)
    for job in jobs:
        if job["rule"] in ("materialise_backbone", "prepare_data"):
            assert f"HF_HUB_CACHE={cache} " in job["command"], job


def test_the_hub_cache_is_the_configs_else_the_environments_else_project_storage(tmp_path):
    from radis.hublock import hub_cache

    repo, workdir = tmp_path / "repo", tmp_path / "run"
    assert hub_cache("/proj/hf", repo, workdir, {"HF_HUB_CACHE": "/env/hub"}) == "/proj/hf"
    assert hub_cache("../shared/hf-hub", repo, workdir, {}) == str(repo / "../shared/hf-hub")
    assert hub_cache(None, repo, workdir, {"HF_HUB_CACHE": "/env/hub", "HF_HOME": "/env/home"}) == "/env/hub"
    assert hub_cache(None, repo, workdir, {"HF_HOME": "/env/home"}) == "/env/home/hub"
    # neither: beside the results, not huggingface_hub's default under $HOME
    assert hub_cache(None, repo, workdir, {"HOME": "/home/u"}) == str(workdir.resolve() / "results/hub-cache")


def test_a_local_checkpoint_naming_its_own_encoder_needs_no_encoder_pin(tmp_path):
    """A local COMET checkpoint whose hparams name a local encoder directory (the tests' tiny COMET)
    has no hub encoder to pin: the run's gate does not ask for evaluation.comet_encoder's lock and
    the download job records that directory. One naming a hub id is gated like every hub source."""
    import json

    from radis.hublock import comet_encoder_ref

    root = tmp_path / "comet"
    (root / "checkpoints").mkdir(parents=True)
    (root / "checkpoints" / "model.ckpt").write_bytes(b"")
    (root / "encoder").mkdir()
    (root / "hparams.yaml").write_text(yaml.safe_dump({"pretrained_model": str(root / "encoder")}))
    evaluation = {"comet_model": str(root / "checkpoints" / "model.ckpt"),
                  "comet_encoder": {"id": "FacebookAI/xlm-roberta-large", "revision": "main"}}
    assert comet_encoder_ref(evaluation) is None
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"evaluation": {"comet_model": evaluation["comet_model"]}}))
    run = subprocess.run([str(SNAKEMAKE), "results/comet/download.json", "--snakefile",
                          str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1",
                          "--configfile", str(overlay)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    download = json.loads((tmp_path / "results/comet/download.json").read_text())
    assert download["encoder"] == str(root / "encoder")

    (root / "hparams.yaml").write_text(yaml.safe_dump({"pretrained_model": "xlm-roberta-large"}))
    ref = comet_encoder_ref(evaluation)
    assert (ref.key, ref.repo_id, ref.revision) == ("evaluation.comet_encoder.revision",
                                                    "FacebookAI/xlm-roberta-large", "main")
