"""Paper §5 analyses: Table 4 (rationale categories) and Figure 4 (gradient similarity)."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from radis.analysis.gradients import (
    attach_lora,
    gradient_similarity,
    plot_figure4,
    split_enriched_labels,
    term_pair,
)
from radis.analysis.rationales import (
    CATEGORY_PLACEHOLDERS,
    CATEGORIES,
    CATEGORY_KEYS,
    PLACEHOLDERS,
    classification_requests,
    occurrence_table,
    parse_categories,
    placeholders,
    prompt_version,
    rationale_stats,
    render_prompt,
    render_table4,
    sample_rationales,
    table4_result,
)
from radis.training.features import IGNORE_INDEX, build_features

PROMPT = "workflow/resources/prompts/rationale_categories.txt"


def _record(direction: str, i: int, rationale: str) -> dict:
    src, tgt = direction.split("-")
    reference = f"Reference {i} of {direction}."
    return {"id": f"train-{direction}-{i:05d}", "src_lang": src, "tgt_lang": tgt, "source": f"Source {i}.",
            "reference": reference, "template": 3, "instruction": f"Translate from X to Y:\nSource {i}.",
            "rationale": rationale, "enriched_response": reference + rationale,
            "generated_tokens": 5, "finished": True}


def _corpus(sizes: dict[str, int], empty_every: int = 3) -> dict[str, list[dict]]:
    def rationale(i: int) -> str:
        return "" if i % empty_every == 0 else f" It means thing number {i}."

    return {d: [_record(d, i, rationale(i)) for i in range(k)] for d, k in sizes.items()}


# ------------------------------------------------------------------------------------------ Table 4

def test_sampling_is_stratified_seeded_and_skips_empty_rationales():
    corpus = _corpus({"cs-en": 30, "en-de": 30, "en-zh": 4})  # en-zh: ids 1, 2 have a rationale
    a = sample_rationales(corpus, per_direction=5, seed=7)
    counts = {d: sum(1 for s in a if s["direction"] == d) for d in corpus}
    assert counts == {"cs-en": 5, "en-de": 5, "en-zh": 2}
    assert all(s["rationale"].strip() for s in a)
    assert [s["id"] for s in sample_rationales(corpus, 5, seed=7)] == [s["id"] for s in a]
    assert [s["id"] for s in sample_rationales(corpus, 5, seed=8)] != [s["id"] for s in a]
    # adding a direction leaves the other directions' draws unchanged
    more = sample_rationales({**corpus, "ru-en": corpus["cs-en"]}, 5, seed=7)
    def en_de(samples):
        return [s["id"] for s in samples if s["direction"] == "en-de"]

    assert en_de(more) == en_de(a)
    assert sample_rationales(corpus, 0, seed=7) == []


def test_parse_categories():
    assert parse_categories("[1, 4]") == ["word_phrase_translation", "semantic_explanation"]
    assert parse_categories("[8, 1, 1]") == ["word_phrase_translation", "grammar"]
    assert parse_categories("The rationale explains the meaning and gives options, so: [4, 2].") == [
        "alternative_translation", "semantic_explanation"]
    assert parse_categories('```json\n["3"]\n```') == ["helpful_safety"]
    assert parse_categories('Categories [like these] apply: [1, "Grammar"]') == [
        "word_phrase_translation", "grammar"]
    assert parse_categories("[]") == []
    for garbage in ("", "I think it is mostly grammar.", "[9]", "[0, 1]", "[1, 2", "{\"a\": 1}", "[true]"):
        assert parse_categories(garbage) is None, garbage


def test_occurrence_percentages_by_hand():
    samples = [{"direction": "cs-en"}, {"direction": "cs-en"}, {"direction": "en-de"}, {"direction": "en-de"}]
    labels = [["word_phrase_translation", "grammar"], ["word_phrase_translation"], [], None]
    occ = occurrence_table(samples, labels)
    assert (occ["n"], occ["classified"], occ["parse_failures"], occ["no_category"]) == (4, 3, 1, 1)
    pct = {c["key"]: c["percent"] for c in occ["categories"]}
    assert pct["word_phrase_translation"] == pytest.approx(200 / 3)
    assert pct["grammar"] == pytest.approx(100 / 3)
    assert pct["back_translation"] == 0.0
    assert [c["key"] for c in occ["categories"]] == list(CATEGORY_KEYS)
    assert occ["by_direction"]["cs-en"]["word_phrase_translation"] == 2
    assert occ["by_direction"]["en-de"]["parse_failures"] == 1
    assert occurrence_table([{"direction": "cs-en"}], [None])["categories"][0]["percent"] is None


def test_prompt_file_renders_with_every_placeholder_filled(repo_root):
    template = (repo_root / PROMPT).read_text(encoding="utf-8")
    assert placeholders(template) == PLACEHOLDERS - CATEGORY_PLACEHOLDERS
    sample = _record("en-zh", 1, "\n\nNote: {braces} and [1] stay as they are.")
    [request] = classification_requests([sample], template, max_tokens=32)
    text = request["messages"][0]["content"]
    assert request["max_tokens"] == 32 and request["temperature"] == 0
    assert not placeholders(text.replace("{braces}", ""))
    assert "Source 1." in text and "Reference 1 of en-zh." in text and "Note: {braces}" in text
    assert "from English to Chinese" in text
    for i, c in enumerate(CATEGORIES, start=1):
        assert f"{i}. {c.name}: {c.description}" in text
    assert "JSON list" in text
    assert len(prompt_version(template)) == 12 and prompt_version(template) != prompt_version(template + " ")


def test_yes_no_prompt_asks_about_one_category(repo_root):
    """The prompt of a judge scored by log-probabilities: the same sample, one category, Yes or No."""
    template = (repo_root / "workflow/resources/prompts/rationale_category_yesno.txt").read_text(encoding="utf-8")
    assert placeholders(template) == PLACEHOLDERS - {"categories"}
    sample = _record("en-zh", 1, " {braces}")
    text = render_prompt(template, sample, CATEGORIES[4])
    assert "Back-translation: Back-translations of non-English results" in text and "Source 1." in text
    assert text.rstrip().endswith("Answer with Yes or No.") and "Word/phrase translation" not in text
    with pytest.raises(ValueError, match="needs a category"):
        render_prompt(template, sample)


def test_rationale_stats_by_hand():
    records = [_record("cs-en", 0, ""), _record("cs-en", 1, " a b"), _record("cs-en", 2, " a b c d"),
               _record("cs-en", 3, "\n\none two three four five six")]
    records[3]["finished"] = False  # max_new_tokens cut it off
    s = rationale_stats({"cs-en": records})["cs-en"]
    assert (s["n"], s["with_rationale"], s["rationale_rate"], s["truncated"]) == (4, 3, 0.75, 1)
    w = s["length_words"]
    assert (w["mean"], w["median"], w["max"]) == (4.0, 4.0, 6)
    assert w["p90"] == pytest.approx(5.6)  # linear interpolation between 4 and 6
    assert s["length_chars"]["max"] == len("one two three four five six")
    empty = rationale_stats({"de-en": [_record("de-en", 0, "")]})["de-en"]
    assert empty["rationale_rate"] == 0.0 and empty["length_words"]["mean"] is None


def test_table4_renders_paper_rows(repo_root):
    corpus = _corpus({"cs-en": 6, "en-de": 6})
    samples = sample_rationales(corpus, 2, seed=1)
    labels = [["grammar"], ["alternative_translation", "grammar"], None, []]
    prompt = (repo_root / PROMPT).read_text(encoding="utf-8")
    result = table4_result(samples, labels, ["[8]", "[2, 8]", "?", "[]"], corpus, prompt, 2, 1, "judge-x")
    json.dumps(result)  # a result file must be plain JSON
    md, csv_text, tex = render_table4(result)
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0][:3] == ["Information Category", "Contents", "Occurrence [%]"]
    assert [r[0] for r in rows[1:]] == [c.name for c in CATEGORIES]
    assert rows[-1][2] == "66.7" and rows[2][2] == "33.3" and rows[1][2] == "0.0"
    assert "1 unparsed" in md and "| cs-en | 6 | 4 | 66.7 | 0 |" in md and result["prompt_version"] in md
    assert r"\begin{tabular}" in tex and r"Helpful\&Safety" in tex


# ------------------------------------------------------------------------------------------ Figure 4

@pytest.fixture(scope="module")
def tokenizer(embedded_backbone):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_backbone)


@pytest.mark.parametrize("rationale", ["\n\nIt is a greeting.", " It is a greeting, or: hello.", "ok"])
def test_label_split_is_a_partition_of_the_reply(tokenizer, rationale):
    reference = "Good day."
    mt, reg = split_enriched_labels(tokenizer, "Translate from Czech to English:\nDobrý den", reference,
                                    reference + rationale, max_length=256)
    messages = [{"role": "user", "content": "Translate from Czech to English:\nDobrý den"},
                {"role": "assistant", "content": reference + rationale}]
    full = build_features(tokenizer, messages, 256)
    assert mt.input_ids == reg.input_ids == tuple(full.input_ids)
    mt_pos = {i for i, x in enumerate(mt.labels) if x != IGNORE_INDEX}
    reg_pos = {i for i, x in enumerate(reg.labels) if x != IGNORE_INDEX}
    assert not mt_pos & reg_pos
    assert mt_pos | reg_pos == {i for i, x in enumerate(full.labels) if x != IGNORE_INDEX}
    assert max(mt_pos) < min(reg_pos)  # the reference comes first, the rationale after it
    assert tokenizer.decode([full.input_ids[i] for i in sorted(mt_pos)]) == reference
    assert tokenizer.decode([full.input_ids[i] for i in sorted(reg_pos)]) == rationale + "<|im_end|>"


def test_term_pairs_of_each_method(tokenizer):
    rec = {**_record("cs-en", 1, " It is a note."), "seqkd_response": "Reference one."}
    seqkd = term_pair(tokenizer, rec, "seqkd", 256)
    assert seqkd.mt.input_ids != seqkd.reg.input_ids  # same input x, different outputs y and y'
    assert tokenizer.decode([t for t in seqkd.reg.labels if t != IGNORE_INDEX]) == "Reference one.<|im_end|>"
    mt_text = tokenizer.decode([t for t in seqkd.mt.labels if t != IGNORE_INDEX])
    assert mt_text == rec["reference"] + "<|im_end|>"
    radis = term_pair(tokenizer, rec, "radis", 256)
    assert radis.mt.input_ids == radis.reg.input_ids
    assert term_pair(tokenizer, _record("cs-en", 2, ""), "radis", 256) is None
    assert term_pair(tokenizer, {**rec, "seqkd_response": ""}, "seqkd", 256) is None


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, embedded_backbone, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    out = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _hand_cosine(model_dir, pairs, layer: int, seed: int, r: int) -> float:
    """The two summed gradients of one layer, straight from torch.autograd on that layer's LoRA."""
    import torch
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = attach_lora(base, r, seed=seed).eval()
    params = [p for name, p in model.named_parameters() if p.requires_grad and f".layers.{layer}." in name]

    def nll(term):  # mean −log p of the labelled tokens, written out
        logp = torch.log_softmax(model(input_ids=torch.tensor([term.input_ids])).logits[0], dim=-1)
        picks = [logp[i - 1, t] for i, t in enumerate(term.labels) if t != IGNORE_INDEX]
        return -torch.stack(picks).mean()

    def grad(term):
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(nll(term), params)])

    g_mt = sum(grad(p.mt) for p in pairs)
    g_reg = sum(grad(p.reg) for p in pairs)
    return float(torch.nn.functional.cosine_similarity(g_mt.double(), g_reg.double(), dim=0))


@pytest.mark.parametrize("method", ["radis", "seqkd"])
def test_gradient_similarity_matches_a_hand_computed_cosine(tiny_model, tokenizer, method):
    records = [{**r, "seqkd_response": f"Own translation {i}."}
               for d in ("cs-en", "en-de") for i, r in enumerate(_corpus({d: 5})[d])]
    result = gradient_similarity(tiny_model, records, method, n=2, seed=3, max_length=128, lora_r=4)
    assert result["num_layers"] == 2 and len(result["layers"]) == 2
    assert all(-1.0 <= c <= 1.0 for c in result["layers"] + result["layers_mean_example_cosine"])
    assert result["n"] == 4 and result["examples_per_direction"] == {"cs-en": 2, "en-de": 2}
    assert result["positive_layers"] + result["negative_layers"] == 2
    if method == "radis":  # records without a rationale are passed over
        assert all(not i.endswith(("00000", "00003")) for i in result["ids"])
    by_id = {r["id"]: r for r in records}
    pairs = [term_pair(tokenizer, by_id[i], method, 128) for i in result["ids"]]
    hand = _hand_cosine(tiny_model, pairs, layer=1, seed=3, r=4)
    assert abs(hand) > 1e-3  # a real, non-degenerate cosine
    assert result["layers"][1] == pytest.approx(hand, abs=1e-5)
    again = gradient_similarity(tiny_model, records, method, n=2, seed=3, max_length=128, lora_r=4)
    assert again["ids"] == result["ids"] and again["layers"] == pytest.approx(result["layers"], abs=1e-6)
    json.dumps(result)


def test_figure4_is_written(tmp_path):
    curves = {"seqkd": [-0.2, 0.1, -0.3], "radis": [0.4, 0.2, -0.1]}
    fake = {m: {"layer_index": [0, 1, 2], "layers": v, "positive_layers": sum(x > 0 for x in v),
                "num_layers": 3} for m, v in curves.items()}
    path = tmp_path / "figures" / "figure4.png"
    assert plot_figure4(fake, path) == {"seqkd": 1, "radis": 2}
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not math.isnan(fake["radis"]["layers"][0])
