"""Tables 1-2 layout, checked against numbers from the paper (LLaMA-2-7B-Chat rows)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from radis.io import InputError
from radis.tables import (
    choose_metric,
    load_translation_results,
    render_csv,
    render_latex,
    render_markdown,
    translation_table,
    write_table,
)

EN_X = ["en-cs", "en-de", "en-ru", "en-zh"]
X_EN = ["cs-en", "de-en", "ru-en", "zh-en"]
# Paper Table 1 (EN→X, COMET), LLaMA-2-7B-Chat block.
PAPER_T1 = {
    "base": [70.14, 75.10, 75.76, 72.57],
    "vanilla": [81.80, 82.81, 84.67, 81.96],
    "seqkd": [70.17, 74.40, 75.62, 72.93],
}
# Paper Table 2 (X→EN, COMET), LLaMA-2-7B-Chat block (zh backbone = 78.08 - 3.13).
PAPER_T2 = {"base": [79.53, 81.20, 80.36, 74.95], "vanilla": [82.74, 83.31, 82.70, 78.08]}


def cells(backbone: str, scores: dict[str, list[float]], directions: list[str]) -> list[dict]:
    return [
        {"backbone": backbone, "method": m, "direction": d,
         "metrics": {"bleu": 10.0, "chrf": s - 30, "comet": s}}
        for m, row in scores.items()
        for d, s in zip(directions, row)
    ]


@pytest.fixture
def t1():
    results = cells("llama2", PAPER_T1, EN_X)
    results += cells(
        "tiny", {"base": [50, 50, 50, 50], "vanilla": [51, 49, 50, 54], "seqkd": [50, 50, 50, 50]}, EN_X
    )
    return translation_table(results, ["llama2", "tiny"], ["vanilla", "seqkd"], EN_X, "comet",
                             backbone_names={"llama2": "LLaMA-2-7B-Chat"})


def test_layout_matches_paper_table1(t1):
    assert t1.title == "Table 1: EN→X translation (COMET)"
    assert t1.header == ("Models", "Czech", "German", "Russian", "Chinese", "Avg.")
    llama = t1.groups[0]
    assert llama.title == "Backbone LLM: LLaMA-2-7B-Chat"
    assert [r.label for r in llama.rows] == ["Backbone LLM", "w/ Vanilla-FT", "w/ Seq-KD"]
    base, vanilla, seqkd = llama.rows
    assert base.scores[-1] == 73.39 and base.deltas is None
    assert vanilla.scores == (81.80, 82.81, 84.67, 81.96, 82.81)
    assert vanilla.deltas == (11.66, 7.71, 8.91, 9.39, 9.42)
    assert seqkd.deltas == (0.03, -0.70, -0.14, 0.36, -0.11)
    md = render_markdown(t1)
    assert (
        "| w/ Vanilla-FT | 81.80 ↑11.66 | 82.81 ↑7.71 | 84.67 ↑8.91 | 81.96 ↑9.39 | 82.81 ↑9.42 |" in md
    )
    assert "| w/ Seq-KD | 70.17 ↑0.03 | 74.40 ↓0.70 |" in md
    assert "| Backbone LLM | 70.14 | 75.10 | 75.76 | 72.57 | 73.39 |" in md
    assert md.index("*Backbone LLM: LLaMA-2-7B-Chat*") < md.index("*Backbone LLM: tiny*")


def test_second_group_and_unknown_method_id():
    results = cells("tiny", {"base": [50, 50, 50, 50], "radis-llama3": [51, 49, 50, 54]}, EN_X)
    table = translation_table(results, ["tiny"], ["base", "radis-llama3"], EN_X, "comet")
    base, ext = table.groups[0].rows
    assert (base.method, ext.label) == ("base", "radis-llama3")
    assert ext.scores[-1] == 51.0 and ext.deltas == (1.0, -1.0, 0.0, 4.0, 1.0)
    assert "50.00 =0.00" in render_markdown(table)


def test_x_to_en_table2():
    table = translation_table(cells("llama2", PAPER_T2, X_EN), ["llama2"], ["vanilla"], X_EN, "comet")
    assert table.title == "Table 2: X→EN translation (COMET)"
    assert table.columns == ("Czech", "German", "Russian", "Chinese", "Avg.")
    base, vanilla = table.groups[0].rows
    assert base.scores[-1] == 79.01
    assert vanilla.deltas == (3.21, 2.11, 2.34, 3.13, 2.70)


def test_csv_parses_back_to_the_same_numbers(t1):
    rows = list(csv.DictReader(io.StringIO(render_csv(t1))))
    assert len(rows) == 3 + 3
    vanilla = rows[1]
    assert (vanilla["metric"], vanilla["backbone"], vanilla["method"], vanilla["model"]) == (
        "comet", "llama2", "vanilla", "w/ Vanilla-FT")
    for i, col in enumerate(t1.columns):
        assert float(vanilla[col]) == t1.groups[0].rows[1].scores[i]
        assert float(vanilla[f"{col} delta"]) == t1.groups[0].rows[1].deltas[i]
    assert float(rows[2]["German delta"]) == -0.70
    assert rows[0]["Czech delta"] == "" and float(rows[0]["Avg."]) == 73.39


def test_latex(t1):
    tex = render_latex(t1)
    assert r"\caption{EN$\rightarrow$X translation (COMET)}" in tex
    assert r"w/ Vanilla-FT & 81.80 $\uparrow$11.66 &" in tex
    assert r"74.40 $\downarrow$0.70" in tex
    assert r"\multicolumn{6}{c}{\textit{Backbone LLM: LLaMA-2-7B-Chat}} \\" in tex
    assert tex.count(r"\\") == 1 + 2 + 6  # header, two group rows, six model rows


def test_missing_cell_is_an_error_naming_it():
    results = cells("llama2", PAPER_T1, EN_X)
    results = [r for r in results if (r["method"], r["direction"]) != ("seqkd", "en-ru")]
    with pytest.raises(ValueError, match="backbone=llama2 method=seqkd direction=en-ru"):
        translation_table(results, ["llama2"], ["vanilla", "seqkd"], EN_X, "comet")
    with pytest.raises(ValueError, match="backbone=llama2 method=sdft direction=en-cs"):
        translation_table(results, ["llama2"], ["sdft"], EN_X, "comet")
    no_comet = cells("llama2", PAPER_T1, EN_X)
    no_comet[0]["metrics"]["comet"] = None
    with pytest.raises(ValueError, match=r"method=base direction=en-cs \(no comet\)"):
        translation_table(no_comet, ["llama2"], [], EN_X, "comet")


def test_duplicate_cell_is_an_error():
    results = cells("llama2", PAPER_T1, EN_X)
    with pytest.raises(ValueError, match="two results"):
        translation_table(results + results[:1], ["llama2"], ["vanilla"], EN_X, "comet")


def test_metric_choice_and_title():
    results = cells("llama2", PAPER_T1, EN_X)
    assert choose_metric(results) == "comet"
    results[3]["metrics"]["comet"] = None
    assert choose_metric(results) == "chrf"
    del results[4]["metrics"]["comet"]
    assert choose_metric(results) == "chrf"
    table = translation_table(results, ["llama2"], ["vanilla"], EN_X, choose_metric(results))
    assert table.title == "Table 1: EN→X translation (chrF)"
    assert table.groups[0].rows[0].scores[0] == pytest.approx(40.14)
    with pytest.raises(ValueError):
        choose_metric([])


def test_load_and_write(tmp_path, t1):
    paths = []
    for i, r in enumerate(cells("llama2", PAPER_T1, EN_X)):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps({**r, "provenance": {}}), encoding="utf-8")
    loaded = load_translation_results(paths)
    assert len(loaded) == 12 and loaded[0]["metrics"]["comet"] == 70.14
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"backbone": "x", "method": "base", "direction": "en-cs"}), encoding="utf-8")
    with pytest.raises(InputError, match="bad.json: missing or malformed 'metrics'"):
        load_translation_results([bad])
    bad.write_text(json.dumps({"backbone": "x", "method": "base", "direction": "en", "metrics": {}}))
    with pytest.raises(InputError, match="bad.json: direction 'en'"):
        load_translation_results([bad])

    written = write_table(t1, tmp_path / "tables" / "table1")
    assert [p.name for p in written] == ["table1.md", "table1.csv", "table1.tex"]
    assert written[0].read_text(encoding="utf-8") == render_markdown(t1)
    assert written[1].read_text(encoding="utf-8") == render_csv(t1)
    assert written[2].read_text(encoding="utf-8") == render_latex(t1)
    assert not list((tmp_path / "tables").glob(".*.tmp"))


# Table 3 ------------------------------------------------------------------------------------
# The paper's Table 3, LLaMA-2-7B-Chat block: MT-Bench, AlpacaEval, AlpacaEval 2.0, AdvBench, GSM8K.
PAPER_T3 = {
    "base": (6.51, 71.40, 9.66, 100.00, 21.83),
    "vanilla": (1.5, 2.18, 0.71, 37.88, 4.32),
    "seqkd": (6.59, 67.48, 8.33, 100.00, 19.48),
    "sdft": (5.66, 67.55, 7.09, 98.08, 20.02),
    "radis": (6.56, 67.94, 7.47, 100.00, 19.48),
}
BENCHMARKS = ["mtbench", "alpacaeval", "alpacaeval2", "advbench", "gsm8k"]


def _general_results(table=PAPER_T3, backbone="llama-2-7b-chat"):
    from radis.benchmarks import benchmark

    return [{"backbone": backbone, "method": m, "benchmark": k, "metrics": {benchmark(k).metric: v}}
            for m, values in table.items() for k, v in zip(BENCHMARKS, values)]


def test_table3_rp_matches_the_paper():
    from radis.tables import general_table, render_markdown

    table = general_table(_general_results(), ["llama-2-7b-chat"], ["vanilla", "seqkd", "sdft", "radis"], BENCHMARKS)
    rows = {r.method: r for r in table.groups[0].rows}
    # hand-computed from the paper's own numbers: the paper prints 18.22, 94.24, 88.95 and 92.50
    assert rows["vanilla"].scores[-1] == 18.22
    assert rows["seqkd"].scores[-1] == 94.24
    assert rows["sdft"].scores[-1] == 88.95
    assert rows["radis"].scores[-1] == 92.50
    assert rows["base"].scores[-1] == "-"
    # deltas are to Vanilla-FT: RaDis MT-Bench 6.56 ↑5.06, RP 92.50 ↑74.28 (paper: 74.27, from unrounded RP)
    assert rows["radis"].deltas[0] == 5.06 and rows["radis"].deltas[-1] == 74.28
    assert rows["vanilla"].deltas is None and rows["base"].deltas is None
    md = render_markdown(table)
    assert "| w/ RaDis | 6.56 ↑5.06 | 67.94 ↑65.76 |" in md and "RP[%]" in md


def test_table3_na_cells_and_rp_without_zero_backbone_scores():
    from radis.tables import general_table, render_csv

    results = _general_results({"base": (5.0, 50.0, 10.0, 80.0, 0.0), "vanilla": (2.5, 25.0, 5.0, 40.0, 0.0),
                                "radis": (5.0, 50.0, 10.0, 80.0, 4.0)}, "tiny")
    for r in results:
        if r["method"] == "radis" and r["benchmark"] == "alpacaeval2":
            r["metrics"] = {"win_rate": "n/a: judge gave no logprobs"}
    table = general_table(results, ["tiny"], ["vanilla", "radis"], BENCHMARKS)
    rows = {r.method: r for r in table.groups[0].rows}
    assert rows["vanilla"].scores[-1] == 50.0  # GSM8K left out: the backbone scores 0
    assert rows["radis"].scores[2] == "n/a: judge gave no logprobs"
    assert rows["radis"].scores[-1] == 100.0 and rows["radis"].deltas[2] is None
    assert any("GSM8K" in note for note in table.notes)
    assert "n/a: judge gave no logprobs" in render_csv(table)


def test_figure1_places_scored_models_and_names_the_rest(tmp_path):
    import json

    from radis.tables import figure1

    translation = [{"backbone": "b", "method": m, "direction": d, "metrics": {"chrf": v}}
                   for m, v in (("base", 40.0), ("radis", 50.0)) for d in ("cs-en", "en-cs")]
    general = [{"backbone": "b", "method": "base", "benchmark": "mtbench", "metrics": {"score": 6.5}},
               {"backbone": "b", "method": "radis", "benchmark": "mtbench",
                "metrics": {"score": "n/a: 2 of 2 judgments had no [[rating]]"}}]
    points = figure1(translation, general, tmp_path / "f.png", "chrf")
    assert (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")
    assert points[0] == {"backbone": "b", "method": "base", "translation": 40.0, "mtbench": 6.5, "group": "b",
                         "label": "Backbone LLM"}
    assert points[1]["mtbench"].startswith("n/a: 2 of 2")
    json.dumps(points)


def test_table5_rows_columns_and_bold_best_variant():
    """Paper Table 5: the backbone's row, Vanilla-FT, then the RaDis variants; in every column the
    best RaDis variant is bold (the backbone and Vanilla-FT rows never are)."""
    from radis.benchmarks import benchmark
    from radis.tables import render_latex, render_markdown, table5

    methods = ("base", "vanilla", "radis", "radis-llama")
    translation = [{"backbone": "m", "method": meth, "direction": d, "metrics": {"comet": v}}
                   for meth, base in zip(methods, (90.0, 80.0, 81.0, 82.0))
                   for d, v in (("cs-en", base), ("de-en", base + 2), ("en-cs", base - 10))]
    general = [{"backbone": "m", "method": meth, "benchmark": k,
                "metrics": {benchmark(k).metric: 9.0 if meth == "base" else 2.0 if meth == "radis" else 1.0}}
               for meth in methods for k in BENCHMARKS]
    table = table5(translation, general, ["m"], {"m": ["vanilla", "radis", "radis-llama"]},
                   {"radis-llama": {"backbone": "llama-2-7b-chat"}}, BENCHMARKS, "comet",
                   backbone_names={"m": "Mistral-7B-Instruct-v0.2", "llama-2-7b-chat": "LLaMA-2-7B-Chat"})
    assert table.header[:3] == ("Models", "X→EN", "EN→X")
    rows = table.groups[0].rows
    assert [r.label for r in rows] == ["Mistral-7B-Instruct-v0.2", "w/ Vanilla-FT", "w/ RaDis (Self-generated)",
                                       "w/ RaDis (LLaMA-2-7B-Chat)"]
    assert rows[0].scores[:2] == (91.0, 80.0) and rows[3].scores[:2] == (83.0, 72.0)  # X→EN: cs-en, de-en
    assert rows[0].best is None and rows[1].best is None  # higher than every variant, still not bold
    assert rows[2].best == (False, False, *(True,) * len(BENCHMARKS))
    assert rows[3].best == (True, True, *(False,) * len(BENCHMARKS))
    md = render_markdown(table)
    assert "| w/ RaDis (LLaMA-2-7B-Chat) | **83.00** | **72.00** | 1.00 |" in md
    assert "| Mistral-7B-Instruct-v0.2 | 91.00 | 80.00 | 9.00 |" in md
    assert r"\textbf{83.00} & \textbf{72.00} & 1.00" in render_latex(table)
# Drift from backbone (Tables 3 and 5; not in the paper) ---------------------------------------
def _drift(backbone, values):
    return [{"backbone": backbone, "method": m, "metrics": {"kl": kl, "delta_nll": dnll}}
            for m, (kl, dnll) in values.items()]


def test_table3_drift_columns_follow_rp_with_three_decimals_and_deltas_to_vanilla():
    from radis.tables import DRIFT_COLUMNS, general_table, render_csv, render_latex, render_markdown

    drift = _drift("llama-2-7b-chat", {"vanilla": (0.41234, 0.9), "seqkd": (0.02, 0.011), "sdft": (0.05, 0.04),
                                       "radis": (0.0306, 0.0104)})
    table = general_table(_general_results(), ["llama-2-7b-chat"], ["vanilla", "seqkd", "sdft", "radis"], BENCHMARKS,
                          drift=drift)
    assert table.header[-3:] == ("RP[%]", *DRIFT_COLUMNS)
    rows = {r.method: r for r in table.groups[0].rows}
    assert rows["base"].scores[-2:] == ("-", "-")  # the backbone is the reference
    assert rows["vanilla"].scores[-2:] == (0.412, 0.9)
    assert rows["radis"].scores[-3] == 92.50  # RP is over the benchmarks only
    assert rows["radis"].deltas[-2:] == (-0.381, -0.89)  # to Vanilla-FT, at the drift columns' precision
    md = render_markdown(table)
    assert "| 92.50 ↑74.28 | 0.031 ↓0.381 | 0.010 ↓0.890 |" in md
    assert any("not in the paper" in note for note in table.notes)
    assert "0.031,-0.381,,,,,0.010,-0.890,,,," in render_csv(table)  # score, delta, low, high, p, seed sd
    assert r"0.031 $\downarrow$0.381" in render_latex(table)


def test_table3_without_a_methods_drift_result_names_the_cell():
    import pytest

    from radis.tables import general_table

    with pytest.raises(ValueError, match="backbone=llama-2-7b-chat method=radis drift"):
        general_table(_general_results(), ["llama-2-7b-chat"], ["vanilla", "seqkd", "sdft", "radis"], BENCHMARKS,
                      drift=_drift("llama-2-7b-chat", {"vanilla": (0.4, 0.9), "seqkd": (0.0, 0.0),
                                                       "sdft": (0.0, 0.0)}))


def test_table5_gets_the_drift_columns():
    from radis.benchmarks import benchmark
    from radis.tables import render_markdown, table5

    translation = [{"backbone": "m", "method": meth, "direction": "cs-en", "metrics": {"comet": 80.0}}
                   for meth in ("base", "vanilla", "radis")]
    general = [{"backbone": "m", "method": meth, "benchmark": "mtbench",
                "metrics": {benchmark("mtbench").metric: 5.0}} for meth in ("base", "vanilla", "radis")]
    table = table5(translation, general, ["m"], {"m": ["vanilla", "radis"]}, {}, ["mtbench"], "comet",
                   drift=_drift("m", {"vanilla": (0.2, 0.3), "radis": (0.0123, None)}))
    assert table.header[-2:] == ("Drift KL", "Drift ΔNLL")
    md = render_markdown(table)
    assert "| **5.00** | 0.012 | n/a: no answer tokens |" in md  # drift is shown, never bold
    assert "| m | 80.00 | n/a: no EN→X result | 5.00 | - | - |" in md  # the backbone is the reference
    assert any("not in the paper" in note for note in table.notes)


def test_drift_figure_places_gain_against_kl_and_names_a_model_without_answer_tokens(tmp_path):
    from radis.tables import drift_figure

    translation = [{"backbone": "b", "method": m, "direction": d, "metrics": {"chrf": v + (2.0 if d == "en-cs" else 0)}}
                   for m, v in (("base", 40.0), ("vanilla", 46.0), ("radis", 45.5), ("sdft", 39.0))
                   for d in ("cs-en", "en-cs")]
    drift = _drift("b", {"vanilla": (0.41234, 0.9), "radis": (0.0501, 0.04), "sdft": (None, None)})
    points = drift_figure(translation, drift, tmp_path / "d.png", "chrf")
    assert (tmp_path / "d.png").read_bytes().startswith(b"\x89PNG")
    by = {p["method"]: p for p in points}
    assert (by["vanilla"]["gain"], by["vanilla"]["drift_kl"], by["vanilla"]["drift_delta_nll"]) == (6.0, 0.412, 0.9)
    assert (by["radis"]["gain"], by["radis"]["drift_kl"]) == (5.5, 0.05)
    assert by["sdft"]["gain"] == -1.0 and by["sdft"]["drift_kl"].startswith("n/a")
    assert by["radis"]["directions"] == ["cs-en", "en-cs"]
    json.dumps(points)


def test_drift_figure_without_the_backbones_translation_names_the_model(tmp_path):
    from radis.tables import drift_figure

    translation = [{"backbone": "b", "method": "radis", "direction": "cs-en", "metrics": {"chrf": 45.0}}]
    with pytest.raises(InputError, match="backbone=b method=radis"):
        drift_figure(translation, _drift("b", {"radis": (0.1, 0.1)}), tmp_path / "d.png", "chrf")


# --- intervals and paired tests from the cells' segments (issue 25) ------------------------------

def _segment_cells(scores: dict[str, list[float]], n: int = 200) -> list[dict]:
    """Cells whose COMET segment scores average to the given scores: a method is the backbone plus
    a constant per direction (a clear difference) plus noise; "same" repeats the backbone's segments."""
    import numpy as np

    rng = np.random.default_rng(0)
    base = {d: rng.normal(0.5, 0.2, n) for d in EN_X}
    out = []
    for m, row in scores.items():
        for d, target in zip(EN_X, row):
            seg = base[d] if m in ("base", "same") else base[d] + rng.normal(0, 0.02, n)
            seg = seg - seg.mean() + target / 100
            out.append({"backbone": "b", "method": m, "direction": d,
                        "metrics": {"comet": float(100 * seg.mean()), "chrf": 1.0, "bleu": 1.0},
                        "segments": {"items": "fp", "comet": seg.tolist()}})
    return out


def test_scores_get_intervals_and_deltas_paired_tests():
    results = _segment_cells({"base": [50, 50, 50, 50], "vanilla": [58, 50.02, 55, 57], "same": [50, 50, 50, 50]})
    table = translation_table(results, ["b"], ["vanilla", "same"], EN_X, "comet")
    base, vanilla, same = table.groups[0].rows
    assert base.uncertainty is not None and all(u.p_value is None for u in base.uncertainty)
    for row in (base, vanilla):
        for score, u in zip(row.scores, row.uncertainty):
            assert u.low < score < u.high and 0.5 < u.half_width < 5  # 200 items of spread 20
    # 8 COMET points on the same items are far beyond the noise; 0.02 points are not
    assert [u.significant for u in vanilla.uncertainty] == [True, False, True, True, True]
    assert not any(u.significant for u in same.uncertainty)  # a model compared with itself
    md = render_markdown(table)
    assert re.search(r"\| w/ Vanilla-FT \| 58\.00 ±\d\.\d\d ↑8\.00† \| 50\.02 ±\d\.\d\d ↑0\.02 \|", md), md
    assert "±: half the 95% bootstrap interval over the test items (1000 resamples, seed 12345)" in md
    assert "†: the delta to the backbone differs from zero at p < 0.05" in md
    assert r"$_{\pm " in render_latex(table) and r"$^\dagger$" in render_latex(table)
    rows = list(csv.DictReader(io.StringIO(render_csv(table))))
    v = next(r for r in rows if r["method"] == "vanilla")
    assert float(v["Czech low"]) < 58 < float(v["Czech high"]) and float(v["Czech p"]) < 0.05
    assert float(v["German p"]) > 0.05 and next(r for r in rows if r["method"] == "base")["Czech p"] == ""


def test_cells_without_segments_have_no_interval_and_the_table_says_so():
    results = _segment_cells({"base": [50, 50, 50, 50], "vanilla": [58, 50, 55, 57]})
    for r in results:
        if r["method"] == "vanilla" and r["direction"] == "en-cs":
            del r["segments"]
    table = translation_table(results, ["b"], ["vanilla"], EN_X, "comet")
    vanilla = table.groups[0].rows[1]
    assert vanilla.uncertainty[0] is None and vanilla.uncertainty[-1] is None  # nor the average over it
    assert vanilla.uncertainty[1] is not None
    assert any("2 score(s) without ± kept no per-item scores (rerun score_translation)" in n for n in table.notes)
    bare = translation_table(cells("llama2", PAPER_T1, EN_X), ["llama2"], ["vanilla"], EN_X, "comet")
    assert bare.notes == ("No intervals: the cells kept no per-item scores (rerun score_translation).",)


def test_table3_intervals_paired_tests_to_vanilla_and_rp_interval():
    """Per-item scores (radis.stats.item_scores) under each cell: MT-Bench ratings per question,
    0/100 per item for the rates. RaDis differs from Vanilla-FT item by item on every benchmark;
    Seq-KD is Vanilla-FT's twin on MT-Bench (same ratings, so no mark)."""
    import numpy as np

    from radis.benchmarks import benchmark
    from radis.stats import item_scores
    from radis.tables import general_table, render_markdown

    rng = np.random.default_rng(1)
    n = 80
    level = {"base": 0.8, "vanilla": 0.2, "seqkd": 0.2, "radis": 0.75}
    ratings = {m: np.clip(rng.normal(10 * p, 1.0, (n, 2)).round(), 1, 10) for m, p in level.items()}
    ratings["seqkd"] = ratings["vanilla"]
    results = []
    for m, p in level.items():
        for k in BENCHMARKS:
            if k == "mtbench":
                items = item_scores(range(n), ratings[m].sum(1), [2] * n)
            else:
                hits = (rng.random(n) < p).astype(float)
                items = item_scores(range(n), hits, scale=100.0)
            score = items["scale"] * sum(items["num"]) / sum(items["den"])
            results.append({"backbone": "b", "method": m, "benchmark": k,
                            "metrics": {benchmark(k).metric: score}, "items": items})
    table = general_table(results, ["b"], ["vanilla", "seqkd", "radis"], BENCHMARKS)
    rows = {r.method: r for r in table.groups[0].rows}
    for row in rows.values():
        for score, u in zip(row.scores[:6], row.uncertainty):
            assert u is None or u.low <= score <= u.high
    assert all(u.significant for u in rows["radis"].uncertainty)  # every benchmark and RP
    assert not rows["seqkd"].uncertainty[0].significant and rows["seqkd"].uncertainty[0].p_value == 1.0
    assert rows["base"].uncertainty[-1] is None and rows["vanilla"].uncertainty[-1].p_value is None  # no RP delta
    rp = rows["radis"].uncertainty[-1]
    assert rp.low < rows["radis"].scores[5] < rp.high
    md = render_markdown(table)
    assert "†: the delta to Vanilla-FT differs from zero at p < 0.05" in md and "↑" in md and "†" in md


def test_drift_columns_get_intervals_over_the_answers_and_paired_tests_to_vanilla():
    """drift.json keeps each answer's summed KL and NLLs: resampled token-weighted means around the
    printed drift, and RaDis's far smaller drift than Vanilla-FT's marked."""
    import numpy as np

    from radis.tables import general_table

    rng = np.random.default_rng(2)

    def drift_record(m: str, level: float) -> dict:
        per_answer = []
        for i in range(60):
            n = int(rng.integers(10, 40))
            per_answer.append({"set": "mtbench", "id": i, "n_tokens": n, "kl_sum": n * level * rng.uniform(0.5, 1.5),
                               "nll_backbone_sum": n * 1.0, "nll_model_sum": n * (1.0 + level * rng.uniform(0.5, 1.5))})
        n = sum(a["n_tokens"] for a in per_answer)
        kl = sum(a["kl_sum"] for a in per_answer) / n
        dnll = sum(a["nll_model_sum"] - a["nll_backbone_sum"] for a in per_answer) / n
        return {"backbone": "llama-2-7b-chat", "method": m, "metrics": {"kl": kl, "delta_nll": dnll},
                "per_answer": per_answer}

    drift = [drift_record(m, level) for m, level in (("vanilla", 0.4), ("seqkd", 0.05), ("sdft", 0.05),
                                                     ("radis", 0.03))]
    table = general_table(_general_results(), ["llama-2-7b-chat"], ["vanilla", "seqkd", "sdft", "radis"], BENCHMARKS,
                          drift=drift)
    rows = {r.method: r for r in table.groups[0].rows}
    kl, dnll = rows["radis"].uncertainty[-2:]
    assert kl.low <= rows["radis"].scores[-2] <= kl.high and dnll.low <= rows["radis"].scores[-1] <= dnll.high
    assert kl.significant and dnll.significant  # against Vanilla-FT's drift, ten times larger
    assert rows["vanilla"].uncertainty[-1].p_value is None and rows["base"].uncertainty is None


def test_a_method_trained_with_several_seeds_is_their_mean_with_the_spread_across_seeds():
    """Three seeds of Vanilla-FT: the cell is the mean of the seeds' scores, its interval resamples
    the same items for every seed (the mean over seeds of each seed's resampled score), and sd is
    the standard deviation of the seeds' scores; a one-seed table has none of it."""
    import statistics

    import numpy as np

    from radis.stats import interval, resample_indices, resampled_scores
    from radis.tables import seeded, TRANSLATION_KEY

    seeds = [42, 7, 1]
    per_seed = {42: [58, 50, 55, 57], 7: [57, 51, 54, 57], 1: [59, 52, 53, 60]}
    results = _segment_cells({"base": [50, 50, 50, 50]})
    for s, row in per_seed.items():
        for r in _segment_cells({"vanilla": row}):
            results.append({**r, "method": "vanilla" if s == 42 else f"vanilla@{s}"})

    def build(translation):
        return translation_table(translation, ["b"], ["vanilla"], EN_X, "comet")

    table = seeded(build, seeds, translation=(results, TRANSLATION_KEY))
    base, vanilla = table.groups[0].rows
    assert vanilla.scores[:4] == tuple(round(sum(per_seed[s][c] for s in seeds) / 3, 2) for c in range(4))
    assert vanilla.seed_sd[0] == pytest.approx(statistics.stdev([58, 57, 59]))
    assert vanilla.seed_sd[-1] == pytest.approx(statistics.stdev([sum(per_seed[s]) / 4 for s in seeds]))
    assert base.seed_sd is None
    # the interval: every seed's segments on the same resamples of the direction's items, averaged
    indices = resample_indices(200, 1000, 12345)  # en-cs is column 0
    mine = [r["segments"]["comet"] for r in results if r["direction"] == "en-cs" and r["method"] != "base"]
    expected = interval(np.mean([resampled_scores("comet", s, indices) for s in mine], axis=0))
    assert (vanilla.uncertainty[0].low, vanilla.uncertainty[0].high) == pytest.approx(expected)
    assert vanilla.uncertainty[0].significant
    md = render_markdown(table)
    assert re.search(r"\| w/ Vanilla-FT \| 58\.00 ±\d\.\d\d sd 1\.00 ↑8\.00† \|", md), md
    assert "mean over 3 seeds (42, 7, 1: experiment.seeds)" in md
    row = next(r for r in csv.DictReader(io.StringIO(render_csv(table))) if r["method"] == "vanilla")
    assert row["Czech seed sd"] == "1.00" and row["Czech"] == "58.00"
    one = seeded(build, [42], translation=([r for r in results if "@" not in r["method"]], TRANSLATION_KEY))
    assert all(r.seed_sd is None for r in one.groups[0].rows) and not any("seeds" in n for n in one.notes)


def test_a_seed_identical_to_the_backbone_is_never_marked():
    """Two seeds that both reproduce the backbone's segments: delta 0, p = 1, no mark, sd 0."""
    from radis.tables import seeded, TRANSLATION_KEY

    results = _segment_cells({"base": [50, 50, 50, 50]})
    for name in ("same", "same@7"):
        results += [{**r, "method": name} for r in _segment_cells({"same": [50, 50, 50, 50]})]
    table = seeded(lambda translation: translation_table(translation, ["b"], ["same"], EN_X, "comet"), [42, 7],
                   translation=(results, TRANSLATION_KEY))
    same = table.groups[0].rows[1]
    assert same.deltas == (0.0,) * 5 and all(u.p_value == 1.0 and not u.significant for u in same.uncertainty)
    assert same.seed_sd == (0.0,) * 5


def test_table3_pools_seeds_of_items_and_drift():
    """Table 3 with two seeds: each benchmark's score and drift is the mean over seeds, and the
    intervals come from both seeds' items on the same resamples."""
    from radis.benchmarks import benchmark
    from radis.stats import item_scores
    from radis.tables import DRIFT_KEY, GENERAL_KEY, general_table, seeded

    results, drift = [], []
    for m, hits in (("base", [1, 1, 1, 0]), ("vanilla", [0, 0, 1, 0]), ("vanilla@7", [0, 1, 1, 0])):
        items = item_scores(range(4), hits, scale=100.0)
        results.append({"backbone": "b", "method": m, "benchmark": "advbench",
                        "metrics": {benchmark("advbench").metric: 25.0 * sum(hits)}, "items": items})
        if m != "base":
            per_answer = [{"set": "mtbench", "id": i, "n_tokens": 10, "kl_sum": 10 * (0.1 + 0.1 * sum(hits)),
                           "nll_backbone_sum": 10.0, "nll_model_sum": 11.0} for i in range(5)]
            drift.append({"backbone": "b", "method": m, "metrics": {"kl": 0.1 + 0.1 * sum(hits), "delta_nll": 0.1},
                          "per_answer": per_answer})
    table = seeded(lambda general, drift: general_table(general, ["b"], ["vanilla"], ["advbench"], drift=drift),
                   [42, 7], general=(results, GENERAL_KEY), drift=(drift, DRIFT_KEY))
    vanilla = table.groups[0].rows[1]
    assert vanilla.scores[0] == 37.5 and vanilla.scores[2] == pytest.approx(0.25)  # (25 + 50) / 2, (0.2 + 0.3) / 2
    assert vanilla.seed_sd[0] == pytest.approx(17.6777, abs=1e-3)
    assert vanilla.uncertainty[0].low <= 37.5 <= vanilla.uncertainty[0].high
    kl = vanilla.uncertainty[2]
    assert kl.low == pytest.approx(0.25) and kl.high == pytest.approx(0.25)  # every answer drifts alike


def test_drift_figure_has_error_bars_from_the_intervals(tmp_path):
    from radis.tables import drift_figure

    translation = _segment_cells({"base": [50, 50, 50, 50], "vanilla": [58, 50, 55, 57]})
    per_answer = [{"set": "mtbench", "id": i, "n_tokens": 10, "kl_sum": float(i), "nll_backbone_sum": 10.0,
                   "nll_model_sum": 10.5} for i in range(30)]
    drift = [{"backbone": "b", "method": "vanilla", "metrics": {"kl": sum(range(30)) / 300, "delta_nll": 0.05},
              "per_answer": per_answer}]
    (point,) = drift_figure(translation, drift, tmp_path / "d.png", "comet")
    low, high = point["gain_interval"]
    assert low < point["gain"] == 5.0 < high
    low, high = point["drift_kl_interval"]
    assert low < point["drift_kl"] < high
