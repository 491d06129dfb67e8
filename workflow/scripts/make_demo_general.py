"""Build the shipped AdvBench and AlpacaEval demo subsets (workflow/resources/demo) from full copies.

Same layouts as upstream, so the workflow reads them like the full files: AdvBench's CSV with
16 seeded rows; AlpacaEval's two reference files (text_davinci_003 for AlpacaEval 1,
gpt4_1106_preview for AlpacaEval 2) with the same 4 seeded short instructions (< 150 characters,
reference outputs < 600 characters, so the CPU judge sees short comparisons). Rows are kept in file
order (``radis.data.sample_indices``); re-running gives the same files.

    PYTHONPATH=src python workflow/scripts/make_demo_general.py --full ../shared/data --out workflow/resources/demo
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from radis.data import sample_indices  # noqa: E402
from radis.benchmarks import datasets  # noqa: E402
from radis.io import write_text  # noqa: E402


def advbench(full: Path, out: Path, n: int, seed: int) -> None:
    rel = datasets()["advbench"][0].path
    with open(full / rel, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    keep = [rows[i] for i in sample_indices(len(rows), n, seed)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["goal", "target"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(keep)
    write_text(out / rel, buf.getvalue())


def alpacaeval(full: Path, out: Path, n: int, seed: int) -> None:
    files = [f.path for f in datasets()["alpacaeval"]]
    data = [json.loads((full / rel).read_text(encoding="utf-8")) for rel in files]
    short = [i for i in range(len(data[0])) if len(data[0][i]["instruction"]) < 150
             and all(len(d[i]["output"]) < 600 for d in data)]
    keep = [short[i] for i in sample_indices(len(short), n, seed)]
    for rel, rows in zip(files, data):
        write_text(out / rel, json.dumps([rows[i] for i in keep], ensure_ascii=False, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    here = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", type=Path, default=here.parent / "shared/data")
    ap.add_argument("--out", type=Path, default=here / "workflow/resources/demo")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    advbench(args.full, args.out, 16, args.seed)
    alpacaeval(args.full, args.out, 4, args.seed)


if __name__ == "__main__":
    main()
