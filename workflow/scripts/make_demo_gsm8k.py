"""Build the shipped GSM8K demo subset (workflow/resources/demo/gsm8k) from a full copy.

A few short real problems per file, so the default (CPU) run's 5-shot prompts stay small: the
evaluated problems (test) and the few-shot exemplar pool (train). Lines are copied byte for byte;
re-running gives the same bytes (tests/test_gsm8k.py regenerates the shipped files and compares them).

    PYTHONPATH=src python workflow/scripts/make_demo_gsm8k.py --src ../shared/data/gsm8k \
        --out workflow/resources/demo/gsm8k
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from radis.data import seeded_rng  # noqa: E402
from radis.io import atomic_path  # noqa: E402

#: problems kept per file: the evaluated ones (test) and the few-shot pool lm-eval draws 5 from (train)
SPLITS = {"test": 8, "train": 16}


def subset_gsm8k(
    src: Path,
    dst: Path,
    n: int,
    seed: int,
    *,
    max_question_chars: int = 200,
    max_answer_chars: int = 250,
) -> list[int]:
    """Copy ``n`` seeded short problems of ``src`` (GSM8K JSON Lines) to ``dst``; return their
    0-based line indices in ``src``.

    Short: question at most ``max_question_chars`` and answer at most ``max_answer_chars``
    characters. The sample is ``seeded_rng(seed).sample`` over the indices of the short
    problems, kept in file order; lines are copied byte for byte, so the output is deterministic.
    """
    lines = Path(src).read_bytes().splitlines(keepends=True)
    short = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        rec = json.loads(line)
        if len(rec["question"]) <= max_question_chars and len(rec["answer"]) <= max_answer_chars:
            short.append(i)
    if len(short) < n:
        raise ValueError(f"{src}: only {len(short)} short problems, {n} requested")
    chosen = sorted(seeded_rng(seed).sample(short, n))
    with atomic_path(dst) as tmp, open(tmp, "wb") as fh:
        for i in chosen:
            line = lines[i]
            fh.write(line if line.endswith(b"\n") else line + b"\n")
    return chosen


def main(argv: list[str] | None = None) -> None:
    here = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=here.parent / "shared/data/gsm8k",
                    help="GSM8K's test.jsonl and train.jsonl (openai/grade-school-math layout)")
    ap.add_argument("--out", type=Path, default=here / "workflow/resources/demo/gsm8k")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-question-chars", type=int, default=200)
    ap.add_argument("--max-answer-chars", type=int, default=250)
    args = ap.parse_args(argv)
    for split, n in SPLITS.items():
        idx = subset_gsm8k(args.src / f"{split}.jsonl", args.out / f"{split}.jsonl", n, args.seed,
                           max_question_chars=args.max_question_chars, max_answer_chars=args.max_answer_chars)
        print(f"wrote {len(idx)} problems to {args.out / f'{split}.jsonl'} (source lines {idx})")


if __name__ == "__main__":
    main()
