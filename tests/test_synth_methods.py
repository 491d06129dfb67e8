"""Synthesis post-processing and training-set builders: pure functions, no model needed."""

from radis.generation import Generation
from radis.languages import Direction
from radis.methods import build_trainset
from radis.methods.radis import add_rationales, enriched_response
from radis.methods.sdft import add_sdft, sdft_rejected
from radis.methods.seqkd import add_seqkd
from radis.prompts import with_instructions
from radis.synth import summarize


def records(n=3, direction="cs-en"):
    d = Direction.parse(direction)
    raw = [{"id": f"train-{d}-{i:05d}", "src_lang": d.src, "tgt_lang": d.tgt,
            "source": f"Věta {i}.", "reference": f"Sentence {i}."} for i in range(n)]
    return with_instructions(raw, d, seed=42)


def test_instructions_are_drawn_per_sample_and_reproducible():
    a, b = records(20), records(20)
    assert [r["instruction"] for r in a] == [r["instruction"] for r in b]
    assert len({r["template"] for r in a}) > 1
    assert all(r["instruction"].count("Věta") == 1 for r in a)
    assert all("Czech" in r["instruction"] or r["template"] == 4 for r in a)


def test_enriched_response_concatenates_reference_and_rationale():
    assert enriched_response("Hello.", "\n\nExplanation: greeting.  ") == "Hello.\n\nExplanation: greeting."
    assert enriched_response("Hello.", "  \n ") == "Hello."


def test_rationale_rate_counts_empty_rationales_and_keeps_them_as_reference():
    gens = [Generation(" It means hi.", 5, True), Generation("", 1, True), Generation("\n", 2, True)]
    out = add_rationales(records(), gens)
    summary = summarize("rationale", out)
    assert summary["with_rationale"] == 1 and abs(summary["rationale_rate"] - 1 / 3) < 1e-9
    assert out[0]["enriched_response"] == "Sentence 0. It means hi."
    assert out[1]["enriched_response"] == "Sentence 1." and out[1]["rationale"] == ""
    assert out[2]["enriched_response"] == "Sentence 2."


def test_sdft_rejection_filter_is_sdfts_verify():
    """sail-sg/sdft eval/gen_distilled_data.py ``verify``: banned phrases in any case, a stripped
    reply starting with "Your turn" (that case only); an empty reply is ours to reject."""
    for bad in ["Based on the REFERENCE ANSWER, Y", "  Your turn: Y", "My response is Y",
                "Here is your own response", "Now it's your turn.", "   "]:
        assert sdft_rejected(bad), bad
    for kept in ["Sentence zero, paraphrased.", "your turn now", "It is your turn to pay."]:
        assert not sdft_rejected(kept), kept
    out = add_sdft(records(2), [Generation("Reference answer: x", 3, True), Generation(" Phrase 1. ", 3, False)])
    summary = summarize("sdft", out)
    assert [r["sdft_response"] for r in out] == ["Sentence 0.", "Phrase 1."]
    assert summary["rejected"] == 1 and summary["truncated"] == 1 and summary["mean_generated_tokens"] == 3


def test_builders():
    recs = records(2)
    rat = add_rationales(recs, [Generation(" R0", 2, True), Generation("", 1, True)])
    kd = add_seqkd(recs, [Generation(" Own 0 ", 2, True), Generation("", 1, True)])
    sd = add_sdft(recs, [Generation("P0", 2, True), Generation("P1", 2, True)])

    vanilla = build_trainset("vanilla", recs)
    assert [e["messages"][1]["content"] for e in vanilla] == ["Sentence 0.", "Sentence 1."]
    assert vanilla[0]["messages"][0] == {"role": "user", "content": recs[0]["instruction"]}
    assert [e["messages"][1]["content"] for e in build_trainset("radis", rat)] == ["Sentence 0. R0", "Sentence 1."]
    seqkd = build_trainset("seqkd", kd)
    assert [e["messages"][1]["content"] for e in seqkd] == ["Sentence 0.", "Own 0", "Sentence 1."]
    assert len({e["id"] for e in seqkd}) == 3
    assert [e["messages"][1]["content"] for e in build_trainset("sdft", sd)] == ["P0", "P1"]
    # every method sees the same instruction for the same pair
    for method, data in (("radis", rat), ("sdft", sd)):
        assert [e["messages"][0] for e in build_trainset(method, data)] == [e["messages"][0] for e in vanilla]
