"""Integrity (issue 7, items 5 and 6): data files checked against the sha256 sums the config pins,
every output written atomically, and no model code executed unless its config entry allows it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from radis.config import load_config, validate_config
from radis.io import InputError, read_jsonl
from radis.languages import Direction
from radis.settings import ConfigError, default, trust_remote_code

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "workflow/resources/demo"
CS_EN = Direction.parse("cs-en")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sums() -> dict[str, str]:
    return load_config(REPO / "config/config.yaml")["data"]["sha256"]


# --- data files: sha256 pinned in the config ----------------------------------------------------

def test_config_pins_every_demo_mirror_file():
    files = {p.relative_to(DEMO).as_posix(): _sha(p)
             for p in (DEMO / "human_written_data").rglob("*") if p.is_file()}
    assert files and _sums() == files


def _prepare(tmp_path: Path, mirror: Path, sums: dict | None, split: str = "train"):
    """``radis prepare-data`` as workflow/rules/data.smk runs it."""
    settings = {"source": "mirror", "mirror": str(mirror), "hub": {}, "limit": None, "seed": 1}
    if sums is not None:
        settings["sha256"] = sums
    cmd = [sys.executable, "-m", "radis", "prepare-data", "--direction", "cs-en", "--split", split,
           "--out", str(tmp_path / "out.jsonl"), "--settings", json.dumps(settings)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_a_modified_mirror_file_is_refused_before_parsing(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(DEMO / "human_written_data", mirror / "human_written_data")
    sums = _sums()
    ok = _prepare(tmp_path, mirror, sums)
    assert ok.returncode == 0, ok.stderr
    before = (tmp_path / "out.jsonl").read_bytes()
    assert len(read_jsonl(tmp_path / "out.jsonl")) > 0

    train = mirror / "human_written_data/csen/train.cs-en.json"
    with open(train, "a", encoding="utf-8") as f:  # one extra, well-formed record
        f.write(json.dumps({"translation": {"cs": "Podvrh", "en": "Forgery"}}) + "\n")
    run = _prepare(tmp_path, mirror, sums)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    [message] = [line for line in run.stderr.splitlines() if "error" in line]
    key = "human_written_data/csen/train.cs-en.json"
    assert str(train) in message and key in message
    assert f"expected {sums[key]}" in message and f"actual {_sha(train)}" in message
    assert (tmp_path / "out.jsonl").read_bytes() == before  # the earlier output is untouched


def test_an_unpinned_mirror_file_is_refused(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(DEMO / "human_written_data", mirror / "human_written_data")
    sums = {k: v for k, v in _sums().items() if "test.cs-en" not in k}
    run = _prepare(tmp_path, mirror, sums, split="test")
    assert run.returncode == 2
    assert "no sha256 pinned for 'human_written_data/csen/test.cs-en.json'" in run.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_without_pins_the_mirror_is_read_with_a_warning(tmp_path):
    run = _prepare(tmp_path, DEMO, None)
    assert run.returncode == 0 and "not verified" in run.stderr


def test_pinned_hub_files_are_verified(tmp_path, monkeypatch):
    import huggingface_hub
    import pyarrow as pa
    import pyarrow.parquet as pq

    from radis.data.alma import pinned_hub_files, read_hub

    repo_file = "cs-en/train-00000-of-00001-3a60b130a713425b.parquet"
    local = tmp_path / "hub" / repo_file
    local.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"translation": {"cs": "Ahoj", "en": "Hello"}}]), local)
    downloads = []

    def fake_download(repo_id, filename, repo_type=None, revision=None):
        downloads.append((repo_id, filename, repo_type, revision))
        return str(tmp_path / "hub" / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    dataset = "haoranxu/ALMA-Human-Parallel"
    sums = {f"{dataset}/{repo_file}": _sha(local),
            f"{dataset}/cs-en/validation-00000-of-00001-d1f9a3fc339fbc84.parquet": "0" * 64}
    assert pinned_hub_files(sums, dataset, "cs-en", "train") == [repo_file]
    assert pinned_hub_files({f"{dataset}/cs-en/train/0000.parquet": "0" * 64}, dataset, "cs-en", "train") == [
        "cs-en/train/0000.parquet"]
    records = read_hub(CS_EN, "train", dataset, "abc123", sha256=sums)
    assert [(r["source"], r["reference"]) for r in records] == [("Ahoj", "Hello")]
    assert downloads == [(dataset, repo_file, "dataset", "abc123")]

    pq.write_table(pa.Table.from_pylist([{"translation": {"cs": "Podvrh", "en": "Forgery"}}]), local)
    expected = sums[f"{dataset}/{repo_file}"]
    with pytest.raises(InputError, match=rf"sha256 mismatch for '{dataset}/{repo_file}': expected {expected}"):
        read_hub(CS_EN, "train", dataset, "abc123", sha256=sums)
    with pytest.raises(InputError, match=f"pins files of {dataset} but none of de-en/train"):
        read_hub(Direction.parse("de-en"), "train", dataset, "abc123", sha256=sums)


@pytest.mark.parametrize("sums,key", [
    ({"human_written_data/csen/train.cs-en.json": "abc"},
     "data.sha256.human_written_data/csen/train.cs-en.json"),
    ({"../etc/passwd": "0" * 64}, "data.sha256"),
    ({"/abs/path": "0" * 64}, "data.sha256"),
])
def test_schema_refuses_bad_pins(sums, key):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["data"]["sha256"] = sums
    with pytest.raises(ConfigError, match=re.escape(key)):
        validate_config(config)


# --- atomic outputs ------------------------------------------------------------------------------

#: a write whose target is not a temporary path from radis.io.atomic_path / atomic_dir
RAW_WRITE = re.compile(r"\.write_text\(|\.write_bytes\(|open\([^)]*[\"'][wa]b?[\"']|json\.dump\(|\.to_csv\(|"
                       r"savefig\(|save_pretrained\(|copyfile\(|copytree\(|torch\.save\(")
#: writes audited by hand (file, line): into a temporary directory that atomic_dir/atomic_path
#: renames into place by the caller, or not an output at all
AUDITED = {
    ("backbones.py", 'tj_path.write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")'),
    ("backbones.py", "tokenizer.save_pretrained(model_dir)"),
    ("backbones.py", 'path.write_text(json.dumps(cfg, indent=2) + "\\n", encoding="utf-8")'),
    ("backbones.py", "model.save_pretrained(out_dir, safe_serialization=True)"),
    ("backbones.py", "tokenizer.save_pretrained(out_dir)"),
    ("backbones.py", "shutil.copytree(src, out_dir)"),
    # a hub snapshot's small files copied into the materialised backbone's temporary directory
    ("backbones.py", "shutil.copyfile(src, dst)"),
    ("backbones.py", "AutoTokenizer.from_pretrained(delta_dir).save_pretrained(out_dir)"),
    # the served judge's log, appended to while it runs (a log, not a result)
    ("serving.py", 'with open(log, "ab") as log_f:'),
}


def test_every_output_is_written_through_an_atomic_helper():
    """A regression guard over src/radis: a new plain write must go through radis.io or be audited."""
    offenders = []
    for path in sorted((REPO / "src/radis").rglob("*.py")):
        if path.name == "io.py":
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            text = line.strip()
            if text.startswith("#") or not RAW_WRITE.search(text):
                continue
            if re.search(r"\(tmp\b|open\(tmp\b|, tmp\b", text) or (path.name, text) in AUDITED:
                continue
            offenders.append(f"{path.relative_to(REPO)}:{lineno}: {text}")
    assert not offenders, "plain writes (use radis.io.atomic_path/atomic_dir/write_*):\n" + "\n".join(
        offenders)


def test_atomic_dir_replaces_only_on_success(tmp_path):
    from radis.io import atomic_dir

    out = tmp_path / "adapter"
    out.mkdir()
    (out / "old.bin").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "half.bin").write_text("half")
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"] and (out / "old.bin").exists()
    with atomic_dir(out) as tmp:
        (tmp / "new.bin").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.bin"] and len(list(tmp_path.iterdir())) == 1


# --- trust_remote_code ---------------------------------------------------------------------------

def test_trust_remote_code_is_never_switched_on_in_code():
    """Every loader takes the flag from its caller (default False) and only a backbone's config entry
    turns it on; a shipped entry that does must pin the commit whose code it runs."""
    for path in sorted((REPO / "src/radis").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"trust_remote_code\s*=\s*True", text), path
        for m in re.finditer(r"trust_remote_code\s*:\s*bool\s*=\s*(\w+)", text):
            assert m.group(1) == "False", path
        for m in re.finditer(r"get\(\"trust_remote_code\"(, *[^)]+)?\)", text):
            # one reader of the setting: radis.settings.trust_remote_code, defaulting to the schema's
            assert path.name == "settings.py" and m.group(1).strip(", ") == 'default("backbones.*.trust_remote_code"', \
                (path, m.group(0))
    assert default("backbones.*.trust_remote_code") is False
    assert trust_remote_code({}) is False and trust_remote_code({"trust_remote_code": True}) is True
    for rules in (REPO / "workflow/rules").glob("*.smk"):
        for m in re.finditer(r"\"trust_remote_code\":\s*(.+)", rules.read_text()):
            assert re.fullmatch(r"trust_remote_code\(backbone_entry\(\w+(\.backbone)?\)\),?", m.group(1)), \
                (rules, m.group(0))
    for config in (load_config(REPO / "config/config.yaml"),
                   load_config(REPO / "config/config.yaml", REPO / "config/paper.yaml")):
        for name, entry in config["backbones"].items():
            if entry.get("trust_remote_code"):
                revision = entry["source"].get("revision", "")
                assert re.fullmatch(r"[0-9a-f]{40}", revision), f"{name}: remote code at {revision!r}"


def test_model_code_is_not_executed_without_the_config_flag(embedded_backbone, tmp_path):
    """A model directory that ships code (``auto_map``) runs it only when trust_remote_code is set."""
    model = tmp_path / "model"
    model.mkdir()
    for f in embedded_backbone.iterdir():
        if f.is_file():
            (model / f.name).symlink_to(f)
    config = json.loads((embedded_backbone / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    (model / "config.json").unlink()
    (model / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "remote-code-ran"
    (model / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nraise ImportError('evil')\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "cs-en.jsonl").write_text(json.dumps(
        {"id": "0", "src_lang": "cs", "tgt_lang": "en", "source": "Ahoj", "reference": "Hi"}) + "\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}

    def synthesize(extra: dict) -> subprocess.CompletedProcess:
        settings = {"seed": 1, "generation": {"backend": "hf", "batch_size": 1, "dtype": "float32"},
                    "decoding": {"max_new_tokens": 2}, **extra}
        cmd = [sys.executable, "-m", "radis", "synthesize", "--kind", "seqkd", "--model", str(model),
               "--directions", "cs-en", "--data-dir", str(data), "--out-dir", str(tmp_path / "out"),
               "--settings", json.dumps(settings)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)

    run = synthesize({})  # what a backbone entry without trust_remote_code passes
    assert run.returncode == 0, run.stderr[-2000:]
    assert not marker.exists(), "the model's own code ran without trust_remote_code"
    assert len(read_jsonl(tmp_path / "out/cs-en.jsonl")) == 1
    # the control: the same directory with the flag on does run the model's code
    run = synthesize({"trust_remote_code": True})
    assert marker.exists(), run.stderr[-2000:]
