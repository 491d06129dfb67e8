"""Language codes, their English names (as the paper's instructions spell them) and directions.

One table for the whole project so a new language is one entry here, not an edit spread over files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LANGUAGES: dict[str, str] = {
    "en": "English",
    "cs": "Czech",
    "de": "German",
    "ru": "Russian",
    "zh": "Chinese",
    "is": "Icelandic",
    "ja": "Japanese",
    "uk": "Ukrainian",
    "ha": "Hausa",
    "fr": "French",
}


def language_name(code: str) -> str:
    try:
        return LANGUAGES[code]
    except KeyError:
        raise ValueError(f"unknown language {code!r}; known: {', '.join(sorted(LANGUAGES))}") from None


@dataclass(frozen=True, order=True)
class Direction:
    """A translation direction such as cs→en; written ``cs-en`` in file names and config."""

    src: str
    tgt: str

    def __post_init__(self) -> None:
        language_name(self.src)
        language_name(self.tgt)
        if self.src == self.tgt:
            raise ValueError(f"direction {self} translates a language into itself")

    @classmethod
    def parse(cls, text: str) -> "Direction":
        parts = text.split("-")
        if len(parts) != 2:
            raise ValueError(f"direction {text!r} is not of the form src-tgt (e.g. cs-en)")
        return cls(parts[0], parts[1])

    @property
    def pair(self) -> str:
        """ALMA's name for the file that holds both directions, always ``xx-en``."""
        other = self.src if self.tgt == "en" else self.tgt
        return f"{other}-en"

    @property
    def english_target(self) -> bool:
        return self.tgt == "en"

    def __str__(self) -> str:
        return f"{self.src}-{self.tgt}"


def parse_direction(text: str) -> Direction:
    """A direction given by a user (a CLI argument, a file name): a bad one is an input error, which
    the CLI reports in one line, without a traceback."""
    from radis.io import InputError

    try:
        return Direction.parse(text)
    except ValueError as e:
        raise InputError(str(e)) from None


def per_direction(directions: list[str], data_dir: str | Path, out_dir: str | Path, suffix: str) -> list[tuple]:
    """(direction, input path, output path, meta path) of every direction of a multi-direction job:
    ``{data_dir}/{direction}.jsonl`` in, ``{out_dir}/{direction}{suffix}.jsonl`` and ``.meta.json`` out."""
    return [(parse_direction(d), Path(data_dir) / f"{d}.jsonl", Path(out_dir) / f"{d}{suffix}.jsonl",
             Path(out_dir) / f"{d}{suffix}.meta.json") for d in directions]
