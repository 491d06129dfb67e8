"""The translation inside a chat model's reply: a table of reply shapes chat backbones really produce
(LLaMA-2-Chat's preamble and notes, labels, quotes, RaDis rationales after the translation)."""

from __future__ import annotations

import pytest

from radis.evaluate.translation import extract_translation, extraction_counts

REPLIES = [
    # (reply, expected translation, rules applied)
    ("Der Hund schläft.", "Der Hund schläft.", []),
    ("  Der Hund schläft.  \n", "Der Hund schläft.", []),
    # LLaMA-2-Chat's usual shape: preamble line, quoted translation, a note
    ('Sure! Here is the translation of the sentence from English to German:\n\n"Der Hund schläft."\n\n'
     'Note: "schlafen" is irregular.', "Der Hund schläft.", ["preamble", "rest_dropped", "quotes"]),
    ("Certainly! Here's the translation:\nDer Hund schläft.", "Der Hund schläft.", ["preamble"]),
    # a label on the translation's own line
    ("Translation: Der Hund schläft.", "Der Hund schläft.", ["label"]),
    ("German translation: Der Hund schläft.\nThe verb is irregular.", "Der Hund schläft.",
     ["label", "rest_dropped"]),
    ("German: «Der Hund schläft.»", "Der Hund schläft.", ["label", "quotes"]),
    ("Czech (translation): Pes spí.", "Pes spí.", ["label"]),
    # a RaDis-trained model: the translation, then its rationale
    ("Pes spí.\nThis sentence uses the verb spát, which means to sleep.", "Pes spí.", ["rest_dropped"]),
    # quotes of other scripts
    ("„Der Hund schläft.“", "Der Hund schläft.", ["quotes"]),
    ("「狗在睡觉。」", "狗在睡觉。", ["quotes"]),
    ("“The dog sleeps.”", "The dog sleeps.", ["quotes"]),
    # a translation that itself ends in ':' is not a preamble, nor is a colon inside it
    ("Er sagte:\nDas ist alles.", "Er sagte:", ["rest_dropped"]),
    ("Die Regel lautet: keine Hunde.", "Die Regel lautet: keine Hunde.", []),
    # quotes inside the sentence are kept
    ('Er sagte "Hallo" und ging.', 'Er sagte "Hallo" und ging.', []),
    ("", "", []),
    ("Here is the translation:", "Here is the translation:", []),
]


@pytest.mark.parametrize(("reply", "translation", "rules"), REPLIES)
def test_chat_reply_shapes(reply, translation, rules):
    assert extract_translation(reply, "chat") == (translation, rules)


def test_first_line_and_none_keep_their_meaning():
    assert extract_translation('\n Sure, here it is:\n"Guten Tag."\n', "first_line") == ("Sure, here it is:", [])
    assert extract_translation(" A\nB ", "none") == ("A\nB", [])


def test_counts_say_how_many_replies_each_rule_touched():
    rules = [extract_translation(reply, "chat")[1] for reply, _, _ in REPLIES]
    counts = extraction_counts(rules)
    assert counts == {"preamble": 2, "label": 4, "rest_dropped": 4, "quotes": 5, "untouched": 6}
