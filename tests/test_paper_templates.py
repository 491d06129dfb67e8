"""The paper backbones' own tokenizers and chat templates through the method's code paths.

Everything here runs on the local hub (tests/local_hub_fixture.py): LLaMA-2-7B-Chat and Mistral-7B-
Instruct-v0.2 (SentencePiece, ``[INST]``), Llama-3-70B-Instruct and Llama-Guard-3-8B (Llama-3 BPE,
``<|eot_id|>``), each a tiny random model behind the real tokenizer and template.
"""

from __future__ import annotations

import pytest

from radis.prompts import assistant, render_continuation_prompt, render_conversation, render_generation_prompt, user
from test_local_hub import GUARD, LLAMA2, LLAMA3, MISTRAL, snapshot, tokenizer

CHAT_MODELS = {"llama-2": LLAMA2, "mistral": MISTRAL, "llama-3": LLAMA3}
#: Mistral-7B-Instruct-v0.2's original assistant line glues the reply to ``[/INST]`` (the local hub
#: serves it); the template's later revision writes a space first. Which one the pinned revision
#: carries cannot be checked offline, so every property below must hold for both.
MISTRAL_GLUED = "{{ message['content'] + eos_token}}"
MISTRAL_SPACED = "{{ ' ' + message['content'] + eos_token}}"
TEMPLATES = ("llama-2", "mistral", "mistral-spaced", "llama-3")
#: each model's end of turn, what the label mask must end with
END_OF_TURN = {"llama-2": "</s>", "mistral": "</s>", "mistral-spaced": "</s>", "llama-3": "<|eot_id|>"}
#: the token each model writes first when its reply begins with "The": SentencePiece's word
#: start after LLaMA-2's and Mistral's ``[/INST]``, the bare word after Llama-3's header's blank line
FIRST_TOKEN = {"llama-2": "▁The", "mistral": "▁The", "mistral-spaced": "▁The", "llama-3": "The"}
INSTRUCTION = "Translate the following sentence from German to English:\nDer Hund schläft."
REFERENCE = "The dog is sleeping."
RATIONALE = " This sentence uses the verb \"schlafen\" (to sleep).\n\nNote: \"Hund\" means dog."


def template_tokenizer(hub, name: str):
    tok = tokenizer(hub, CHAT_MODELS[name.removesuffix("-spaced")])
    if name == "mistral-spaced":
        assert MISTRAL_GLUED in tok.chat_template
        tok.chat_template = tok.chat_template.replace(MISTRAL_GLUED, MISTRAL_SPACED)
    return tok


@pytest.fixture(scope="module", params=TEMPLATES)
def model(request, local_hub):
    return request.param, template_tokenizer(local_hub, request.param)


def reply_ids(tok, prompt: str, reply: str) -> tuple[list[int], list[int]]:
    """The prompt's ids and the ids a model writes when its reply is ``reply``: the tokens of
    prompt + reply after those of the prompt (what generation appends to the prompt)."""
    prompt_ids = tok(prompt, add_special_tokens=False).input_ids
    full_ids = tok(prompt + reply, add_special_tokens=False).input_ids
    assert full_ids[:len(prompt_ids)] == prompt_ids
    return prompt_ids, full_ids[len(prompt_ids):]


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False).input_ids


def test_rationale_prompt_leaves_the_assistant_turn_open(model):
    name, tok = model
    prompt = render_continuation_prompt(tok, [user(INSTRUCTION), assistant(REFERENCE)])
    assert prompt.endswith(REFERENCE), prompt[-40:]  # nothing closes y: the model continues it
    closed = render_conversation(tok, [user(INSTRUCTION), assistant(REFERENCE)])
    assert END_OF_TURN[name] in closed and END_OF_TURN[name] not in prompt[-len(REFERENCE) - 12:]


def test_first_labelled_token_is_the_one_the_model_writes_first(model):
    """LLaMA-Factory tokenises the response apart from the prompt: the first trained id is the
    model's first generated one (``▁The``), not the glued ``The`` of Mistral's original template,
    and the labelled ids decode to the reply byte for byte, then the end of turn."""
    from radis.training.features import IGNORE_INDEX, build_features

    name, tok = model
    reply = REFERENCE + RATIONALE
    features = build_features(tok, [user(INSTRUCTION), assistant(reply)], max_length=512)
    labelled = [t for t in features.labels if t != IGNORE_INDEX]
    assert tok.convert_ids_to_tokens(labelled[0]) == FIRST_TOKEN[name]
    assert labelled[:-1] == ids(tok, reply) and tok.decode(labelled[:-1]) == reply
    assert labelled[-1] == tok.convert_tokens_to_ids(END_OF_TURN[name])
    # what precedes the labels is exactly the generation prompt the model answers
    prompt_ids = features.input_ids[:features.labels.index(labelled[0])]
    assert prompt_ids == ids(tok, render_generation_prompt(tok, [user(INSTRUCTION)]))


def test_rationale_prompt_holds_the_reference_as_the_model_writes_it(model):
    """The RaDis prompt is the generation prompt, then y's own tokens: the same ids training
    feeds for y (so r continues the y it is trained after), under either Mistral template."""
    name, tok = model
    prompt = ids(tok, render_generation_prompt(tok, [user(INSTRUCTION)]))
    continuation = ids(tok, render_continuation_prompt(tok, [user(INSTRUCTION), assistant(REFERENCE)]))
    assert continuation == prompt + ids(tok, REFERENCE)
    assert tok.convert_ids_to_tokens(continuation[len(prompt)]) == FIRST_TOKEN[name]


def test_turn_two_prompt_holds_the_first_answer_as_the_model_wrote_it(model):
    """MT-Bench's second turn shows the model its first answer: the ids it generated after the
    turn-1 prompt, then its end of turn, whatever the template glues."""
    name, tok = model
    question, answer = "Write a haiku about the sea.", "The sea is calm tonight."
    turn1 = ids(tok, render_generation_prompt(tok, [user(question)]))
    turn2 = ids(tok, render_generation_prompt(tok, [user(question), assistant(answer), user("Now in German.")]))
    assert turn2[:len(turn1)] == turn1
    assert turn2[len(turn1):len(turn1) + len(ids(tok, answer))] == ids(tok, answer)
    assert tok.convert_ids_to_tokens(turn2[len(turn1)]) == FIRST_TOKEN[name]


def test_both_mistral_templates_give_the_same_training_ids(local_hub):
    from radis.training.features import build_features

    messages = [user(INSTRUCTION), assistant(REFERENCE + RATIONALE)]
    glued, spaced = (build_features(template_tokenizer(local_hub, name), messages, 512)
                     for name in ("mistral", "mistral-spaced"))
    assert glued == spaced


def test_continuation_keeps_the_text_as_prompt_plus_reply_render(model, local_hub):
    """A rationale decoded after its prompt is byte for byte the text that follows the prompt: with
    SentencePiece, decoding the new tokens alone drops the first one's space (ŷ = "…sleeping.This…")."""
    from radis.generation.hf import HFGenerator

    name, tok = model
    prompt = render_continuation_prompt(tok, [user(INSTRUCTION), assistant(REFERENCE)])
    prompt_ids, ids = reply_ids(tok, prompt, RATIONALE)
    generator = HFGenerator(snapshot(local_hub, *CHAT_MODELS[name.removesuffix("-spaced")]), batch_size=1, dtype="float32")
    eos = generator.tokenizer.convert_tokens_to_ids(END_OF_TURN[name])
    generation = generator._decode(prompt_ids, ids + [eos])
    assert generation.text == RATIONALE and generation.finished and generation.n_tokens == len(ids) + 1
    if name != "llama-3":  # SentencePiece: the very fault this guards against
        assert tok.decode(ids, skip_special_tokens=True) != RATIONALE
    from radis.methods.radis import enriched_response

    assert enriched_response(REFERENCE, generation.text.rstrip()).startswith(REFERENCE + " This sentence")


@pytest.mark.parametrize("name", ["llama-2", "mistral", "llama-3"])
def test_sdft_prompt_is_sdfts_plain_text_encoded_as_its_llama_factory_fork_does(local_hub, name):
    """sail-sg/sdft runs ``alpaca_distill_using`` through its LLaMA-Factory fork (162ce42): no chat
    template, no BOS, the system text's tokens then the user slot's (``_convert_elements_to_ids``
    encodes each element alone)."""
    from radis.methods.sdft import SDFT_SYSTEM, SDFT_USER, sdft_prompts

    tok = tokenizer(local_hub, CHAT_MODELS[name])
    record = {"instruction": INSTRUCTION, "reference": REFERENCE}
    (prompt,) = sdft_prompts(tok, [record])
    user_slot = SDFT_USER.format(instruction=INSTRUCTION, response=REFERENCE)
    assert "[INST]" not in prompt and "<|start_header_id|>" not in prompt and prompt.endswith("### Response:\n")
    if name == "llama-3":  # BPE merges "response.###": the two texts back to back, as the fork writes them
        assert prompt == SDFT_SYSTEM + user_slot
    else:
        assert ids(tok, prompt) == ids(tok, SDFT_SYSTEM) + ids(tok, user_slot)
        assert ids(tok, prompt)[0] != tok.bos_token_id


def test_llama_guard_classifies_the_response_as_walledeval_renders_it(local_hub):
    from radis.judges.safety import llama_guard_messages

    guard = tokenizer(local_hub, GUARD)
    prompt = guard.apply_chat_template(llama_guard_messages("Sure, step 1: ..."), tokenize=False,
                                       add_generation_prompt=True)
    assert "User: \n\nAgent: Sure, step 1: ...\n\n<END CONVERSATION>" in prompt
    assert "Provide your safety assessment for ONLY THE LAST Agent message" in prompt
