"""The paper's translation instructions (Fig. 5) and their rendering in the backbone's chat format."""

from collections import Counter

import pytest
from transformers import AutoTokenizer

from radis.languages import Direction, language_name
from radis.prompts import INSTRUCTIONS, assistant, draw_templates, render_continuation_prompt, \
    render_conversation, render_generation_prompt, translation_instruction, user

#: Fig. 5 of the paper, verbatim.
PAPER_FIG5 = (
    "Could you please translate this sentence from {lang1} to {lang2}?\n{sent1}",
    "Translate the following sentence from {lang1} to {lang2}:\n{sent1}",
    "Translate this sentence from {lang1} to {lang2}.\n{sent1}",
    "Translate from {lang1} to {lang2}:\n{sent1}",
    "{sent1}\nTranslate this sentence to {lang2}.",
)

SOURCE = "Dnes jdeme do Prahy."
REFERENCE = "Today we are going to Prague."


def test_instructions_are_the_papers_five():
    assert INSTRUCTIONS == PAPER_FIG5


@pytest.mark.parametrize("code, name", [
    ("en", "English"), ("cs", "Czech"), ("de", "German"), ("ru", "Russian"), ("zh", "Chinese"),
])
def test_language_names_as_the_paper_writes_them(code, name):
    assert language_name(code) == name


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        language_name("xx")


@pytest.mark.parametrize("template, expected", [
    (0, "Could you please translate this sentence from Czech to English?\n" + SOURCE),
    (1, "Translate the following sentence from Czech to English:\n" + SOURCE),
    (2, "Translate this sentence from Czech to English.\n" + SOURCE),
    (3, "Translate from Czech to English:\n" + SOURCE),
    (4, SOURCE + "\nTranslate this sentence to English."),
])
def test_translation_instruction(template, expected):
    assert translation_instruction(Direction.parse("cs-en"), SOURCE, template) == expected


def test_instruction_keeps_braces_in_the_source():
    text = "Use {sent1} and {} literally."
    assert translation_instruction(Direction.parse("en-de"), text, 3) == "Translate from English to German:\n" + text


def test_draw_templates_is_deterministic_per_seed_and_salt():
    assert draw_templates(50, seed=42, salt="cs-en") == draw_templates(50, seed=42, salt="cs-en")
    assert draw_templates(50, seed=42, salt="cs-en") != draw_templates(50, seed=42, salt="en-cs")
    assert draw_templates(50, seed=42, salt="cs-en") != draw_templates(50, seed=43, salt="cs-en")


def test_draw_templates_prefix_is_stable():
    """Asking for more samples does not change the draws of the first ones."""
    assert draw_templates(100, seed=1, salt="de-en")[:10] == draw_templates(10, seed=1, salt="de-en")


def test_draw_templates_is_roughly_uniform():
    counts = Counter(draw_templates(1000, seed=42, salt="zh-en"))
    assert set(counts) == set(range(len(INSTRUCTIONS)))
    assert all(150 <= n <= 250 for n in counts.values()), counts


@pytest.fixture(scope="module")
def tokenizer(embedded_backbone):
    return AutoTokenizer.from_pretrained(embedded_backbone)


def chat(reply=REFERENCE):
    return [user(translation_instruction(Direction.parse("cs-en"), SOURCE, 1)), assistant(reply)]


@pytest.mark.parametrize("reply", [REFERENCE, "我们今天去布拉格。", "Dnes jdeme do Prahy.\nA zítra do Brna."])
def test_continuation_prompt_leaves_the_assistant_turn_open(tokenizer, reply):
    prompt = render_continuation_prompt(tokenizer, chat(reply))
    assert prompt.endswith("<|im_start|>assistant\n" + reply)
    assert "<|im_end|>" not in prompt[prompt.rindex("<|im_start|>assistant"):]
    ids = tokenizer(prompt, add_special_tokens=False).input_ids
    assert ids[-1] != tokenizer.eos_token_id
    # The continuation prompt is the full conversation minus the closing end-of-turn.
    full = render_conversation(tokenizer, chat(reply))
    assert full.startswith(prompt)
    assert full[len(prompt):].startswith("<|im_end|>")


def test_continuation_needs_an_assistant_message(tokenizer):
    with pytest.raises(ValueError, match="assistant"):
        render_continuation_prompt(tokenizer, chat()[:1])


def test_generation_prompt_opens_the_assistant_turn(tokenizer):
    prompt = render_generation_prompt(tokenizer, chat()[:1])
    assert prompt.endswith("<|im_start|>assistant\n")
    assert prompt.count("<|im_start|>user\n" + chat()[0]["content"] + "<|im_end|>") == 1


def test_conversation_closes_the_assistant_turn(tokenizer):
    text = render_conversation(tokenizer, chat())
    assert text.rstrip("\n").endswith("<|im_start|>assistant\n" + REFERENCE + "<|im_end|>")
    assert text.count("<|im_start|>") == text.count("<|im_end|>")  # every turn closed
