"""ALMA/WMT22 readers: the real mirror, the shipped demo, malformed input, hub rows, subsetting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from radis.data.alma import mirror_path, normalise_hub_rows, prepare, read_mirror, write_direction
from radis.io import InputError, read_jsonl
from radis.languages import Direction

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(__file__).resolve().parents[2] / "shared/data/alma"
DEMO = REPO / "workflow/resources/demo"
CS_EN, EN_CS = Direction("cs", "en"), Direction("en", "cs")

needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(), reason=f"shared ALMA mirror not found at {MIRROR}")


@needs_mirror
def test_mirror_train_feeds_both_directions():
    fwd = read_mirror(MIRROR, CS_EN, "train")
    back = read_mirror(MIRROR, EN_CS, "train")
    assert len(fwd) == len(back) == 12076
    assert fwd[0] == {"id": "train-cs-en-00000", "src_lang": "cs", "tgt_lang": "en",
                      "source": "Osmadvacetiletý šéfkuchař nalezen mrtev v obchodě v San Francisku",
                      "reference": "28-Year-Old Chef Found Dead at San Francisco Mall"}
    assert all(f["source"] == b["reference"] and f["reference"] == b["source"] for f, b in zip(fwd, back))
    assert back[5]["id"] == "train-en-cs-00005"


@needs_mirror
def test_mirror_test_and_valid():
    test = read_mirror(MIRROR, EN_CS, "test")
    assert len(test) == 2037 and test[0]["source"] == "If they cannot find you they will surely call."
    assert len(read_mirror(MIRROR, CS_EN, "test")) == 1448  # WMT'22 cs→en is a different set
    assert len(read_mirror(MIRROR, EN_CS, "valid")) == 1002


@needs_mirror
def test_mirror_missing_file_names_expected_path():
    with pytest.raises(InputError, match=r"isen/valid\.is-en\.json: file not found"):
        read_mirror(MIRROR, Direction("is", "en"), "valid")


@pytest.mark.parametrize("xx", ["cs", "de", "ru", "zh"])
def test_demo_subset(xx):
    for direction in (Direction(xx, "en"), Direction("en", xx)):
        for split in ("train", "test"):
            records = read_mirror(DEMO, direction, split)
            assert len(records) == 16
            assert all(len(r["source"]) < 120 and len(r["reference"]) < 120 for r in records)


def _write(root: Path, direction: Direction, split: str, text: str) -> Path:
    path = mirror_path(root, direction, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


GOOD = json.dumps({"translation": {"cs": " Ahoj ", "en": "Hello"}})


def test_bad_json_line_names_file_and_line(tmp_path):
    path = _write(tmp_path, CS_EN, "train", f"{GOOD}\n{GOOD}\n{{not json\n")
    with pytest.raises(InputError, match=re.escape(str(path)) + r":3: malformed JSON"):
        read_mirror(tmp_path, CS_EN, "train")


def test_missing_language_key_names_line(tmp_path):
    path = _write(tmp_path, EN_CS, "train", f"{GOOD}\n\n" + json.dumps({"translation": {"cs": "x"}}) + "\n")
    with pytest.raises(InputError, match=re.escape(str(path)) + r":3: translation\['en'\] missing"):
        read_mirror(tmp_path, EN_CS, "train")


@pytest.mark.parametrize("line, problem", [
    ('{"translation": {"cs": "x", "en": "   "}}', "is empty"),
    ('{"translation": {"cs": 3, "en": "y"}}', "not a string"),
    ('{"pair": {}}', "missing object 'translation'"),
    ('[1]', "expected a JSON object"),
])
def test_malformed_train_records(tmp_path, line, problem):
    path = _write(tmp_path, CS_EN, "train", line + "\n")
    with pytest.raises(InputError, match=re.escape(str(path)) + rf":1: .*{problem}"):
        read_mirror(tmp_path, CS_EN, "train")


def test_array_element_not_object_names_record(tmp_path):
    path = _write(tmp_path, EN_CS, "test", f"[{GOOD}, 7]")
    with pytest.raises(InputError, match=re.escape(str(path)) + r": record 1: expected a JSON object, got"):
        read_mirror(tmp_path, EN_CS, "test")


def test_array_file_that_is_not_an_array(tmp_path):
    path = _write(tmp_path, EN_CS, "test", GOOD)
    with pytest.raises(InputError, match=re.escape(str(path)) + r": expected a JSON array"):
        read_mirror(tmp_path, EN_CS, "test")


def test_missing_test_file_names_expected_path(tmp_path):
    _write(tmp_path, CS_EN, "test", f"[{GOOD}]")  # the other direction exists; en-cs does not
    expected = tmp_path / "human_written_data/csen/test.en-cs.json"
    with pytest.raises(InputError, match=re.escape(str(expected)) + r": file not found"):
        read_mirror(tmp_path, EN_CS, "test")


def test_whitespace_is_stripped(tmp_path):
    _write(tmp_path, CS_EN, "train", GOOD + "\n")
    assert read_mirror(tmp_path, CS_EN, "train")[0]["source"] == "Ahoj"


def test_hub_rows_alma_human_parallel_shape():
    rows = [{"translation": {"cs": "Ahoj", "en": "Hello "}}, {"translation": {"cs": "Svět", "en": "World"}}]
    out = normalise_hub_rows(rows, EN_CS, "valid", "haoranxu/ALMA-Human-Parallel")
    assert out[1] == {"id": "valid-en-cs-00001", "src_lang": "en", "tgt_lang": "cs",
                      "source": "World", "reference": "Svět"}
    assert out[0]["source"] == "Hello"


def test_hub_rows_wmt22_shape():
    rows = [{"en-cs": {"en": "Hello", "cs": "Ahoj"}}]
    assert normalise_hub_rows(rows, EN_CS, "test", "haoranxu/WMT22-Test")[0]["reference"] == "Ahoj"
    with pytest.raises(InputError, match=r"haoranxu/WMT22-Test: record 0: missing object 'en-cs'"):
        normalise_hub_rows([{"translation": {"en": "a", "cs": "b"}}], EN_CS, "test", "haoranxu/WMT22-Test")


def test_read_hub_passes_config_split_and_revision(monkeypatch):
    import datasets

    calls = []

    def fake_load(dataset_id, config, split, revision):
        calls.append((dataset_id, config, split, revision))
        if split == "test":
            return [{config: {"en": "Hi", "cs": "Čau"}}]
        return [{"translation": {"cs": "Ahoj", "en": "Hello"}}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    from radis.data.alma import read_hub

    assert read_hub(EN_CS, "valid", revision="abc")[0]["reference"] == "Ahoj"
    assert read_hub(EN_CS, "test", "haoranxu/WMT22-Test", "def")[0]["id"] == "test-en-cs-00000"
    assert calls == [("haoranxu/ALMA-Human-Parallel", "cs-en", "validation", "abc"),
                     ("haoranxu/WMT22-Test", "en-cs", "test", "def")]


def test_prepare_is_deterministic_and_respects_limit():
    records = [{"id": str(i)} for i in range(100)]
    a, b = prepare(records, 10, seed=1), prepare(records, 10, seed=1)
    assert a == b and len(a) == 10
    assert [int(r["id"]) for r in a] == sorted(int(r["id"]) for r in a)  # original order kept
    assert prepare(records, 10, seed=2) != a
    assert prepare(records, None, seed=1) == records
    assert prepare(records, 500, seed=1) == records


def test_write_direction_roundtrip(tmp_path):
    records = normalise_hub_rows([{"translation": {"cs": "Ahoj", "en": "Hello"}}], CS_EN, "train", "mem")
    path = tmp_path / "out/cs-en.jsonl"
    assert write_direction(path, records) == 1
    assert read_jsonl(path) == records


@needs_mirror
@pytest.mark.parametrize("xx", ["cs", "de", "is", "ru", "zh"])
def test_full_mirror_overlay_pins_the_shared_files(xx):
    """config/alma-full.yaml: every train/test file of the full mirror verifies against its sum."""
    import yaml

    overlay = yaml.safe_load((REPO / "config/alma-full.yaml").read_text())["data"]
    assert (REPO / overlay["mirror"]).resolve() == MIRROR.resolve()
    for direction, split in ((Direction(xx, "en"), "train"), (Direction(xx, "en"), "test"),
                             (Direction("en", xx), "test")):
        assert read_mirror(MIRROR, direction, split, sha256=overlay["sha256"])
