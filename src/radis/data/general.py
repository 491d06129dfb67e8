"""The general-ability evaluation sets (paper §4.1): MT-Bench, AlpacaEval, AdvBench, GSM8K.

They are fetched once into ``results/data/general`` in their upstream repositories' file layout,
either by download from pinned commits (checked against sha256 sums) or by copying a mirror
directory in the same layout (the embedded default ships small subsets in
``workflow/resources/demo``; ``../shared/data`` holds full real copies). Every evaluation then
reads local files only, so compute nodes need no internet.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from radis.benchmarks import datasets
from radis.io import InputError, atomic_path, sha256_file
from radis.settings import GeneralDataStep


def fetch(benchmark: str, out_dir: Path, source: str, mirror: Path | None = None) -> list[Path]:
    """Put the files of one benchmark under ``out_dir`` (same relative layout); returns their paths.

    ``download`` verifies each file's sha256 against the pinned upstream file; ``mirror`` copies
    (subsets are allowed there, so nothing is checked beyond existence).
    """
    written = []
    for f in datasets()[benchmark]:
        target = out_dir / f.path
        with atomic_path(target) as tmp:
            if source == "download":
                with urllib.request.urlopen(f.url, timeout=120) as response, open(tmp, "wb") as out:
                    shutil.copyfileobj(response, out)
                if sha256_file(tmp) != f.sha256:
                    raise InputError(f"{f.url}: sha256 {sha256_file(tmp)} differs from the pinned {f.sha256}")
            else:
                src = Path(mirror) / f.path
                if not src.is_file():
                    raise InputError(f"{src}: file not found (general.data.mirror must have {f.path})")
                shutil.copyfile(src, tmp)
        written.append(target)
    return written


def fetch_dataset(dataset: str, out_dir: str, settings: GeneralDataStep) -> None:
    """``radis fetch-general``: one data set's files, downloaded (``general.data.source``) or from the mirror."""
    for path in fetch(dataset, Path(out_dir), settings.source, settings.mirror):
        print(path)
