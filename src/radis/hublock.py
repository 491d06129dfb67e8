"""Hub revisions: pinned in the config, or locked on first use, like a package lock.

A branch such as ``main`` moves. A paper run that reads a hub model or dataset at ``main`` today
and again next month can read other weights or rows, with nothing in the results to say so. So
every hub source is fetched at a commit:

* the commit the config pins (40 hex digits), or
* the commit its lock file records. The lock is written the first time the branch is resolved
  (``radis lock``, or the first download of an exploratory run), one file per source under
  ``results/locks/`` (:data:`radis.layout.LOCKS`), so that parallel jobs never rewrite one shared
  file. Later runs fetch exactly that commit, and a hub that answers with another is refused.
  Moving to a newer commit is a deliberate act: delete the lock file, or pin the commit.

A run whose jobs would resolve an unlocked branch stops before its first job (the workflow's
``onstart``) unless the config says ``exploratory: true``. The locks live beside the results, not
in the jobs' settings, so adding or reading one never changes a step's params: finished steps stay
finished.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from radis.io import InputError, write_json

COMMIT = re.compile(r"[0-9a-f]{40}")


def is_commit(revision: str) -> bool:
    return COMMIT.fullmatch(revision) is not None


@dataclasses.dataclass(frozen=True)
class HubRef:
    """A hub repository at a revision, as the config names it; ``key`` is that config key."""

    key: str                 # e.g. backbones.alma-7b.source.revision
    repo_id: str
    revision: str
    repo_type: str = "model"  # or "dataset"

    @property
    def pinned(self) -> bool:
        return is_commit(self.revision)

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision}"


def backbone_refs(name: str, entry: dict) -> dict[str, HubRef]:
    """The hub sources of one catalogue backbone by side: ``source``, or a delta's ``base`` and ``delta``."""
    source = entry["source"]
    sides = {s: source[s] for s in ("base", "delta")} if source["kind"] == "delta" else {"source": source}
    return {side: HubRef(f"backbones.{name}.{'source.' if side != 'source' else ''}{side}.revision",
                         s["id"], s["revision"])
            for side, s in sides.items() if s["kind"] == "hub"}


def data_ref(data: dict, split: str) -> HubRef | None:
    """The hub dataset ``split`` (train/valid: ALMA's, test: WMT22) is read from, if the data come from the hub."""
    if data["source"] != "hub":
        return None
    side = "train" if split in ("train", "valid") else "test"
    hub = data["hub"][side]
    return HubRef(f"data.hub.{side}.revision", hub["id"], hub["revision"], "dataset")


def comet_hub_id(comet_model: str | None) -> str | None:
    """The hub id ``evaluation.comet_model`` names; None for a local checkpoint (an existing path, a
    ``.ckpt``, an absolute or ``./`` path) or no COMET."""
    if not comet_model:
        return None
    path = Path(comet_model).expanduser()
    if path.exists() or comet_model.endswith(".ckpt") or path.is_absolute() or comet_model.startswith("."):
        return None
    return comet_model


def local_comet_checkpoint(comet_model: str) -> Path | None:
    """The ``model.ckpt`` of a local COMET checkpoint (the file, or a model directory holding
    ``checkpoints/model.ckpt``, the hub layout), or None where there is none."""
    path = Path(comet_model).expanduser()
    if path.is_file():
        return path
    checkpoint = path / "checkpoints" / "model.ckpt"
    return checkpoint if checkpoint.is_file() else None


def local_comet_encoder(comet_model: str) -> str | None:
    """The local encoder directory a local COMET checkpoint's hparams.yaml names, or None (a hub id,
    or a checkpoint that is not there: its job says so)."""
    import yaml

    checkpoint = local_comet_checkpoint(comet_model)
    if checkpoint is None:
        return None
    try:
        hparams = checkpoint.parents[1] / "hparams.yaml"
        named = (yaml.safe_load(hparams.read_text(encoding="utf-8")) or {}).get("pretrained_model")
    except (OSError, yaml.YAMLError, AttributeError, IndexError):
        return None
    return named if named and Path(named).expanduser().is_dir() else None


def comet_ref(evaluation: dict) -> HubRef | None:
    """The hub repository of the COMET model (``evaluation.comet_model``), unless it is a local
    checkpoint; its revision is ``evaluation.comet_revision``."""
    from radis.settings import default

    hub_id = comet_hub_id(evaluation.get("comet_model"))
    if hub_id is None:
        return None
    revision = evaluation.get("comet_revision") or default("evaluation.comet_revision")
    return HubRef("evaluation.comet_revision", hub_id, revision)


def comet_encoder_ref(evaluation: dict) -> HubRef | None:
    """The hub repository whose tokenizer and config COMET's encoder is built from
    (``evaluation.comet_encoder``; the weights are the checkpoint's), whenever COMET scores, unless
    the COMET model is a local checkpoint that names a local encoder directory (tests' tiny COMET)."""
    model = evaluation.get("comet_model")
    if not model or (comet_hub_id(model) is None and local_comet_encoder(model)):
        return None
    from radis.settings import comet_encoder

    encoder = comet_encoder(evaluation)
    return HubRef("evaluation.comet_encoder.revision", encoder["id"], encoder["revision"])


def config_refs(config: dict) -> list[HubRef]:
    """Every hub source a config can read: its catalogue's backbones, its data (from the hub) and
    its COMET model with its encoder."""
    refs = [r for name, entry in config["backbones"].items() for r in backbone_refs(name, entry).values()]
    refs += [r for split in ("train", "test") if (r := data_ref(config["data"], split))]
    refs += [r for r in [comet_ref(config["evaluation"]), comet_encoder_ref(config["evaluation"])] if r]
    return refs


def hub_cache(configured: str | None, repo: Path, workdir: Path, environ: dict | None = None) -> str:
    """The Hugging Face hub cache every job downloads to and reads from (config key ``hub_cache``,
    relative to the repository ``repo``); where the config leaves it null, ``HF_HUB_CACHE``, else
    ``$HF_HOME/hub`` (huggingface_hub's own order), else ``results/hub-cache`` under the run's
    working directory ``workdir``: project storage, never huggingface_hub's default under ``$HOME``."""
    environ = os.environ if environ is None else environ
    if configured:
        path = Path(configured).expanduser()
        return str(path if path.is_absolute() else Path(repo) / path)
    if environ.get("HF_HUB_CACHE"):
        return str(Path(environ["HF_HUB_CACHE"]).expanduser())
    if environ.get("HF_HOME"):
        return str(Path(environ["HF_HOME"]).expanduser() / "hub")
    from radis.layout import HUB_CACHE

    return str(Path(workdir).resolve() / HUB_CACHE)


def lock_path(ref: HubRef, locks: Path) -> Path:
    """``{locks}/{models|datasets}/{owner}--{name}@{revision}.json`` (the revision URL-quoted: a
    branch may contain '/')."""
    name = ref.repo_id.replace("/", "--")
    return Path(locks) / f"{ref.repo_type}s" / f"{name}@{quote(ref.revision, safe='')}.json"


def read_lock(ref: HubRef, locks: Path) -> str | None:
    """The commit ``ref``'s lock records, or None when there is no lock."""
    path = lock_path(ref, locks)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable lock ({e}); delete it to resolve {ref} again") from None
    commit = record.get("commit") if isinstance(record, dict) else None
    if not isinstance(commit, str) or not is_commit(commit) or record.get("id") != ref.repo_id:
        raise InputError(f"{path}: not a lock of {ref} (expected {{\"id\": {ref.repo_id!r}, \"commit\": "
                         "<40 hex digits>, ...}); delete it to resolve the revision again")
    return commit


def record_lock(ref: HubRef, commit: str, locks: Path, by: str) -> Path:
    """Write ``ref``'s lock, unless one exists; a lock that records another commit is an error.

    The file is written aside and hard-linked into place, which fails if the lock appeared
    meanwhile: of two jobs resolving the same branch at once, the first one's commit is the lock.
    """
    path = lock_path(ref, locks)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"id": ref.repo_id, "repo_type": ref.repo_type, "revision": ref.revision, "commit": commit,
              "locked_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "locked_by": by}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_json(tmp, record)
    try:
        os.link(tmp, path)
    except FileExistsError:
        locked = read_lock(ref, locks)
        if locked != commit:
            raise InputError(f"{ref} resolved to {commit}, but {path} locks it to {locked}; "
                             "the branch moved. Delete the lock to take the new commit.") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def resolve(ref: HubRef, cache: str | None = None) -> str:
    """The commit ``ref``'s branch points at now: asked of the hub, or, offline
    (``HF_HUB_OFFLINE=1``), read from the refs of the hub cache (``cache``, default huggingface_hub's
    ``HF_HUB_CACHE``), as huggingface_hub itself does."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.file_download import repo_folder_name

    if constants.HF_HUB_OFFLINE:
        cache = cache or constants.HF_HUB_CACHE
        refs = Path(cache) / repo_folder_name(repo_id=ref.repo_id, repo_type=ref.repo_type)
        try:
            commit = (refs / "refs" / ref.revision).read_text(encoding="utf-8").strip()
        except OSError:
            raise InputError(f"config key '{ref.key}': cannot resolve {ref} offline: the hub cache "
                             f"{cache} has no ref {ref.revision!r} of it (download it where "
                             "there is network, or pin a commit)") from None
    else:
        try:
            commit = HfApi().repo_info(ref.repo_id, repo_type=ref.repo_type, revision=ref.revision).sha
        except Exception as e:  # noqa: BLE001 - network, auth, typo: all mean "cannot resolve"
            raise InputError(f"config key '{ref.key}': cannot resolve {ref} on the hub: "
                             f"{type(e).__name__}: {e}") from None
    if not isinstance(commit, str) or not is_commit(commit):
        raise InputError(f"config key '{ref.key}': {ref} resolved to {commit!r}, not a commit")
    return commit


def commit_for(ref: HubRef, locks: Path, by: str) -> str:
    """The commit to fetch ``ref`` at: pinned, locked, or resolved now and locked (first use)."""
    if ref.pinned:
        return ref.revision
    locked = read_lock(ref, locks)
    if locked is not None:
        return locked
    commit = resolve(ref)
    path = record_lock(ref, commit, locks, by)  # refuses a lock another job just wrote with another commit
    print(f"{ref} locked to {commit} on first use ({path})", file=sys.stderr)
    return commit


def snapshot_at_commit(ref: HubRef, locks: Path, by: str, allow_patterns: list[str] | None = None) -> Path:
    """``snapshot_download`` of ``ref`` at its pinned or locked commit: the hub cache's snapshot
    folder (named by the commit; a killed download resumes from its partial files, and offline,
    ``HF_HUB_OFFLINE=1``, a snapshot downloaded on the login node is found). A commit the hub or
    the cache lacks, or a snapshot of another commit, is one message naming the config key."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    commit = commit_for(ref, locks, by)
    try:
        path = Path(snapshot_download(ref.repo_id, repo_type=ref.repo_type, revision=commit,
                                      allow_patterns=allow_patterns))
    except (HfHubHTTPError, LocalEntryNotFoundError) as e:  # offline, gated, unknown repo or commit
        raise InputError(f"config key '{ref.key}': {ref.repo_id}@{commit} cannot be fetched from the hub: "
                         f"{type(e).__name__}: {str(e).splitlines()[0]}") from None
    if path.name != commit:
        raise InputError(f"config key '{ref.key}': {ref} should be commit {commit} "
                         f"({'pinned' if ref.pinned else 'locked'}), the hub returned {path.name}")
    return path


def unlocked(refs: Iterable[HubRef], locks: Path) -> list[HubRef]:
    """The refs that are neither pinned nor locked (each once)."""
    return [r for r in dict.fromkeys(refs) if not r.pinned and read_lock(r, locks) is None]


def refuse_unlocked(refs: Iterable[HubRef], locks: Path, exploratory: bool) -> None:
    """Stop a run that would download an unpinned, unlocked revision, unless it is exploratory."""
    missing = unlocked(refs, locks)
    if missing and not exploratory:
        listed = "".join(f"\n  {r.key}: {r}" for r in missing)
        raise InputError(
            f"{len(missing)} hub revision(s) are neither pinned to a commit nor locked in {locks}:{listed}\n"
            "Pin each to a 40-hex commit in the config; or record the commits the branches point at now with "
            "`radis lock --configfile <the run's config files>` (where there is network; `--directory` the run's working directory); "
            "or make the run exploratory (`exploratory: true` in a config overlay, or snakemake "
            "`--config exploratory=True`) to lock each on its first download.")


def lock_config(configfile: list[str], directory: str) -> None:
    """``radis lock``: resolve every unpinned hub revision of a config (config/config.yaml with
    ``configfile`` overlays, as Snakemake merges them) and lock it under ``directory``'s results."""
    from radis.config import load_config
    from radis.layout import LOCKS
    from radis.settings import REPO_ROOT

    config = load_config(REPO_ROOT / "config" / "config.yaml", *configfile)
    locks = Path(directory) / LOCKS
    cache = hub_cache(config.get("hub_cache"), REPO_ROOT, Path(directory))  # read offline only
    for ref in dict.fromkeys(config_refs(config)):
        if ref.pinned:
            print(f"{ref.key}: {ref} (pinned)")
            continue
        locked = read_lock(ref, locks)
        if locked is None:
            path = record_lock(ref, resolve(ref, cache), locks, "radis lock")
            print(f"{ref.key}: {ref} -> {read_lock(ref, locks)} (locked now: {path})")
        else:
            print(f"{ref.key}: {ref} -> {locked} (locked earlier: {lock_path(ref, locks)})")
