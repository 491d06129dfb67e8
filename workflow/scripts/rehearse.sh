#!/usr/bin/env bash
# Rehearse the paper run on CPU (README: "Rehearsing the paper config"):
#   bash workflow/scripts/rehearse.sh [snakemake arguments, e.g. --profile profiles/slurm]
#
# 1. builds the local hub: every hub id and pinned revision of config/paper.yaml as a tiny random
#    model with the real tokenizer and chat template (workflow/scripts/local_hub.py; cached);
# 2. locks the paper config's `main` revisions to the local hub's commits (radis lock);
# 3. runs the whole DAG of config/paper.yaml + config/rehearsal.yaml (sizes, CPU, a served stand-in
#    for the OpenAI judges) offline against it, in RADIS_REHEARSAL_DIR (default results/rehearsal),
#    so the default run's results/ is left alone. Tables land in $RADIS_REHEARSAL_DIR/results/tables.
#    RADIS_REHEARSAL_CONFIG="a.yaml ..." adds overlays after those two (e.g. the test's smaller grid).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKDIR="${RADIS_REHEARSAL_DIR:-results/rehearsal}"
HUB="${RADIS_LOCAL_HUB:-${RADIS_LOCAL_HUB_CACHE:-$HOME/.cache/radis/local-hub}/hub}"
PROFILE=(--profile profiles/local)
for arg in "$@"; do [[ "$arg" == --profile* ]] && PROFILE=(); done

.venv/bin/python workflow/scripts/local_hub.py --configfile config/paper.yaml --out "$HUB"
mkdir -p "$WORKDIR"
export HF_HUB_OFFLINE=1 HF_HUB_CACHE="$HUB"
# lock the `main` revisions to the commits the local hub's refs name, as `radis lock` does on a login
# node before a paper run (radis.hublock); without the locks the run would stop before its first job
.venv/bin/python -m radis lock --directory "$WORKDIR" \
    --configfile config/paper.yaml config/rehearsal.yaml ${RADIS_REHEARSAL_CONFIG:-}
exec .venv/bin/snakemake "${PROFILE[@]}" --snakefile "$PWD/Snakefile" --directory "$WORKDIR" all "$@" \
    --configfile config/paper.yaml config/rehearsal.yaml ${RADIS_REHEARSAL_CONFIG:-}
