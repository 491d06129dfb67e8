"""Every result names the workflow that made it: version and git commit (radis.provenance)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tomllib

from radis.provenance import provenance, workflow_version

REPO = Path(__file__).resolve().parents[1]


def test_a_result_names_the_workflow_version_and_commit():
    record = provenance(kind="x")
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert record["workflow"]["version"] == version
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert record["workflow"]["commit"] == head.stdout.strip()
    assert isinstance(record["workflow"]["dirty"], bool)


def test_outside_a_checkout_the_commit_is_none(tmp_path, monkeypatch):
    import radis.provenance as prov

    monkeypatch.setattr(prov, "__file__", str(tmp_path / "src" / "radis" / "provenance.py"))
    workflow_version.cache_clear()
    try:
        assert prov.workflow_version()["commit"] is None
    finally:
        workflow_version.cache_clear()
