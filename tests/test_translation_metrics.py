"""Translation metrics: sacreBLEU conventions (zh tokenizer) and the COMET path, fully offline."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub/transformers (they read it once, at import).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import sacrebleu  # noqa: E402

from radis.evaluate.translation import CometUnavailableError, score_translations  # noqa: E402

SRC = ["Der Hund läuft.", "Die Katze schläft auf dem Sofa."]
REF = ["The dog runs.", "The cat sleeps on the sofa."]


def test_perfect_match_scores_100():
    result = score_translations(SRC, REF, REF, "en")
    assert result["bleu"] == pytest.approx(100.0)
    assert result["chrf"] == pytest.approx(100.0)
    assert result["comet"] is None and result["comet_model"] is None
    assert "tok:13a" in result["bleu_signature"]
    assert result["chrf_signature"].startswith("nrefs:1")


def test_matches_sacrebleu_corpus_scores():
    hyp = ["The dog is running.", "A cat sleeps on a sofa."]
    result = score_translations(SRC, hyp, REF, "en")
    assert result["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyp, [REF]).score)
    assert result["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyp, [REF]).score)
    assert 0 < result["bleu"] < 100


def test_chinese_uses_zh_tokenizer():
    # Unsegmented Chinese: 13a sees each sentence as one token (BLEU 0); zh splits characters.
    ref = ["我喜欢吃苹果。", "今天天气很好。"]
    hyp = ["我喜欢吃香蕉。", "今天天气很好！"]
    bleu_13a = sacrebleu.corpus_bleu(hyp, [ref], tokenize="13a").score
    bleu_zh = sacrebleu.corpus_bleu(hyp, [ref], tokenize="zh").score
    assert bleu_13a == 0.0 and bleu_zh > 10.0
    result = score_translations(["I like apples.", "Nice weather."], hyp, ref, "zh")
    assert result["bleu"] == pytest.approx(bleu_zh)
    assert "tok:zh" in result["bleu_signature"]
    assert "tok:13a" in score_translations(SRC, REF, REF, "de")["bleu_signature"]


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="1 sources, 2 hypotheses, 2 references"):
        score_translations(SRC[:1], REF, REF, "en")
    with pytest.raises(ValueError, match="no hypotheses"):
        score_translations([], [], [], "en")


def test_comet_is_not_in_the_main_environment():
    # unbabel-comet holds transformers<5 and numpy<2: it lives in envs/comet.yaml, and asking for
    # COMET here says where (the COMET path itself is tested in that environment: tests/comet_env).
    with pytest.raises(CometUnavailableError, match=r"comet environment \(envs/comet.yaml\)"):
        score_translations(SRC, REF, REF, "en", comet_model="Unbabel/wmt22-comet-da")


def test_comet_suite_in_the_comet_environment(repo_root, comet_python):
    """The COMET tests run in the comet venv itself, as the score_translation rule does."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": f"{repo_root / 'src'}{os.pathsep}{repo_root / 'tests'}"}
    run = subprocess.run([str(comet_python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(repo_root / "tests/comet_env")], capture_output=True, text=True, env=env,
                         cwd=repo_root, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]


def test_one_score_job_writes_one_cell_per_direction(repo_root, tmp_path):
    """`radis score` scores every direction of a model in one process (COMET would load once) and
    writes each direction's own result file, the table cell; files must pair up one to one."""
    import json
    import subprocess
    import sys

    files = {}
    for src, tgt in (("de", "en"), ("en", "de")):
        hyp, meta = tmp_path / f"{src}-{tgt}.hyp.jsonl", tmp_path / f"{src}-{tgt}.hyp.meta.json"
        rows = [{"source": s, "hypothesis": r, "reference": r, "src_lang": src, "tgt_lang": tgt,
                 "extraction": ["label"] if i else []} for i, (s, r) in enumerate(zip(SRC, REF))]
        hyp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        meta.write_text(json.dumps({"direction": f"{src}-{tgt}"}))
        files[f"{src}-{tgt}"] = (hyp, meta, tmp_path / f"{src}-{tgt}.json")

    def score(hyps, metas, outs):
        return subprocess.run([sys.executable, "-m", "radis", "score", "--hypotheses", *map(str, hyps),
                               "--generation-meta", *map(str, metas), "--out", *map(str, outs), "--backbone", "b",
                               "--method", "m", "--settings", json.dumps({"comet_model": None, "comet_batch_size": 8})],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(repo_root / "src")})

    hyps, metas, outs = zip(*files.values())
    run = score(hyps, metas, outs)
    assert run.returncode == 0, run.stderr
    for direction, (_, _, out) in files.items():
        cell = json.loads(out.read_text())
        assert cell["direction"] == direction and cell["n"] == 2 and cell["metrics"]["bleu"] == pytest.approx(100.0)
        assert cell["extraction"]["label"] == 1 and cell["extraction"]["untouched"] == 1
        assert cell["provenance"]["generation"] == {"direction": direction}
    run = score(hyps, metas[:1], outs)
    assert run.returncode != 0 and "one --generation-meta and one --out per --hypotheses" in run.stderr
