"""Build the shipped MT-Bench demo subset (workflow/resources/demo/mt_bench) from a FastChat copy.

A few real questions in FastChat's layout, so that the default (offline) run exercises both judge
prompt families: a seeded sample per category, the judge prompts whole, and the GPT-4 reference
answers of the chosen questions that need one. Every line is copied unchanged; re-running gives
the same bytes (tests/test_mtbench.py regenerates the shipped files and compares them).

    PYTHONPATH=src python workflow/scripts/make_demo_mtbench.py --src ../shared/data/mt_bench \
        --out workflow/resources/demo/mt_bench
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from radis.data import seeded_rng  # noqa: E402
from radis.evaluate.mtbench import (  # noqa: E402
    NEED_REF_CATS,
    load_judge_prompts,
    load_questions,
    load_reference_answers,
)
from radis.io import atomic_path, write_text  # noqa: E402


def _raw_lines(path: Path) -> list[str]:
    """The non-blank lines of a JSON Lines file, byte for byte (newline included)."""
    return [line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if line.strip()]


def subset_questions(src: str | Path, dst: str | Path, per_category: int, seed: int,
                     categories: Sequence[str] | None = None) -> list[dict]:
    """Write ``per_category`` questions of each category (all categories, or ``categories``) to ``dst``.

    Per category, in file order: ``seeded_rng(seed, category).sample`` of its questions,
    kept in file order; each line is copied unchanged. Returns the chosen questions.
    """
    src, dst = Path(src), Path(dst)
    questions = load_questions(src)
    lines = _raw_lines(src)
    assert len(lines) == len(questions)
    by_cat: dict[str, list[int]] = {}
    for i, q in enumerate(questions):
        by_cat.setdefault(q["category"], []).append(i)
    wanted = list(categories) if categories is not None else list(by_cat)
    keep: list[int] = []
    for cat in wanted:
        pool = by_cat.get(cat, [])
        if len(pool) < per_category:
            raise ValueError(f"{src}: category {cat!r} has {len(pool)} questions, {per_category} wanted")
        keep += seeded_rng(seed, cat).sample(pool, per_category)
    keep.sort()
    write_text(dst, "".join(lines[i] for i in keep))
    return [questions[i] for i in keep]


def subset_reference_answers(src: str | Path, dst: str | Path, question_ids: Sequence[int]) -> int:
    """Copy the reference-answer lines of ``question_ids`` unchanged, in file order; returns the count."""
    src, dst = Path(src), Path(dst)
    refs = load_reference_answers(src)
    missing = [q for q in question_ids if q not in refs]
    if missing:
        raise ValueError(f"{src}: no reference answer for question(s) {missing}")
    lines = _raw_lines(src)
    wanted = set(question_ids)
    kept = [line for qid, line in zip(refs, lines) if qid in wanted]
    write_text(dst, "".join(kept))
    return len(kept)


DEMO_CATEGORIES = ("writing", "math", "reasoning")


def make_demo(src_dir: str | Path, out_dir: str | Path, per_category: int = 1, seed: int = 0,
              categories: Sequence[str] = DEMO_CATEGORIES) -> list[dict]:
    """The shipped demo subset in FastChat's layout: ``question.jsonl``, ``judge_prompts.jsonl``
    (whole) and ``reference_answer/gpt-4.jsonl`` (the chosen questions that need one)."""
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    chosen = subset_questions(src_dir / "question.jsonl", out_dir / "question.jsonl", per_category, seed,
                              categories)
    load_judge_prompts(src_dir / "judge_prompts.jsonl")  # validate before copying
    with atomic_path(out_dir / "judge_prompts.jsonl") as tmp:
        shutil.copyfile(src_dir / "judge_prompts.jsonl", tmp)
    need_ref = [q["question_id"] for q in chosen if q["category"] in NEED_REF_CATS]
    subset_reference_answers(src_dir / "reference_answer" / "gpt-4.jsonl",
                             out_dir / "reference_answer" / "gpt-4.jsonl", need_ref)
    return chosen


def main(argv: list[str] | None = None) -> None:
    root = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=root.parent / "shared/data/mt_bench",
                    help="FastChat's fastchat/llm_judge/data/mt_bench layout, with judge_prompts.jsonl "
                         "beside question.jsonl")
    ap.add_argument("--out", type=Path, default=root / "workflow/resources/demo/mt_bench")
    ap.add_argument("--per-category", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--categories", nargs="+", default=list(DEMO_CATEGORIES))
    args = ap.parse_args(argv)
    chosen = make_demo(args.src, args.out, args.per_category, args.seed, args.categories)
    for q in chosen:
        print(f"{q['question_id']}\t{q['category']}", file=sys.stderr)


if __name__ == "__main__":
    main()
