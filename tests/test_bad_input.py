"""Bad input: each case exits non-zero with one message naming the file, line or key, before any
model is loaded, and leaves existing results untouched: every output the case names exists before
it runs (an earlier result) and the whole directory has the same checksums after. Model loads are
recorded by tests/model_load_probe (it wraps transformers' from_pretrained), not read from a log."""

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
PROBE = Path(__file__).resolve().parent / "model_load_probe"
#: arguments naming what a command writes
OUTPUTS = ("--out", "--out-dir", "--table", "--points", "--result", "--samples")


def radis(*args, cwd, env=None, python=sys.executable):
    """``python -m radis`` with the model-load probe; returns the run and the models it loaded."""
    marker = Path(cwd).parent / f"{Path(cwd).name}.model-loads"
    marker.unlink(missing_ok=True)
    env = {**os.environ, **(env or {}), "RADIS_MODEL_LOAD_MARKER": str(marker),
           "PYTHONPATH": os.pathsep.join([str(PROBE), str(REPO / "src")])}
    run = subprocess.run([str(python), "-m", "radis", *args], capture_output=True, text=True, cwd=cwd, env=env,
                         timeout=300)
    return run, marker.read_text().splitlines() if marker.exists() else []


def checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def earlier_results(work: Path, args: list[str]) -> None:
    """An earlier result at every output the command names (a file, or a folder holding one)."""
    for flag, value in zip(args, args[1:]):
        path = work / value
        if flag in OUTPUTS and not path.exists():
            target = path if path.suffix else path / "earlier.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text('{"an earlier result": true}\n')


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
GENERATION = {"device": "cpu", "seed": 1, "generation": {"backend": "hf", "batch_size": 2, "dtype": "float32"},
              "decoding": {"max_new_tokens": 4}}
TRANSLATE = json.dumps({**GENERATION, "evaluation": {"instruction": 0, "postprocess": "chat"}})
NO_SOURCE = json.dumps({"id": "x", "src_lang": "cs", "tgt_lang": "en", "reference": "Hi"}) + "\n"
GOOD = json.dumps({"id": "x", "src_lang": "cs", "tgt_lang": "en", "source": "Ahoj", "reference": "Hi"}) + "\n"

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
                                              "o.jsonl", "--settings", json.dumps({
                                                  "source": "mirror", "mirror": "m", "hub": {}, "limit": None,
                                                  "seed": 1})], "unknown language 'xx'"),
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
    # after the model was loaded, these failed with a traceback (issue 13, item 11); {model}: the
    # embedded backbone, {no_template}: the same model with its chat template taken out
    ("test record without a source", {"t/cs-en.jsonl": NO_SOURCE},
     ["translate", "--model", "{model}", "--directions", "cs-en", "--data-dir", "t", "--out-dir", "hyp",
      "--settings", TRANSLATE], "cs-en.jsonl:1: record has no 'source'"),
    ("tokenizer without a chat template", {"t/cs-en.jsonl": GOOD},
     ["synthesize", "--kind", "rationale", "--model", "{no_template}", "--directions", "cs-en", "--data-dir", "t",
      "--out-dir", "synth", "--settings", json.dumps(GENERATION)], "cannot render the synthesize rationale prompts"),
]


@pytest.fixture(scope="module")
def models(embedded_backbone, tmp_path_factory) -> dict[str, str]:
    """The models the cases name: the embedded backbone, and a copy whose tokenizer has no chat template."""
    no_template = tmp_path_factory.mktemp("no-template")
    for f in embedded_backbone.iterdir():
        if f.name == "chat_template.jinja":
            continue
        if f.name == "tokenizer_config.json":
            config = json.loads(f.read_text())
            config.pop("chat_template", None)
            (no_template / f.name).write_text(json.dumps(config))
        else:
            (no_template / f.name).symlink_to(f)
    return {"{model}": str(embedded_backbone), "{no_template}": str(no_template)}


@pytest.mark.parametrize("name,files,args,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_to_the_cli(work, name, files, args, message, request):
    if any(a.startswith("{") and a.endswith("}") for a in args):
        args = [request.getfixturevalue("models").get(a, a) for a in args]
    for rel, content in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        write(work / rel, content)
    if name == "missing API key":
        write(work / "r.responses.jsonl", json.dumps({"id": 0, "goal": "g", "response": "r"}) + "\n")
    earlier_results(work, args)
    before = checksums(work)
    run, loaded = radis(*args, cwd=work)
    assert run.returncode != 0
    assert message in run.stderr, run.stderr[-2000:]
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    assert loaded == []
    assert checksums(work) == before


def test_the_probe_sees_a_model_load(models, tmp_path):
    """The "loads no model" assertion can fail: the probe records the load of a good translate run."""
    (tmp_path / "t").mkdir()
    write(tmp_path / "t/cs-en.jsonl", GOOD)
    run, loaded = radis("translate", "--model", models["{model}"], "--directions", "cs-en", "--data-dir", "t",
                        "--out-dir", "hyp", "--settings", TRANSLATE, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(loaded) == 1 and models["{model}"] in loaded[0]


def test_the_probe_sees_a_comet_load(work, comet_python, tiny_comet_checkpoint):
    """The COMET case below can fail: the probe records COMET's load of a good scoring run."""
    rows = [{"source": "Ahoj", "hypothesis": "Hi", "reference": "Hi", "src_lang": "cs", "tgt_lang": "en"}]
    write(work / "h.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    write(work / "m.json", "{}")
    run, loaded = radis("score", "--hypotheses", "h.jsonl", "--generation-meta", "m.json", *CELL, "--out", "c.json",
                        "--settings", json.dumps({"comet_model": str(tiny_comet_checkpoint), "comet_batch_size": 8}),
                        cwd=work, python=comet_python, env={"HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(loaded) == 1 and loaded[0].startswith("COMET ") and str(tiny_comet_checkpoint) in loaded[0]


def test_an_offline_comet_hub_id_is_one_message_before_scoring(work, comet_python):
    """In the comet environment, as the scoring jobs run: a hub id that cannot be fetched names the key."""
    rows = [{"source": "Ahoj", "hypothesis": "Hi", "reference": "Hi", "src_lang": "cs", "tgt_lang": "en"}]
    write(work / "h.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    write(work / "m.json", "{}")
    args = ["score", "--hypotheses", "h.jsonl", "--generation-meta", "m.json", *CELL, "--out", "results/cs-en.json",
            "--settings", json.dumps({"comet_model": "Unbabel/wmt22-comet-da", "comet_batch_size": 8})]
    earlier_results(work, args)
    before = checksums(work)
    run, loaded = radis(*args, cwd=work, python=comet_python, env={"HF_HUB_OFFLINE": "1"})
    assert run.returncode != 0
    assert "evaluation.comet_model" in run.stderr and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert loaded == []
    assert checksums(work) == before


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
