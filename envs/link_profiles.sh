#!/usr/bin/env bash
# Make `snakemake --profile local` and `snakemake --profile slurm` find this repository's profiles.
#
# Snakemake 9 resolves a profile *name* only in the current directory (./NAME, not ./profiles/NAME),
# in the user's config directory (${XDG_CONFIG_HOME:-~/.config}/snakemake/NAME) and in
# /etc/xdg/snakemake/NAME; a path (--profile profiles/slurm) works from anywhere. This links
# profiles/local and profiles/slurm of this checkout into the user's directory. Run by
# envs/setup.sh; safe to rerun. A link that points elsewhere (another checkout) is replaced, with
# a note; a real directory of that name is left alone, with a warning.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
target_dir="${XDG_CONFIG_HOME:-$HOME/.config}/snakemake"
mkdir -p "$target_dir"
for name in local slurm; do
    src="$repo/profiles/$name"
    dest="$target_dir/$name"
    if [[ -L "$dest" ]]; then
        current=$(readlink "$dest")
        [[ "$current" == "$src" ]] && { echo "profile $name: $dest -> $src (already)"; continue; }
        echo "profile $name: $dest pointed to $current; now -> $src"
        ln -sfn "$src" "$dest"
    elif [[ -e "$dest" ]]; then
        echo "warning: profile $name: $dest exists and is not a link; left alone" \
             "(use --profile $src, or remove it and rerun $0)" >&2
    else
        ln -s "$src" "$dest"
        echo "profile $name: $dest -> $src"
    fi
done
