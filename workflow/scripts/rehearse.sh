#!/usr/bin/env bash
# Rehearse the paper run on CPU (README: "Rehearsing the paper config"):
#   bash workflow/scripts/rehearse.sh [snakemake arguments, e.g. --profile profiles/slurm]
#
# 1. builds the local hub: every hub id and pinned revision of config/paper.yaml as a tiny random
#    model with the real tokenizer and chat template (workflow/scripts/local_hub.py; cached);
# 2. runs the whole DAG of config/paper.yaml + config/rehearsal.yaml (sizes, CPU, a served stand-in
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
exec .venv/bin/snakemake "${PROFILE[@]}" --snakefile "$PWD/Snakefile" --directory "$WORKDIR" all "$@" \
    --configfile config/paper.yaml config/rehearsal.yaml ${RADIS_REHEARSAL_CONFIG:-}
