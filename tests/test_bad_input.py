"""Bad input: each case exits non-zero with one message naming the file, line or key, before any
model is loaded, and leaves existing results untouched (checksums before and after)."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
MODEL_LOADS = ("Loading checkpoint", "Converting and de-quantizing")


def radis(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "radis", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=120)


def checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def work(tmp_path):
    """A directory with an existing result that no failing command may touch."""
    (tmp_path / "results/tables").mkdir(parents=True)
    (tmp_path / "results/tables/table1.md").write_text("an earlier result\n")
    good = {"id": "x", "src_lang": "cs", "tgt_lang": "en", "source": "Ahoj", "reference": "Hi"}
    (tmp_path / "good.jsonl").write_text(json.dumps(good) + "\n")
    return tmp_path


def write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


SETTINGS = json.dumps({"builder": "vanilla", "seed": 1})
CELL = ["--backbone", "b", "--method", "m"]

# (name, files to write, radis arguments, text the message must contain)
CASES = [
    ("malformed JSONL", {"d/cs-en.jsonl": '{"id": 1}\n{oops\n'},
     ["build-trainset", "--data", "d/cs-en.jsonl", "--out", "out.jsonl", "--settings", SETTINGS], "cs-en.jsonl:2"),
    ("JSONL line not an object", {"d/cs-en.jsonl": '[1, 2]\n'},
     ["build-trainset", "--data", "d/cs-en.jsonl", "--out", "out.jsonl", "--settings", SETTINGS], "cs-en.jsonl:1"),
    ("non-UTF-8 bytes", {"d/cs-en.jsonl": b'{"id": "\xff\xfe"}\n'},
     ["build-trainset", "--data", "d/cs-en.jsonl", "--out", "out.jsonl", "--settings", SETTINGS], "not UTF-8"),
    ("missing data file", {}, ["build-trainset", "--data", "d/cs-en.jsonl", "--out", "out.jsonl", "--settings",
                               SETTINGS], "cs-en.jsonl: file not found"),
    ("empty hypotheses", {"h.jsonl": ""},
     ["score", "--hypotheses", "h.jsonl", "--generation-meta", "m.json", *CELL, "--out", "results/tables/table1.md",
      "--settings", '{"comet_model": null, "comet_batch_size": 8}'], "h.jsonl: no hypotheses"),
    ("settings not JSON", {}, ["build-trainset", "--data", "good.jsonl", "--out", "o.jsonl", "--settings", "{lr:"],
     "--settings is not JSON"),
    ("ALMA record missing a language", {"m/human_written_data/csen/train.cs-en.json": '{"translation": {"cs": "a"}}\n'},
     ["prepare-data", "--direction", "cs-en", "--split", "train", "--out", "results/tables/table1.md", "--settings",
      json.dumps({"source": "mirror", "mirror": "m", "hub": {}, "limit": None, "seed": 1})], "train.cs-en.json:1"),
    ("unknown language in a direction", {}, ["prepare-data", "--direction", "xx-en", "--split", "train", "--out",
                                              "o.jsonl", "--settings", "{}"], "unknown language 'xx'"),
    ("missing model directory", {}, ["merge", "--backbone", "nope", "--adapter", "no-adapter", "--out", "merged",
                                     "--settings", '{"bf16": false}'], "no-adapter"),
    ("missing embedded-model package", {}, ["materialise", "--name", "x", "--out", "bb", "--settings",
     json.dumps({"source": {"kind": "gguf-package", "package": "no-such-package", "file": "x.gguf"}})],
     "no-such-package"),
    ("corrupted checkpoint (not a model dir)", {"ckpt/config.txt": "garbage"},
     ["merge", "--backbone", "nope", "--adapter", "ckpt", "--out", "merged", "--settings", '{"bf16": false}'],
     "ckpt: neither a LoRA adapter nor a model directory"),
    ("missing API key", {"r.jsonl": ""},
     ["judge", "--eval-dir", ".", "--data-dir", ".", "--cache-dir", "cache", *CELL, "--settings", json.dumps(
         {"judged": {"advbench": {"judge_name": "g", "judge": {"model": "m", "base_url": "http://127.0.0.1:9/v1",
                                                               "api_key_env": "RADIS_TEST_NO_SUCH_KEY"},
                                  "section": {}, "responses": "r"}}})], "RADIS_TEST_NO_SUCH_KEY"),
]


@pytest.mark.parametrize("name,files,args,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_to_the_cli(work, name, files, args, message):
    for rel, content in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        write(work / rel, content)
    if name == "missing API key":
        write(work / "r.responses.jsonl", json.dumps({"id": 0, "goal": "g", "response": "r"}) + "\n")
    before = checksums(work / "results")
    run = radis(*args, cwd=work)
    assert run.returncode != 0
    assert message in run.stderr, run.stderr[-2000:]
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    assert not any(marker in run.stderr for marker in MODEL_LOADS)
    assert checksums(work / "results") == before


BAD_CONFIGS = [
    ({"training": {"learning_rate": -1e-4}}, "training.learning_rate"),
    ({"training": {"lerning_rate": 1e-4}}, "lerning_rate"),
    ({"experiment": {"methods": ["vanilla", "radsi"]}}, "experiment.methods.1"),
    ({"experiment": {"directions": ["cs-en", "en-xx"]}}, "experiment.directions.1"),
    ({"experiment": {"backbones": ["../etc"]}}, "experiment.backbones.0"),
    ({"backbones": {"a;rm -rf": {"source": {"kind": "local", "path": "."}}}}, "backbones"),
    ({"backbones": {"a/b": {"source": {"kind": "local", "path": "."}}}}, "backbones"),
    ({"general": {"advbench": {"judge": "nobody"}}}, "general.advbench.judge"),
    ({"decoding": {"translation": {"max_new_tokens": 0}}}, "decoding.translation.max_new_tokens"),
    ({"generation": {"backend": "tgi"}}, "generation.backend"),
]


@pytest.mark.parametrize("overlay,key", BAD_CONFIGS, ids=[k for _, k in BAD_CONFIGS])
def test_bad_config_stops_the_dag_before_any_job(work, overlay, key):
    write(work / "bad.yaml", yaml.safe_dump(overlay))
    before = checksums(work / "results")
    run = subprocess.run([str(SNAKEMAKE), "all", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
                          "--cores", "1", "--configfile", str(work / "bad.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert key in run.stdout + run.stderr
    assert checksums(work / "results") == before
