"""General-ability data: fetching (mirror and pinned download), AdvBench and AlpacaEval readers."""

from pathlib import Path

import pytest
import yaml

from radis.benchmarks import EvalFile, benchmarks, datasets
from radis.data.general import fetch
from radis.evaluate import advbench, alpacaeval
from radis.io import InputError

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "workflow/resources/demo"
SHARED = REPO.parent / "shared/data"


def test_every_benchmark_ships_a_demo_subset_in_the_upstream_layout(tmp_path):
    for dataset in datasets():
        for path in fetch(dataset, tmp_path, "mirror", DEMO):
            assert path.stat().st_size > 0
    assert len(advbench.load_behaviors(tmp_path / "advbench/harmful_behaviors.csv")) == 16
    refs = [alpacaeval.load_reference(tmp_path / rel) for rel in (benchmarks()[b].reference for b in ("alpacaeval", "alpacaeval2"))]
    assert [r["instruction"] for r in refs[0]] == [r["instruction"] for r in refs[1]]
    assert {r["generator"] for r in refs[0]} == {"text_davinci_003"}


def test_a_missing_mirror_file_is_named(tmp_path):
    with pytest.raises(InputError, match="advbench/harmful_behaviors.csv"):
        fetch("advbench", tmp_path / "out", "mirror", tmp_path)


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data (the full real copies)")
def test_download_checks_the_pinned_sha256(tmp_path, monkeypatch):
    # file:// URLs stand in for the pinned raw.githubusercontent.com files (same bytes upstream).
    real = datasets()["advbench"][0]
    local = EvalFile(real.path, (SHARED / real.path).as_uri(), real.sha256)
    monkeypatch.setitem(datasets(), "advbench", (local,))
    (path,) = fetch("advbench", tmp_path, "download")
    assert len(advbench.load_behaviors(path)) == 520
    tampered = EvalFile(real.path, local.url, "0" * 64)
    monkeypatch.setitem(datasets(), "advbench", (tampered,))
    with pytest.raises(InputError, match="sha256"):
        fetch("advbench", tmp_path / "again", "download")
    assert not (tmp_path / "again" / real.path).exists()  # nothing half-verified is left behind


def test_advbench_reader_and_safe_rate(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("goal,target\nDo X,Sure\n,Sure\n")
    with pytest.raises(InputError, match="bad.csv:3"):
        advbench.load_behaviors(bad)
    rate = advbench.safe_rate([True, False, None, True])
    assert rate == {"safe_rate": 50.0, "n": 4, "safe": 2, "parse_failures": 1}


def test_alpacaeval_annotator_points_at_the_judge_model(tmp_path):
    path = alpacaeval.annotator_config("weighted_alpaca_eval_gpt4_turbo", "my-judge", tmp_path)
    config = yaml.safe_load(path.read_text())["weighted_alpaca_eval_gpt4_turbo"]
    assert config["completions_kwargs"]["model_name"] == "my-judge"
    assert config["completions_kwargs"]["logprobs"] is True  # the weighted annotator reads logprobs
    assert Path(config["prompt_template"]).is_file()
    assert config["fn_completions"] == alpacaeval.FN_COMPLETIONS  # its calls go through our judge client
    with pytest.raises(InputError, match="unknown AlpacaEval annotator"):
        alpacaeval.annotator_config("no_such_annotator", "x", tmp_path)
    with pytest.raises(InputError, match="'claude' asks 'anthropic_completions'"):
        alpacaeval.annotator_config("claude", "x", tmp_path)
    with pytest.raises(InputError, match="function calling"):
        alpacaeval.annotator_config("alpaca_eval_gpt4_fn", "x", tmp_path)


@pytest.mark.parametrize("tops, parsed", [({"m": 0.7, "M": 0.3}, True), ({"x": 0.9, "y": 0.1}, False)])
def test_alpacaeval_judges_through_chat_and_counts_unparsed_preferences(tmp_path, tops, parsed):
    """Through a real OpenAI-compatible HTTP server, with a judge named like a served
    Llama-3-70B-Instruct (alpaca_eval would send an "*instruct*" name to the legacy completions
    API): the weighted annotator's preference comes from the "m"/"M" logprobs; when no judgement
    has them, the cell is "n/a" with the count, not a crash."""
    from fake_openai import FakeOpenAI

    reference = alpacaeval.load_reference(DEMO / "alpaca_eval/results/text_davinci_003/model_outputs.json")[:2]
    outputs = alpacaeval.model_outputs(reference, ["An answer.", "Another answer."], "tiny-model")
    from radis.judges.client import JudgeClient, JudgeConfig

    with FakeOpenAI(top_logprobs=lambda body: tops) as fake:
        client = JudgeClient(JudgeConfig(name="big", model="llama-3-70b-instruct", base_url=fake.base_url),
                             tmp_path / "calls")
        result = alpacaeval.evaluate(outputs, reference, annotator="weighted_alpaca_eval_gpt4_turbo", client=client,
                                     caching_path=tmp_path / "cache.json", work_dir=tmp_path / "work")
    assert len(fake.answered) == 2 and all("messages" in body for body in fake.answered)
    assert (result["n_judgments"], result["n_parse_failures"]) == (2, 0 if parsed else 2)
    if parsed:
        assert 0.0 <= result["win_rate"] <= 100.0
    else:
        assert result["win_rate"] == "n/a: none of 2 judgements had a parseable preference"
