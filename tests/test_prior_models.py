"""Prior LLM-based MT models (ParroT, BigTrans, BayLing, ALMA): their own prompt formats, delta
weights, and their group in Tables 1-3 and Figure 1."""

from __future__ import annotations

import csv
import io

import pytest

from radis.config import PROMPT_FORMATS_DIR, load_prompt_format
from radis.languages import Direction
from radis.prompts import format_translation_prompt
from radis.settings import ConfigError
from radis.tables import NOT_SHOWN, PRIOR_GROUP, general_table, render_csv, render_markdown, translation_table

FORMATS = sorted(p.stem for p in PROMPT_FORMATS_DIR.glob("*.yaml"))
CHAT = [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "And another?"}]


def test_the_papers_four_formats_exist():
    assert FORMATS == ["alma", "bayling", "bigtrans", "parrot"]


@pytest.mark.parametrize("name", FORMATS)
def test_format_renders_translation_and_chat(name):
    from transformers.utils.chat_template_utils import _compile_jinja_template

    fmt = load_prompt_format(name)
    prompt = format_translation_prompt(fmt, "<s>", Direction("de", "en"), "Ein {geschweifter} Satz.")
    assert prompt.startswith("<s>") and "Ein {geschweifter} Satz." in prompt
    assert prompt.count("<s>") == 1
    chat = _compile_jinja_template(fmt["chat_template"]).render(
        messages=CHAT, bos_token="<s>", eos_token="</s>", add_generation_prompt=True)
    assert chat.startswith("<s>") and chat.count("<s>") == 1
    # every turn is there, in order; the finished assistant turn is closed; the open one is not
    assert chat.index("Name a colour.") < chat.index("Blue.</s>") < chat.index("And another?")
    assert not chat.rstrip().endswith("</s>")


def test_language_names_of_a_format():
    fmt = load_prompt_format("bigtrans")
    prompt = format_translation_prompt(fmt, "", Direction("zh", "en"), "你好")
    assert "请将以下中文句子翻译成英语：你好" in prompt
    alma = format_translation_prompt(load_prompt_format("alma"), "", Direction("en", "cs"), "Hello")
    assert alma == "Translate this from English to Czech:\nEnglish: Hello\nCzech:"


def test_a_format_file_missing_a_key_is_refused(monkeypatch, tmp_path):
    import radis.config as config

    (tmp_path / "half.yaml").write_text("translation: '{source}'\n")
    monkeypatch.setattr(config, "PROMPT_FORMATS_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"half.yaml: missing or non-string key\(s\) chat_template"):
        config.load_prompt_format("half")


# Paper Table 1 (EN→X, COMET): ParroT is reported for German and Chinese only.
EN_X = ["en-cs", "en-de", "en-ru", "en-zh"]
PRIOR = {"parrot-7b": {"label": "ParroT", "directions": ["de-en", "zh-en", "en-de", "en-zh"]},
         "alma-7b": {"label": "ALMA-7B"}}


def _cells(model, method, scores, directions=EN_X):
    return [{"backbone": model, "method": method, "direction": d, "metrics": {"comet": s}}
            for d, s in zip(directions, scores) if s is not None]


def test_prior_group_comes_last_without_deltas():
    results = (_cells("parrot-7b", "base", [None, 81.20, None, 79.30])
               + _cells("alma-7b", "base", [89.05, 85.45, 87.05, 84.87])
               + _cells("llama2", "base", [70.14, 75.10, 75.76, 72.57])
               + _cells("llama2", "radis", [80.0, 80.0, 80.0, 80.0]))
    table = translation_table(results, ["llama2"], ["radis"], EN_X, "comet", prior=PRIOR)
    backbone_group, prior_group = table.groups  # the paper prints the prior MT models last
    assert prior_group.title == PRIOR_GROUP
    parrot, alma = prior_group.rows
    assert parrot.scores == (NOT_SHOWN, 81.20, NOT_SHOWN, 79.30, NOT_SHOWN)  # the paper leaves Avg. empty too
    assert alma.scores == (89.05, 85.45, 87.05, 84.87, 86.61)  # paper: 86.61
    assert parrot.deltas is None and alma.deltas is None
    assert backbone_group.rows[1].deltas is not None
    md = render_markdown(table)
    assert md.index("| w/ RaDis |") < md.index("*Prior LLM-based MT models*") < md.index(
        "| ParroT | - | 81.20 | - | 79.30 | - |")
    rows = list(csv.DictReader(io.StringIO(render_csv(table))))
    assert [(r["backbone"], r["method"], r["model"]) for r in rows[-2:]] == [
        ("parrot-7b", "base", "ParroT"), ("alma-7b", "base", "ALMA-7B")]


def test_a_missing_prior_cell_is_named():
    results = _cells("alma-7b", "base", [89.05, 85.45, None, 84.87]) + _cells("b", "base", [1, 2, 3, 4])
    with pytest.raises(ValueError, match="backbone=alma-7b method=base direction=en-ru"):
        translation_table(results, ["b"], [], EN_X, "comet", prior={"alma-7b": {}})


def test_table3_prior_rows_have_no_rp():
    benchmarks = ["mtbench", "advbench", "gsm8k"]
    key = {"mtbench": "score", "advbench": "safe_rate", "gsm8k": "strict_match"}

    def res(model, method, values):
        return [{"backbone": model, "method": method, "benchmark": k, "metrics": {key[k]: v}}
                for k, v in zip(benchmarks, values)]

    results = (res("bigtrans-13b", "base", [1.73, 50.0, 0.0]) + res("b", "base", [6.0, 90.0, 20.0])
               + res("b", "vanilla", [5.0, 80.0, 10.0]))
    table = general_table(results, ["b"], ["vanilla"], benchmarks,
                          prior={"bigtrans-13b": {"label": "BigTrans", "benchmarks": ["mtbench", "gsm8k"]}})
    assert [g.title for g in table.groups] == ["Backbone LLM: b", PRIOR_GROUP]
    (row,) = table.groups[1].rows
    assert row.label == "BigTrans" and row.scores == (1.73, NOT_SHOWN, 0.0, NOT_SHOWN)


def test_figure1_groups_the_prior_models(tmp_path):
    from radis.tables import figure1

    translation = _cells("alma-7b", "base", [80.0] * 4) + _cells("b", "base", [70.0] * 4)
    general = [{"backbone": m, "method": "base", "benchmark": "mtbench", "metrics": {"score": s}}
               for m, s in (("alma-7b", 2.8), ("b", 6.0))]
    points = figure1(translation, general, tmp_path / "f.png", "comet", prior={"alma-7b": {"label": "ALMA-7B"}})
    by_model = {p["backbone"]: p for p in points}
    assert by_model["alma-7b"]["group"] == PRIOR_GROUP and by_model["alma-7b"]["label"] == "ALMA-7B"
    assert by_model["b"]["group"] == "b"


def test_materialised_prior_model_speaks_its_format(embedded_backbone, tmp_path):
    """A local model with a prompt format: the tokenizer renders ALMA's plain-text chat, and the
    translation prompts of `radis translate` are ALMA's own."""
    from transformers import AutoTokenizer

    from radis.backbones import materialise
    from radis.evaluate.translation import translation_prompts

    spec = {"source": {"kind": "local", "path": str(embedded_backbone)}, "prompt_format": load_prompt_format("alma")}
    out = tmp_path / "alma-prompt"
    record = materialise("alma-prompt", spec, out)
    assert record["prompt_format"] == "alma"
    tok = AutoTokenizer.from_pretrained(out)
    chat = tok.apply_chat_template(CHAT[:1], tokenize=False, add_generation_prompt=True)
    assert chat == tok.bos_token + "Name a colour.\n"
    (prompt,) = translation_prompts(tok, [{"src_lang": "de", "tgt_lang": "en", "source": "Hallo Welt."}], 1,
                                    load_prompt_format("alma"))
    assert prompt == tok.bos_token + "Translate this from German to English:\nGerman: Hallo Welt.\nEnglish:"
    # the backbone itself keeps its ChatML template
    assert "<|im_start|>user" in AutoTokenizer.from_pretrained(embedded_backbone).apply_chat_template(
        CHAT[:1], tokenize=False)


def test_delta_weights_are_added_to_the_base(embedded_backbone, tmp_path):
    """BayLing-style release: the model is base + delta, tensor by tensor."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from radis.backbones import materialise

    base = AutoModelForCausalLM.from_pretrained(embedded_backbone, dtype=torch.float32)
    torch.manual_seed(0)
    delta = {k: torch.randn_like(v) * 0.01 for k, v in base.state_dict().items()}
    delta_model = AutoModelForCausalLM.from_pretrained(embedded_backbone, dtype=torch.float32)
    delta_model.load_state_dict(delta)
    delta = {k: v.clone() for k, v in delta_model.state_dict().items()}  # tied embeddings: one tensor
    delta_model.save_pretrained(tmp_path / "delta")
    AutoTokenizer.from_pretrained(embedded_backbone).save_pretrained(tmp_path / "delta")

    spec = {"source": {"kind": "delta", "base": {"kind": "local", "path": str(embedded_backbone)},
                       "delta": {"kind": "local", "path": str(tmp_path / "delta")}}}
    record = materialise("released", spec, tmp_path / "released")
    assert record["base"]["path"] == str(embedded_backbone.resolve())
    released = AutoModelForCausalLM.from_pretrained(tmp_path / "released", dtype=torch.float32).state_dict()
    for key, value in base.state_dict().items():
        torch.testing.assert_close(released[key], value + delta[key], msg=key)
    assert not (tmp_path / "released" / ".parts").exists()


def test_bayling_speaks_its_repositorys_template():
    """ictnlp/BayLing's conversation template "BayLing" (bayling/conversation.py, SeparatorStyle.BAYLING),
    which its BayLingAdapter selects: the system text, "### Instruction:\\n" and "### Response:\\n" turns,
    "</s>\\n" after a response."""
    from transformers.utils.chat_template_utils import _compile_jinja_template

    system = ("I am an intelligent language assistant developed by the NLP Group of ICT/CAS.\nBelow is a dialog "
              "consisting of instructions and responses. Write a response that completes the request.\n")
    fmt = load_prompt_format("bayling")
    chat = _compile_jinja_template(fmt["chat_template"]).render(
        messages=CHAT, bos_token="<s>", eos_token="</s>", add_generation_prompt=True)
    # Conversation.get_prompt() for [Instruction: Name a colour., Response: Blue., Instruction: And another?,
    # Response: None], after the tokenizer's BOS
    assert chat == ("<s>" + system + "\n### Instruction:\nName a colour.\n### Response:\nBlue.</s>\n"
                    "### Instruction:\nAnd another?\n### Response:\n")
    prompt = format_translation_prompt(fmt, "<s>", Direction("de", "en"), "Guten Tag.")
    assert prompt == ("<s>" + system + "\n### Instruction:\nTranslate the following sentence from German to "
                      "English.\nGuten Tag.\n### Response:\n")
