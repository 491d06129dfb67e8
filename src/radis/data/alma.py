"""ALMA's human-written parallel data (train/valid) and the WMT'22 test sets, from a mirror or the hub.

The paper trains on ALMA's human-written data and tests on WMT'22, so both come from the same two
places: a directory in the layout of ALMA's GitHub repo (``human_written_data/``; the shared mirror
and the shipped demo subset use it) or the HF hub datasets. Every reader returns the same normalised
record, so later stages never learn where the data came from::

    {"id": "train-cs-en-00000", "src_lang": "cs", "tgt_lang": "en", "source": ..., "reference": ...}

Layout, exactly as ALMA's ``utils.load_mmt_dataset`` reads it (``xx`` is the non-English side):

* ``{xx}en/train.{xx}-en.json``  JSON Lines; one file feeds both directions (xx→en and en→xx);
* ``{xx}en/valid.{xx}-en.json``  JSON array; one file feeds both directions;
* ``{xx}en/test.{src}-{tgt}.json`` JSON array; one file per direction (WMT'22 general test).

Bad input raises :class:`radis.io.InputError` naming the file and the line (JSON Lines) or the
0-based array index ("record N", the same N as in the record's id).

Integrity: the config pins the sha256 of every data file (``data.sha256``), keyed by its path
relative to the mirror, or ``{dataset id}/{path in the dataset repo}`` for hub files. A file is
checked before it is parsed; a changed file, or a mirror file the pins do not list, is refused
with the file, the expected and the actual sum. Hub datasets with no pinned file are read through
``datasets`` at the pinned revision, unverified (the caller says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from radis.data import subset
from radis.io import InputError, iter_jsonl, read_json, sha256_file, write_jsonl
from radis.languages import Direction, parse_direction
from radis.layout import LOCKS
from radis.settings import DataStep

SPLITS = ("train", "valid", "test")
#: Our split names → the hub's split names.
HUB_SPLITS = {"train": "train", "valid": "validation", "test": "test"}
HUB_TRAIN_DATASET = "haoranxu/ALMA-Human-Parallel"
HUB_TEST_DATASET = "haoranxu/WMT22-Test"


def mirror_path(root: Path, direction: Direction, split: str) -> Path:
    """Where ALMA keeps ``split`` for ``direction``: train/valid are per pair, test per direction."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    xx = direction.pair.split("-")[0]
    name = f"{split}.{direction}.json" if split == "test" else f"{split}.{direction.pair}.json"
    return Path(root) / "human_written_data" / f"{xx}en" / name


def iter_mirror_file(path: Path, split: str) -> Iterator[tuple[str, Any]]:
    """Yield ``(where, raw record)`` from one mirror file; ``where`` is ``file:line`` or ``file: record N``.

    Train files are JSON Lines despite the ``.json`` suffix; valid/test files are one JSON array.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found (expected ALMA layout human_written_data/<xx>en/...)")
    if split != "train":
        data = read_json(path)
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON array of records, got {type(data).__name__}")
        for i, raw in enumerate(data):
            yield f"{path}: record {i}", raw
        return
    for lineno, raw in iter_jsonl(path):
        yield f"{path}:{lineno}", raw


def normalise(raw: Any, direction: Direction, split: str, index: int, where: str,
              column: str = "translation") -> dict:
    """One raw ``{column: {lang: text}}`` object → the normalised record; ``where`` goes in errors."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    pair = raw.get(column)
    if not isinstance(pair, dict):
        raise InputError(f"{where}: missing object {column!r} (keys: {', '.join(map(str, raw)) or 'none'})")
    texts = {}
    for lang in (direction.src, direction.tgt):
        text = pair.get(lang)
        if not isinstance(text, str):
            problem = "missing" if lang not in pair else f"not a string ({type(text).__name__})"
            raise InputError(f"{where}: {column}[{lang!r}] {problem}")
        if not text.strip():
            raise InputError(f"{where}: {column}[{lang!r}] is empty")
        texts[lang] = text.strip()
    return {
        "id": f"{split}-{direction.src}-{direction.tgt}-{index:05d}",
        "src_lang": direction.src,
        "tgt_lang": direction.tgt,
        "source": texts[direction.src],
        "reference": texts[direction.tgt],
    }


def verify_sha256(path: Path, key: str, sums: Mapping[str, str]) -> None:
    """Refuse ``path`` unless its sha256 is ``sums[key]`` (the config's ``data.sha256``)."""
    actual = sha256_file(path)
    expected = sums.get(key)
    if expected is None:
        raise InputError(f"{path}: no sha256 pinned for {key!r} in data.sha256 (its sum is {actual}); "
                         f"check the file, then add '{key}: {actual}'")
    if actual != expected:
        raise InputError(f"{path}: sha256 mismatch for {key!r}: expected {expected} (data.sha256), "
                         f"actual {actual}; the file changed, or the pinned sum is stale")


def read_mirror(root: Path, direction: Direction, split: str,
                sha256: Mapping[str, str] | None = None) -> list[dict]:
    """Read ``split`` for ``direction`` from a directory in ALMA's GitHub layout (see module doc).

    With ``sha256`` (path relative to ``root`` → sum) the file is verified before it is parsed.
    """
    path = mirror_path(root, direction, split)
    if sha256 is not None and path.is_file():
        verify_sha256(path, path.relative_to(root).as_posix(), sha256)
    return [normalise(raw, direction, split, i, where)
            for i, (where, raw) in enumerate(iter_mirror_file(path, split))]


def hub_config(direction: Direction, split: str) -> tuple[str, str]:
    """(config name, column) on the hub: ALMA-Human-Parallel is per pair with column ``translation``;
    WMT22-Test is per direction and names its column after the direction (``record["en-cs"]``)."""
    if split == "test":
        return str(direction), str(direction)
    return direction.pair, "translation"


def normalise_hub_rows(rows: Iterable[Any], direction: Direction, split: str, source: str) -> list[dict]:
    """Normalise hub rows (pure, so it is tested without the hub); ``source`` names the dataset in errors."""
    _, column = hub_config(direction, split)
    return [normalise(raw, direction, split, i, f"{source}: record {i}", column=column)
            for i, raw in enumerate(rows)]


#: file formats of hub data files, by suffix, as ``datasets.load_dataset`` names them
HUB_FORMATS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv"}


def pinned_hub_files(sums: Mapping[str, str], dataset_id: str, config: str, hub_split: str) -> list[str]:
    """Paths (in the dataset repo) of the pinned files of one config and split, in the hub's two
    layouts: ``{config}/{split}-00000-of-00001-....parquet`` and ``{config}/{split}/0000.parquet``."""
    prefix = f"{dataset_id}/{config}/"
    files = []
    for key in sums:
        rest = key[len(prefix):] if key.startswith(prefix) else None
        if rest and (rest.split("/")[0] == hub_split if "/" in rest
                     else rest.startswith((f"{hub_split}-", f"{hub_split}."))):
            files.append(key[len(dataset_id) + 1:])
    return sorted(files)


def read_hub(direction: Direction, split: str, dataset_id: str | None = None,
             revision: str | None = None, sha256: Mapping[str, str] | None = None) -> list[dict]:
    """Load ``split`` from the hub (needs network or a warm HF cache); train/valid come from
    ALMA-Human-Parallel and test from WMT22-Test unless ``dataset_id`` names a copy of the same shape.
    Pin ``revision`` so that a re-run reads the same rows.

    When ``sha256`` pins files of the dataset (keys ``{dataset_id}/{path}``), exactly those files
    of this config and split are downloaded, verified, and read; otherwise ``datasets`` resolves
    the files itself, unverified."""
    import datasets  # heavy; only this path needs it

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    dataset_id = dataset_id or (HUB_TEST_DATASET if split == "test" else HUB_TRAIN_DATASET)
    config, _ = hub_config(direction, split)
    where = f"{dataset_id}@{revision or 'default'} [{config}/{HUB_SPLITS[split]}]"
    if sha256 and any(key.startswith(f"{dataset_id}/") for key in sha256):
        files = pinned_hub_files(sha256, dataset_id, config, HUB_SPLITS[split])
        if not files:
            raise InputError(f"{where}: data.sha256 pins files of {dataset_id} but none of "
                             f"{config}/{HUB_SPLITS[split]} "
                             f"(expected keys like '{dataset_id}/{config}/{HUB_SPLITS[split]}-....parquet')")
        formats = {HUB_FORMATS.get(Path(f).suffix) for f in files}
        if len(formats) != 1 or None in formats:
            raise InputError(f"{where}: pinned files {files} must share one format of {sorted(HUB_FORMATS)}")
        from huggingface_hub import hf_hub_download

        local = []
        for f in files:
            path = Path(hf_hub_download(dataset_id, f, repo_type="dataset", revision=revision))
            verify_sha256(path, f"{dataset_id}/{f}", sha256)
            local.append(str(path))
        rows = datasets.load_dataset(formats.pop(), data_files=local, split="train")
    else:
        rows = datasets.load_dataset(dataset_id, config, split=HUB_SPLITS[split], revision=revision)
    return normalise_hub_rows(rows, direction, split, where)


def prepare(records: list[dict], limit: int | None, seed: int) -> list[dict]:
    """A deterministic subset: the same (records, limit, seed) always picks the same rows, in file order."""
    return subset(records, limit, seed)


def write_direction(path: Path, records: Iterable[dict]) -> int:
    """Write one direction's records as JSON Lines (atomically); returns the count."""
    return write_jsonl(path, records)


def prepare_direction(direction: str, split: str, out: str, settings: DataStep, locks: str = LOCKS) -> None:
    """``radis prepare-data``: one direction's records, from the mirror or the hub dataset at its
    pinned or locked commit (radis.hublock; ``locks`` is the run's results/locks), checked against
    ``data.sha256`` where it pins the file, subset and written as JSONL."""
    import sys

    from radis.hublock import commit_for, data_ref

    direction_ = parse_direction(direction)
    sums = dict(settings.sha256)
    if settings.source == "mirror":
        if not sums:
            print("warning: data.sha256 is empty: the mirror's files are not verified", file=sys.stderr)
        records = read_mirror(Path(settings.mirror), direction_, split, sha256=sums or None)
    else:
        ref = data_ref({"source": settings.source, "hub": settings.hub}, split)
        commit = commit_for(ref, Path(locks), f"radis prepare-data --split {split} --direction {direction}")
        if not any(key.startswith(f"{ref.repo_id}/") for key in sums):
            print(f"warning: data.sha256 pins no file of {ref.repo_id}: read at commit {commit}, "
                  "its files unverified", file=sys.stderr)
        records = read_hub(direction_, split, ref.repo_id, commit, sha256=sums)
    records = prepare(records, settings.limit, settings.seed)
    write_direction(Path(out), records)
    print(f"{out}: {len(records)} records")
