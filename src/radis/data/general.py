"""The general-ability evaluation sets (paper §4.1): MT-Bench, AlpacaEval, AdvBench, GSM8K.

They are fetched once into ``results/data/general`` in their upstream repositories' file layout,
either by download from pinned commits (checked against sha256 sums) or by copying a mirror
directory in the same layout (the embedded default ships small subsets in
``workflow/resources/demo``; ``../shared/data`` holds full real copies). Every evaluation then
reads local files only, so compute nodes need no internet.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from radis.io import InputError, atomic_path


@dataclass(frozen=True)
class EvalFile:
    path: str  # relative path in the local layout
    url: str  # upstream file at a pinned commit
    sha256: str


_FASTCHAT = "https://raw.githubusercontent.com/lm-sys/FastChat/0e6d3e4beaab66f4d3f93db72541a4abab8af28d/fastchat/llm_judge/data"
_ALPACA = "https://raw.githubusercontent.com/tatsu-lab/alpaca_eval/cd543a149df89434d8a54582c0151c0b945c3d20/results"
_ADVBENCH = "https://raw.githubusercontent.com/llm-attacks/llm-attacks/098262edf85f807224e70ecd87b9d83716bf6b73/data/advbench"
_GSM8K = "https://raw.githubusercontent.com/openai/grade-school-math/3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data"

FILES: dict[str, tuple[EvalFile, ...]] = {
    "mtbench": (
        EvalFile("mt_bench/question.jsonl", f"{_FASTCHAT}/mt_bench/question.jsonl",
                 "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7"),
        EvalFile("mt_bench/judge_prompts.jsonl", f"{_FASTCHAT}/judge_prompts.jsonl",
                 "fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6"),
        EvalFile("mt_bench/reference_answer/gpt-4.jsonl", f"{_FASTCHAT}/mt_bench/reference_answer/gpt-4.jsonl",
                 "f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f"),
    ),
    "alpacaeval": (
        EvalFile("alpaca_eval/results/text_davinci_003/model_outputs.json",
                 f"{_ALPACA}/text_davinci_003/model_outputs.json",
                 "af0bc112f08c88bf589bbfe6fc1036806d0a0f6fec9c4d5a4db860f5afe73b4b"),
        EvalFile("alpaca_eval/results/gpt4_1106_preview/model_outputs.json",
                 f"{_ALPACA}/gpt4_1106_preview/model_outputs.json",
                 "83db546b872ddebee8965fd05fa48461ee3c32bc695c62fb57f2d214ff741ec4"),
    ),
    "advbench": (
        EvalFile("advbench/harmful_behaviors.csv", f"{_ADVBENCH}/harmful_behaviors.csv",
                 "6cd1a5c63c07610d7eb67307772ee5606017ee950b5770ab288a2c487489d3e1"),
    ),
    "gsm8k": (
        EvalFile("gsm8k/test.jsonl", f"{_GSM8K}/test.jsonl",
                 "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14"),
        EvalFile("gsm8k/train.jsonl", f"{_GSM8K}/train.jsonl",
                 "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465"),
    ),
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(benchmark: str, out_dir: Path, source: str, mirror: Path | None = None) -> list[Path]:
    """Put the files of one benchmark under ``out_dir`` (same relative layout); returns their paths.

    ``download`` verifies each file's sha256 against the pinned upstream file; ``mirror`` copies
    (subsets are allowed there, so nothing is checked beyond existence).
    """
    written = []
    for f in FILES[benchmark]:
        target = out_dir / f.path
        with atomic_path(target) as tmp:
            if source == "download":
                with urllib.request.urlopen(f.url, timeout=120) as response, open(tmp, "wb") as out:
                    shutil.copyfileobj(response, out)
                if sha256(tmp) != f.sha256:
                    raise InputError(f"{f.url}: sha256 {sha256(tmp)} differs from the pinned {f.sha256}")
            else:
                src = Path(mirror) / f.path
                if not src.is_file():
                    raise InputError(f"{src}: file not found (general.data.mirror must have {f.path})")
                shutil.copyfile(src, tmp)
        written.append(target)
    return written
