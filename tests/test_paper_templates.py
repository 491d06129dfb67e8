"""The paper backbones' own tokenizers and chat templates through the method's code paths.

Everything here runs on the local hub (tests/local_hub_fixture.py): LLaMA-2-7B-Chat and Mistral-7B-
Instruct-v0.2 (SentencePiece, ``[INST]``), Llama-3-70B-Instruct and Llama-Guard-3-8B (Llama-3 BPE,
``<|eot_id|>``), each a tiny random model behind the real tokenizer and template.
"""

from __future__ import annotations

import pytest

from radis.prompts import assistant, render_continuation_prompt, render_conversation, user
from test_local_hub import GUARD, LLAMA2, LLAMA3, MISTRAL, snapshot, tokenizer

CHAT_MODELS = {"llama-2": LLAMA2, "mistral": MISTRAL, "llama-3": LLAMA3}
#: each model's end of turn, what the label mask must end with
END_OF_TURN = {"llama-2": "</s>", "mistral": "</s>", "llama-3": "<|eot_id|>"}
INSTRUCTION = "Translate the following sentence from German to English:\nDer Hund schläft."
REFERENCE = "The dog is sleeping."
RATIONALE = " This sentence uses the verb \"schlafen\" (to sleep).\n\nNote: \"Hund\" means dog."


@pytest.fixture(scope="module", params=sorted(CHAT_MODELS))
def model(request, local_hub):
    return request.param, tokenizer(local_hub, CHAT_MODELS[request.param])


def reply_ids(tok, prompt: str, reply: str) -> tuple[list[int], list[int]]:
    """The prompt's ids and the ids a model writes when its reply is ``reply``: the tokens of
    prompt + reply after those of the prompt (what generation appends to the prompt)."""
    prompt_ids = tok(prompt, add_special_tokens=False).input_ids
    full_ids = tok(prompt + reply, add_special_tokens=False).input_ids
    assert full_ids[:len(prompt_ids)] == prompt_ids
    return prompt_ids, full_ids[len(prompt_ids):]


def test_rationale_prompt_leaves_the_assistant_turn_open(model):
    name, tok = model
    prompt = render_continuation_prompt(tok, [user(INSTRUCTION), assistant(REFERENCE)])
    assert prompt.endswith(REFERENCE), prompt[-40:]  # nothing closes y: the model continues it
    closed = render_conversation(tok, [user(INSTRUCTION), assistant(REFERENCE)])
    assert closed.startswith(prompt) and END_OF_TURN[name] in closed[len(prompt):]


def test_continuation_keeps_the_text_as_prompt_plus_reply_render(model, local_hub):
    """A rationale decoded after its prompt is byte for byte the text that follows the prompt: with
    SentencePiece, decoding the new tokens alone drops the first one's space (ŷ = "…sleeping.This…")."""
    from radis.generation.hf import HFGenerator

    name, tok = model
    prompt = render_continuation_prompt(tok, [user(INSTRUCTION), assistant(REFERENCE)])
    prompt_ids, ids = reply_ids(tok, prompt, RATIONALE)
    generator = HFGenerator(snapshot(local_hub, *CHAT_MODELS[name]), batch_size=1)
    eos = generator.tokenizer.convert_tokens_to_ids(END_OF_TURN[name])
    generation = generator._decode(prompt_ids, ids + [eos])
    assert generation.text == RATIONALE and generation.finished and generation.n_tokens == len(ids) + 1
    if name != "llama-3":  # SentencePiece: the very fault this guards against
        assert tok.decode(ids, skip_special_tokens=True) != RATIONALE
    from radis.methods.radis import enriched_response

    assert enriched_response(REFERENCE, generation.text.rstrip()).startswith(REFERENCE + " This sentence")


def test_label_mask_ends_with_the_models_end_of_turn(model):
    from radis.training.features import IGNORE_INDEX, build_features

    name, tok = model
    features = build_features(tok, [user(INSTRUCTION), assistant(REFERENCE + RATIONALE)], max_length=512)
    labelled = [t for t in features.labels if t != IGNORE_INDEX]
    assert labelled[-1] == tok.convert_tokens_to_ids(END_OF_TURN[name])
    # the labels are the reply and its end of turn, nothing of the prompt
    text = tok.decode(labelled)
    assert text.strip().startswith(REFERENCE) and "schläft" not in text and "[INST]" not in text
    assert features.input_ids[-len(labelled):] == labelled


def test_sdft_prompt_on_mistral_folds_the_system_text_into_the_user_turn(local_hub):
    """Mistral-7B-Instruct-v0.2's template has no system role and raises on one; SDFT's system text
    then opens the user turn (LLaMA-2 keeps it in <<SYS>>)."""
    from radis.methods.sdft import SDFT_SYSTEM, sdft_prompts

    record = {"instruction": INSTRUCTION, "reference": REFERENCE}
    (mistral,) = sdft_prompts(tokenizer(local_hub, MISTRAL), [record])
    assert mistral.startswith("<s>[INST] " + SDFT_SYSTEM + "\n\n### Instruction:\n")
    assert mistral.endswith("### Response:\n [/INST]") and mistral.count("[INST]") == 1
    (llama2,) = sdft_prompts(tokenizer(local_hub, LLAMA2), [record])
    assert llama2.startswith("<s>[INST] <<SYS>>\n" + SDFT_SYSTEM + "\n<</SYS>>\n\n### Instruction:")


def test_llama_guard_classifies_the_response_as_walledeval_renders_it(local_hub):
    from radis.judges.safety import llama_guard_messages

    guard = tokenizer(local_hub, GUARD)
    prompt = guard.apply_chat_template(llama_guard_messages("Sure, step 1: ..."), tokenize=False,
                                       add_generation_prompt=True)
    assert "User: \n\nAgent: Sure, step 1: ...\n\n<END CONVERSATION>" in prompt
    assert "Provide your safety assessment for ONLY THE LAST Agent message" in prompt
