"""Build the shipped demo subset (workflow/resources/demo) from a full ALMA mirror.

The demo lets the default config run on a laptop or CI without the hub: a few short real pairs per
language, in ALMA's own layout so that ``radis.data.alma.read_mirror`` reads it like the full mirror.
Records are copied unchanged (key order and whitespace included); only the selection is ours:
pairs whose both sides are shorter than ``--max-chars`` characters, then a seeded sample of ``--n``
kept in file order (``radis.data.sample_indices``). Re-running with the same arguments gives
the same files.

    PYTHONPATH=src python workflow/scripts/make_demo_data.py \
        --mirror ../shared/data/alma --out workflow/resources/demo
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from radis.data import sample_indices  # noqa: E402
from radis.data.alma import iter_mirror_file, mirror_path, normalise  # noqa: E402
from radis.io import write_json, write_jsonl  # noqa: E402
from radis.languages import Direction  # noqa: E402

LANGS = ("cs", "de", "ru", "zh")


def pick(path: Path, direction: Direction, split: str, n: int, max_chars: int, seed: int) -> list[dict]:
    """Validated raw records of ``path`` with both sides < max_chars, then a seeded sample of n."""
    short = []
    for i, (where, raw) in enumerate(iter_mirror_file(path, split)):
        rec = normalise(raw, direction, split, i, where)
        if len(rec["source"]) < max_chars and len(rec["reference"]) < max_chars:
            short.append(raw)
    if len(short) < n:
        raise SystemExit(f"{path}: only {len(short)} pairs shorter than {max_chars} characters, need {n}")
    return [short[i] for i in sample_indices(len(short), n, seed)]


def main(argv: list[str] | None = None) -> None:
    here = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=here.parent / "shared/data/alma")
    ap.add_argument("--out", type=Path, default=here / "workflow/resources/demo")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--max-chars", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--langs", nargs="+", default=list(LANGS))
    args = ap.parse_args(argv)

    for xx in args.langs:
        to_en, from_en = Direction(xx, "en"), Direction("en", xx)
        jobs = [(to_en, "train"), (to_en, "test"), (from_en, "test")]
        for direction, split in jobs:
            src = mirror_path(args.mirror, direction, split)
            dst = mirror_path(args.out, direction, split)
            records = pick(src, direction, split, args.n, args.max_chars, args.seed)
            if split == "train":
                write_jsonl(dst, records)  # JSON Lines, as upstream
            else:
                write_json(dst, records)  # one JSON array, as upstream
            print(f"{dst}: {len(records)} records from {src}")


if __name__ == "__main__":
    main()
