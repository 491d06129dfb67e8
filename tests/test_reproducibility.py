"""Same seed, same inputs → byte-identical synthesized data (CPU)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_synthesis_is_byte_identical_across_runs(embedded_backbone, tmp_path):
    from radis.data.alma import prepare, read_mirror
    from radis.io import write_jsonl
    from radis.languages import Direction

    data = tmp_path / "data"
    for d in ("cs-en", "en-de"):
        records = prepare(read_mirror(REPO / "workflow/resources/demo", Direction.parse(d), "train"), 2, 7)
        write_jsonl(data / f"{d}.jsonl", records)
    settings = json.dumps({"seed": 7, "trust_remote_code": False,
                           "generation": {"backend": "hf", "batch_size": 4, "dtype": "float32"},
                           "decoding": {"max_new_tokens": 8, "min_new_tokens": 2}})
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run
        cmd = [sys.executable, "-m", "radis", "synthesize", "--kind", "rationale", "--model", str(embedded_backbone),
               "--directions", "cs-en", "en-de", "--data-dir", str(data), "--out-dir", str(out),
               "--settings", settings]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append([(out / f"{d}.jsonl").read_bytes() for d in ("cs-en", "en-de")])
    assert outputs[0] == outputs[1]
    assert all(json.loads(line)["rationale"] for line in outputs[0][0].decode().splitlines())
