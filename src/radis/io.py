"""Reading and writing result files: atomic writes and line-precise errors.

Every output goes through a temporary file in the same directory and ``os.replace`` so that a
killed job never leaves a half-written file that looks finished. A temporary is named
``.{name}.{random}.tmp`` after its target, so the next writer of that target can tell a temporary
that a killed job left (SIGKILL runs no cleanup) from anything else and remove it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Bad input: the message names the file (and line) so the user can fix it."""


#: when this process started (radis.io is imported first thing by every radis command): a
#: temporary last touched before that cannot belong to a write this process is making
_STARTED = time.time()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep_temporaries(path: str | os.PathLike, before: float | None = None) -> list[Path]:
    """Remove the temporaries of ``path`` that a killed writer left (a 13 GB merge, a model
    download): those named ``.{name}.*.tmp`` and last modified before ``before`` (default: when
    this process started). Snakemake runs one job per output at a time, so an older temporary of
    the same target is no live write's; the age bound keeps a concurrent writer of a shared file
    (a judge cache entry, written in microseconds) safe. Returns what was removed."""
    path = Path(path)
    before = _STARTED if before is None else before
    removed = []
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            try:
                if stale.lstat().st_mtime < before:
                    _remove(stale)
                    removed.append(stale)
            except FileNotFoundError:  # another sweeper was first
                continue
    return removed


def _create_temporary(path: Path) -> Path:
    """An empty new file ``.{name}.{random}.tmp`` beside ``path``, created with mode 0666 less the
    umask like any file a program writes (``mkstemp`` would give 0600, and a research group
    sharing a project folder could not read the results)."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def current_umask() -> int:
    """This process's umask, read from /proc where it is shown (setting it to read it back is not
    thread-safe), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def grant_umask(path: str | os.PathLike) -> None:
    """Give ``path`` and everything under it at least the permissions the umask grants a new file
    (0666 less the umask; directories 0777 less it). safetensors creates its files 0600, whoever
    saves them (``save_pretrained``, peft, the Trainer's checkpoints), so the weights a group shares
    would be its owner's alone; nothing is narrowed, executable bits are kept."""
    mask = current_umask()
    root = Path(path)
    entries = [root, *root.rglob("*")] if root.is_dir() and not root.is_symlink() else [root]
    for entry in entries:
        if entry.is_symlink():
            continue
        mode = entry.stat().st_mode & 0o7777
        wanted = mode | ((0o777 if entry.is_dir() else 0o666) & ~mask)
        if wanted != mode:
            entry.chmod(wanted)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds,
    with the umask's permissions on whatever the block wrote there (:func:`grant_umask`).

    Temporaries of ``path`` that a killed earlier job left are removed first (:func:`sweep_temporaries`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(path)
    tmp = _create_temporary(path)
    try:
        yield Path(tmp)
        grant_umask(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):  # callers may turn the placeholder into a directory (model dirs)
            shutil.rmtree(tmp)
        elif os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory next to ``path`` (a model or adapter directory); it
    replaces ``path``, and whatever was there, only if the block succeeds."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.unlink()
        tmp.mkdir()
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


#: how many earlier stale sets of one path :func:`set_aside` keeps (older ones are removed)
STALE_KEPT = 3


def set_aside(paths: Iterable[str | os.PathLike], home: str | os.PathLike, why: str, keep: int = STALE_KEPT) -> Path | None:
    """Move ``paths`` (checkpoints, synthesis shards: days of GPU time) into a new set under
    ``{home}.stale/`` instead of deleting them when they no longer match the run's key (a changed
    setting, a library that moved a token id, a mistaken overlay): a wrong call can be undone by
    moving them back. The ``keep`` newest sets stay, older ones go. Logs what moved where and
    ``why`` (which fields of the key differ); returns the set's directory (None: nothing to move)."""
    import sys

    paths = [Path(p) for p in paths if os.path.lexists(p)]
    if not paths:
        return None
    stale_root = Path(f"{home}.stale")
    stale_root.mkdir(parents=True, exist_ok=True)
    target = stale_root / time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    while target.exists():
        target = target.with_name(target.name + "-" + secrets.token_hex(2))
    target.mkdir()
    for path in paths:
        os.replace(path, target / path.name)
    write_text(target / "WHY.txt", why + "\n")
    for old in sorted((d for d in stale_root.iterdir() if d.is_dir()), key=lambda d: d.name)[:-keep]:
        shutil.rmtree(old)
    print(f"set aside {len(paths)} stale entr{'y' if len(paths) == 1 else 'ies'} of {home} in {target}: {why}",
          file=sys.stderr, flush=True)
    return target


def key_differences(recorded: Any, current: Any, prefix: str = "") -> list[str]:
    """The dotted names of the fields where two keys (nested dicts) differ."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        return [d for k in sorted(set(recorded) | set(current), key=str)
                for d in key_differences(recorded.get(k), current.get(k), f"{prefix}{k}.")]
    return [] if recorded == current else [prefix.rstrip(".") or "key"]


def write_png(path: str | os.PathLike, fig) -> None:
    """Save a matplotlib figure as PNG atomically and free it (figures are many in one process)."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n")


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, value)`` of each non-blank line of a JSON Lines file; a line that is not
    UTF-8 or not JSON is an :class:`InputError` naming ``file:line``. Values are not checked: the
    caller knows what a record is and says so with the line number."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    with f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"{path}:{lineno}: not UTF-8 ({e.reason})") from None
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{lineno}: malformed JSON ({e.msg})") from None
            yield lineno, value


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read JSON Lines of objects; a bad line is an :class:`InputError` naming ``file:line``."""
    path = Path(path)
    records = []
    for lineno, record in iter_jsonl(path):
        if not isinstance(record, dict):
            raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records


def regroup(flat: list, batches: list[list]) -> list[list]:
    """Cut a flat list of results back into the per-direction batches it was made from."""
    groups, start = [], 0
    for batch in batches:
        groups.append(flat[start:start + len(batch)])
        start += len(batch)
    return groups


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (pinned data files, weights of gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_keys(path: str | Path, records: list[dict], keys: Iterable[str]) -> list[dict]:
    """``records`` (read from ``path``) if each has ``keys``; else the first record without one, by line."""
    for line, record in enumerate(records, 1):
        missing = [k for k in keys if k not in record]
        if missing:
            raise InputError(f"{path}:{line}: record has no {', '.join(map(repr, missing))}")
    return records


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now: for a server that cannot bind port 0 and report it (vLLM),
    and for the rendezvous of one training job's processes (radis.launch)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
