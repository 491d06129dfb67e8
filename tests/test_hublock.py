"""Hub revisions pinned or locked on first use (radis.hublock; issue 13, item 10).

A branch revision (``main``) is resolved once and recorded in a lock file beside the results; later
runs fetch exactly that commit, even after the branch moved, and refuse a lock that another commit
would overwrite. A run whose jobs would download an unpinned, unlocked revision stops before its
first job unless the config says ``exploratory: true``. The hub parts run offline against the local
hub (a real Hugging Face cache) with huggingface_hub's own code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from radis.hublock import (
    HubRef,
    backbone_refs,
    commit_for,
    config_refs,
    data_ref,
    lock_path,
    read_lock,
    record_lock,
    refuse_unlocked,
)
from radis.io import InputError

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
A, B = "a" * 40, "b" * 40
ALMA = HubRef("backbones.alma-7b.source.revision", "haoranxu/ALMA-7B", "main")


def test_refs_name_their_config_keys():
    delta = {"source": {"kind": "delta", "base": {"kind": "hub", "id": "huggyllama/llama-7b", "revision": A},
                        "delta": {"kind": "local", "path": "d"}}}
    assert backbone_refs("bayling-7b", delta) == {
        "base": HubRef("backbones.bayling-7b.source.base.revision", "huggyllama/llama-7b", A)}
    hub = {"source": {"kind": "hub", "id": "haoranxu/ALMA-7B", "revision": "main"}}
    assert backbone_refs("alma-7b", hub) == {"source": ALMA} and not ALMA.pinned
    assert backbone_refs("m", {"source": {"kind": "gguf-package", "package": "p", "file": "f"}}) == {}
    data = {"source": "hub", "hub": {"train": {"id": "o/train", "revision": "main"},
                                     "test": {"id": "o/test", "revision": B}}}
    assert data_ref(data, "valid") == HubRef("data.hub.train.revision", "o/train", "main", "dataset")
    assert data_ref(data, "test").pinned and data_ref({**data, "source": "mirror"}, "test") is None


def test_the_paper_config_pins_or_names_every_hub_source():
    from radis.config import load_config
    from radis.settings import REPO_ROOT

    refs = config_refs(load_config(REPO_ROOT / "config/config.yaml", REPO_ROOT / "config/paper.yaml"))
    branches = {r.key for r in refs if not r.pinned}
    assert branches == {"backbones.parrot-7b.source.revision", "backbones.bigtrans-13b.source.revision",
                        "backbones.bayling-7b.source.delta.revision", "backbones.alma-7b.source.revision",
                        "data.hub.train.revision", "data.hub.test.revision"}
    assert all(len(r.revision) == 40 for r in refs if r.key not in branches)
    assert "evaluation.comet_revision" in {r.key for r in refs}  # COMET is pinned too


def test_a_lock_is_written_once_and_a_moved_branch_is_refused(tmp_path):
    path = record_lock(ALMA, A, tmp_path, "test")
    assert path == tmp_path / "models" / "haoranxu--ALMA-7B@main.json" and read_lock(ALMA, tmp_path) == A
    record_lock(ALMA, A, tmp_path, "another job, same commit")
    with pytest.raises(InputError, match=f"resolved to {B}, but .*ALMA-7B@main.json locks it to {A}"):
        record_lock(ALMA, B, tmp_path, "a job after the branch moved")
    assert read_lock(ALMA, tmp_path) == A
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    assert commit_for(ALMA, tmp_path, "test") == A  # locked: no hub asked


def test_a_branch_with_a_slash_and_a_broken_lock(tmp_path):
    pr = HubRef("k", "o/n", "refs/pr/3")
    assert lock_path(pr, tmp_path).name == "o--n@refs%2Fpr%2F3.json"
    lock_path(ALMA, tmp_path).parent.mkdir(parents=True)
    lock_path(ALMA, tmp_path).write_text('{"id": "haoranxu/ALMA-7B", "commit": "main"}')
    with pytest.raises(InputError, match="not a lock of haoranxu/ALMA-7B@main"):
        read_lock(ALMA, tmp_path)


def test_an_unpinned_unlocked_revision_is_an_error_unless_exploratory(tmp_path):
    pinned = HubRef("backbones.x.source.revision", "o/x", A)
    locked = HubRef("backbones.y.source.revision", "o/y", "main")
    record_lock(locked, B, tmp_path, "test")
    refuse_unlocked([pinned, locked], tmp_path, exploratory=False)
    with pytest.raises(InputError) as e:
        refuse_unlocked([pinned, locked, ALMA, ALMA], tmp_path, exploratory=False)
    assert "1 hub revision(s)" in str(e.value) and "backbones.alma-7b.source.revision: haoranxu/ALMA-7B@main" in str(e.value)
    assert "radis lock" in str(e.value) and "exploratory: true" in str(e.value)
    refuse_unlocked([ALMA], tmp_path, exploratory=True)


# --- against a real hub cache, offline ------------------------------------------------------------

@pytest.fixture
def hub(local_hub, tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hub"
    shutil.copytree(local_hub, cache, symlinks=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    return cache


def move_branch(hub: Path, repo: str, commit: str) -> str:
    """Point the cached branch ``main`` at a new commit whose config differs; returns the old commit."""
    folder = hub / ("models--" + repo.replace("/", "--"))
    old = (folder / "refs" / "main").read_text()
    shutil.copytree(folder / "snapshots" / old, folder / "snapshots" / commit, symlinks=False)
    config = folder / "snapshots" / commit / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "radis_test": "moved"}))
    (folder / "refs" / "main").write_text(commit)
    return old


def test_first_use_locks_and_later_runs_fetch_the_locked_commit_after_the_branch_moved(hub, tmp_path):
    from radis.backbones import materialise

    spec = {"source": {"kind": "hub", "id": ALMA.repo_id, "revision": "main"}}
    locks = tmp_path / "locks"
    first = materialise("alma-7b", spec, tmp_path / "first", locks=locks)
    commit = read_lock(ALMA, locks)
    assert first["revision"] == commit and first["branch"] == "main"
    assert json.loads(lock_path(ALMA, locks).read_text())["locked_by"] == "radis materialise --name alma-7b"

    assert move_branch(hub, ALMA.repo_id, B) == commit
    again = materialise("alma-7b", spec, tmp_path / "again", locks=locks)
    assert again["revision"] == commit
    assert "radis_test" not in json.loads((tmp_path / "again" / "config.json").read_text())

    lock_path(ALMA, locks).unlink()  # moving on is deliberate: delete the lock
    moved = materialise("alma-7b", spec, tmp_path / "moved", locks=locks)
    assert moved["revision"] == B == read_lock(ALMA, locks)
    assert json.loads((tmp_path / "moved" / "config.json").read_text())["radis_test"] == "moved"


def test_a_locked_commit_the_hub_does_not_have_is_one_message(hub, tmp_path):
    from radis.backbones import materialise

    locks = tmp_path / "locks"
    record_lock(ALMA, A, locks, "test")
    spec = {"source": {"kind": "hub", "id": ALMA.repo_id, "revision": "main"}}
    with pytest.raises(InputError, match=f"config key '{ALMA.key}': haoranxu/ALMA-7B@{A} cannot be fetched"):
        materialise("alma-7b", spec, tmp_path / "out", locks=locks)
    assert not (tmp_path / "out").exists()


def test_a_hub_dataset_is_read_at_the_commit_its_branch_was_locked_to(hub, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from radis.data.alma import prepare_direction
    from radis.io import sha256_file
    from radis.settings import DataStep

    repo, file = "haoranxu/WMT22-Test", "en-cs/test-00000-of-00001.parquet"
    folder = hub / "datasets--haoranxu--WMT22-Test"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(A)
    parquet = folder / "snapshots" / A / file
    parquet.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"en-cs": {"en": "Hello", "cs": "Ahoj"}}]), parquet)
    settings = {"source": "hub", "mirror": "unused", "hub": {"train": {"id": "haoranxu/ALMA-Human-Parallel", "revision": "main"},
                                         "test": {"id": repo, "revision": "main"}},
                "sha256": {f"{repo}/{file}": sha256_file(parquet)}, "limit": None, "seed": 1}
    locks = tmp_path / "locks"
    prepare_direction("en-cs", "test", str(tmp_path / "en-cs.jsonl"), DataStep.from_step(settings), locks=str(locks))
    assert [json.loads(line)["reference"] for line in (tmp_path / "en-cs.jsonl").open()] == ["Ahoj"]
    ref = HubRef("data.hub.test.revision", repo, "main", "dataset")
    assert lock_path(ref, locks) == locks / "datasets" / "haoranxu--WMT22-Test@main.json"
    assert read_lock(ref, locks) == A


def test_the_comet_model_is_fetched_at_its_locked_commit(hub, tmp_path):
    """The COMET checkpoint that scores Tables 1-2 comes from the hub like the models: at a pinned
    commit, or at the one its branch was locked to on first use."""
    from radis.evaluate.translation import resolve_comet_checkpoint
    from radis.hublock import comet_hub_id, comet_ref

    folder = hub / "models--Unbabel--wmt22-comet-da"
    (commit,) = [p.name for p in (folder / "snapshots").iterdir()]
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    locks = tmp_path / "locks"
    ckpt = resolve_comet_checkpoint("Unbabel/wmt22-comet-da", None, str(locks))
    assert ckpt == folder / "snapshots" / commit / "checkpoints" / "model.ckpt" and ckpt.is_file()
    ref = comet_ref({"comet_model": "Unbabel/wmt22-comet-da"})
    assert ref.key == "evaluation.comet_revision" and read_lock(ref, locks) == commit
    assert comet_hub_id(str(ckpt)) is None and comet_ref({"comet_model": None}) is None


# --- the workflow: stop before the first job, `radis lock`, exploratory ----------------------------

def _snakemake(workdir: Path, hub: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), "results/backbones/alma-7b", "--snakefile", str(REPO / "Snakefile"), "--directory",
           str(workdir), "--cores", "1", *args,
           "--configfile", str(REPO / "config/paper.yaml"), str(REPO / "config/rehearsal.yaml")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.e2e
def test_the_workflow_refuses_an_unlocked_branch_until_it_is_locked_or_exploratory(hub, tmp_path):
    locked_run, exploratory_run = tmp_path / "locked", tmp_path / "exploratory"
    refused = _snakemake(locked_run, hub)
    assert refused.returncode != 0
    assert "backbones.alma-7b.source.revision: haoranxu/ALMA-7B@main" in refused.stderr, refused.stderr[-3000:]
    assert not (locked_run / "results/backbones").exists() and not (locked_run / "results/locks").exists()

    lock = subprocess.run([sys.executable, "-m", "radis", "lock", "--directory", str(locked_run), "--configfile",
                           "config/paper.yaml", "config/rehearsal.yaml"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub)})
    assert lock.returncode == 0, lock.stderr
    locks = locked_run / "results/locks"
    commit = read_lock(ALMA, locks)
    assert f"{ALMA.key}: {ALMA} -> {commit} (locked now" in lock.stdout
    assert sorted(p.name for p in (locks / "models").iterdir()) == [
        "ICTNLP--bayling-7b-diff@main.json", "James-WYang--BigTrans@main.json", "haoranxu--ALMA-7B@main.json",
        "wxjiao--ParroT-7b@main.json"]
    move_branch(hub, ALMA.repo_id, B)  # the hub moves on after the lock: the run keeps the locked commit
    run = _snakemake(locked_run, hub)
    assert run.returncode == 0, run.stderr[-3000:]
    provenance = json.loads((locked_run / "results/backbones/alma-7b/radis_provenance.json").read_text())
    assert provenance["revision"] == commit != B

    explored = _snakemake(exploratory_run, hub, "--config", "exploratory=True")
    assert explored.returncode == 0, explored.stderr[-3000:]
    assert read_lock(ALMA, exploratory_run / "results/locks") == B  # locked on first download
    assert f"haoranxu/ALMA-7B@main locked to {B} on first use" in (
        exploratory_run / "results/logs/materialise_backbone/alma-7b.log").read_text()
