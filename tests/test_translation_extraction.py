"""The translation inside a chat model's reply: a table of reply shapes chat backbones really produce
(LLaMA-2-Chat's pleasantries, announcements, quotes and notes; Mistral-Instruct's one-line
announcements, markdown labels and back-translations; RaDis rationales after the translation), and
the WMT22 references of the paper's 8 directions, every one of which must come back unchanged.

Where a shape comes from is said per case. None of these replies is copied from a model's log: they
are written after the replies the two backbones typically give to the paper's Fig. 5 instructions
("written after ..."), with the WMT22 references themselves where a case is about them.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from radis.evaluate.translation import (
    EXTRACTION_RULES,
    extract_translation,
    extraction_counts,
    language_identification,
)
from radis.languages import Direction

#: the shared real data (../shared/data/README.md): ALMA's copy of the WMT22 test sets
MIRROR = Path(__file__).resolve().parents[2] / "shared/data/alma"
needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(), reason=f"shared ALMA mirror not found at {MIRROR}")
#: the paper's 8 WMT22 directions (config/paper.yaml)
PAPER_DIRECTIONS = ["cs-en", "de-en", "ru-en", "zh-en", "en-cs", "en-de", "en-ru", "en-zh"]

REPLIES = [
    # (reply, target language, expected translation, rules applied)
    # --- a reply that is only the translation: untouched, whatever its language
    ("Der Hund schläft.", None, "Der Hund schläft.", []),
    ("  Der Hund schläft.  \n", "de", "Der Hund schläft.", []),
    ("Собака спит.", "ru", "Собака спит.", []),
    ("狗在睡觉。", "zh", "狗在睡觉。", []),
    ("The dog is sleeping.", "en", "The dog is sleeping.", []),
    # a quotation is a real translation (31 WMT22 references are one, e.g. en-de's „Und offensichtlich
    # hat das hier einigen Einfluss.“): quotes stay where nothing else shows the reply wrapped them
    ("„Der Hund schläft.“", "de", "„Der Hund schläft.“", []),
    ("「狗在睡觉。」", "zh", "「狗在睡觉。」", []),
    ("“The dog sleeps.”", None, "“The dog sleeps.”", []),
    # WMT22 references of Reddit posts: a "> " quote block (en-de) and a **bold** title (en-de)
    ("> Das ist ganz anders als bei Google.", "de", "> Das ist ganz anders als bei Google.", []),
    ("**CompTIA A+ Kurseinführung**", "de", "**CompTIA A+ Kurseinführung**", []),
    # WMT22 references ending in a parenthetical in the target language (en-de, cs-en): not back-translations
    ("Kaufen Sie ein Links- und ein Rechtsmodell, um einen Doppelschlafsack zusammenzustellen "
     "(bitte überprüfen Sie dies bei der Bestellung)", "de",
     "Kaufen Sie ein Links- und ein Rechtsmodell, um einen Doppelschlafsack zusammenzustellen "
     "(bitte überprüfen Sie dies bei der Bestellung)", []),
    ("An often overlooked fact in this research is that people in the West (Germany, Sweden, etc.)", "en",
     "An often overlooked fact in this research is that people in the West (Germany, Sweden, etc.)", []),
    # a translation that itself ends in ':' is not a preamble, nor is a colon inside it
    ("Er sagte:\nDas ist alles.", "de", "Er sagte:", ["rest_dropped"]),
    ("Die Regel lautet: keine Hunde.", "de", "Die Regel lautet: keine Hunde.", []),
    # a de-en WMT22 reference that ends in ':' (and names no translation), then a RaDis rationale
    ("And that is why I would be really interested to know:\nThe speaker asks to be told something.", "en",
     "And that is why I would be really interested to know:", ["rest_dropped"]),
    # quotes inside the sentence are kept
    ('Er sagte "Hallo" und ging.', None, 'Er sagte "Hallo" und ging.', []),
    ("", None, "", []),
    ("Here is the translation:", None, "Here is the translation:", []),
    # --- preambles: written after LLaMA-2-Chat's typical reply ("Sure! Here is the translation ...:",
    # the translation in quotes, a note)
    ('Sure! Here is the translation of the sentence from English to German:\n\n"Der Hund schläft."\n\n'
     'Note: "schlafen" is irregular.', None, "Der Hund schläft.", ["preamble", "rest_dropped", "quotes"]),
    ("Certainly! Here's the translation:\nDer Hund schläft.", None, "Der Hund schläft.", ["preamble"]),
    # a pleasantry line before the announcement: written after LLaMA-2-Chat's typical reply
    ('Sure, I\'d be happy to help!\n\nHere is the translation of "The dog sleeps." into German:\n\n'
     "Der Hund schläft.", "de", "Der Hund schläft.", ["preamble"]),
    ("Of course! I'd be happy to help you with that.\n\nHere is the translation of the sentence from English "
     'to Czech:\n\n"Pes spí."\n\nPlease let me know if you have any other questions.', "cs", "Pes spí.",
     ["preamble", "rest_dropped", "quotes"]),
    ("Sure, I'd be happy to help!\n\nHere is the translation of the sentence into English:\n\n"
     "The dog is sleeping.", "en", "The dog is sleeping.", ["preamble"]),
    # a pleasantry straight before the translation: surely English, so not the German translation
    # (written after LLaMA-2-Chat's typical reply, announcement left out)
    ("Sure, I'd be happy to help!\n\nDer Hund schläft.", "de", "Der Hund schläft.", ["preamble"]),
    # ... but for an English target "Of course!" may be the translation (of "Natürlich!"), a RaDis
    # rationale after it: with no announcement after it, it stays
    ("Of course!\nThe speaker agrees, so the translation is an exclamation.", "en", "Of course!",
     ["rest_dropped"]),
    # announcement in a Chinese reply, corner-bracket quotes, a closing line (written after
    # LLaMA-2-Chat's typical reply)
    ("Sure! Here is the translation in Chinese:\n\n「狗在睡觉。」\n\nI hope this helps!", "zh", "狗在睡觉。",
     ["preamble", "rest_dropped", "quotes"]),
    ("Sure thing! Here's the Russian translation:\nСобака спит.", "ru", "Собака спит.", ["preamble"]),
    # announcement and translation on one line: written after Mistral-7B-Instruct's typical reply
    ("Sure! Here is the translation: Der Hund schläft.", "de", "Der Hund schläft.", ["preamble"]),
    ("Sure! Here is the translation: Der Hund schläft.", None, "Der Hund schläft.", ["preamble"]),
    ('Sure! Here\'s the translation: "Pes spí."', "cs", "Pes spí.", ["preamble", "quotes"]),
    ('The German translation of "The dog sleeps." is "Der Hund schläft."', "de", "Der Hund schläft.",
     ["preamble", "quotes"]),
    ('In German, "The dog sleeps" is translated as "Der Hund schläft."', "de", "Der Hund schläft.",
     ["preamble", "quotes"]),
    # announcements that do not say "translation": written after Mistral-7B-Instruct's typical reply
    ("In Czech, the sentence would be: Pes spí.", "cs", "Pes spí.", ["preamble"]),
    ("In Czech, the sentence would be:\n\nPes spí.", "cs", "Pes spí.", ["preamble"]),
    # ... decided by the language alone: English before a German translation
    ("The German version reads:\nDer Hund schläft.", "de", "Der Hund schläft.", ["preamble"]),
    # a chat model that announces in the target language (written after the replies chat models give
    # when the instruction is in the target language)
    ("Hier ist die Übersetzung:\nDer Hund schläft.", "de", "Der Hund schläft.", ["preamble"]),
    ("以下是翻译：\n狗在睡觉。", "zh", "狗在睡觉。", ["preamble"]),
    # --- labels
    ("Translation: Der Hund schläft.", None, "Der Hund schläft.", ["label"]),
    ("German translation: Der Hund schläft.\nThe verb is irregular.", None, "Der Hund schläft.",
     ["label", "rest_dropped"]),
    ("German: «Der Hund schläft.»", None, "Der Hund schläft.", ["label", "quotes"]),
    ("Czech (translation): Pes spí.", None, "Pes spí.", ["label"]),
    ("Übersetzung: Der Hund schläft.", "de", "Der Hund schläft.", ["label"]),
    ("翻译：狗在睡觉。", "zh", "狗在睡觉。", ["label"]),
    # markdown labels: written after Mistral-7B-Instruct's typical reply
    ("**German:** Der Hund schläft.", "de", "Der Hund schläft.", ["label"]),
    ("**Translation:** Pes spí.", "cs", "Pes spí.", ["label"]),
    ('**German:** "Der Hund schläft." (The dog sleeps.)', "de", "Der Hund schläft.",
     ["label", "back_translation", "quotes"]),
    # the shape of LLM-translated text found in public GitHub files (model not named there):
    # announcement, then a bold language label and the quoted translation
    ('Sure! Here is the translation of the text:\n\n**English:** "My mouse is not working."', "en",
     "My mouse is not working.", ["preamble", "label", "quotes"]),
    # a label alone on its line, the translation below it (written after Mistral-7B-Instruct's
    # typical reply; the heading form after chat models' markdown answers)
    ("**German:**\nDer Hund schläft.", "de", "Der Hund schläft.", ["label"]),
    ("Translation:\n\n狗在睡觉。", "zh", "狗在睡觉。", ["label"]),
    ("### Russian\nСобака спит.", "ru", "Собака спит.", ["label"]),
    # a language tag after the translation (written after Mistral-7B-Instruct's typical reply)
    ("Der Hund schläft. (German)", "de", "Der Hund schläft.", ["label"]),
    # --- after the translation. A RaDis-trained model: the translation, then its rationale
    ("Pes spí.\nThis sentence uses the verb spát, which means to sleep.", "cs", "Pes spí.", ["rest_dropped"]),
    # a parenthetical back-translation: written after Mistral-7B-Instruct's typical reply
    ("Der Hund schläft. (The dog sleeps.)", "de", "Der Hund schläft.", ["back_translation"]),
    ('"Собака спит." (The dog is sleeping.)', "ru", "Собака спит.", ["back_translation", "quotes"]),
    ("The dog is sleeping. (Der Hund schläft.)", "en", "The dog is sleeping.", ["back_translation"]),
    # a romanisation after Chinese / Japanese (written after LLaMA-2-Chat's typical reply)
    ("狗在睡觉。(Gǒu zài shuìjiào.)", "zh", "狗在睡觉。", ["back_translation"]),
    ("Sure, here's the translation in Japanese:\n\n犬が寝ています。(Inu ga nete imasu.)", "ja", "犬が寝ています。",
     ["preamble", "back_translation"]),
    # a note after the translation, on its line or below it (written after LLaMA-2-Chat's typical reply)
    ('Pes spí. Note: "spí" is the third person singular of "spát".', "cs", "Pes spí.", ["note"]),
    ('Der Hund schläft. (Note: "schlafen" is an irregular verb.)', "de", "Der Hund schläft.", ["note"]),
    ('Der Hund schläft.\n\nNote: The verb "schlafen" is irregular in German.', "de", "Der Hund schläft.",
     ["rest_dropped"]),
    # an explanation below a quoted translation: the quotes are the reply's own
    ('"Der Hund schläft."\n\nExplanation: "Hund" means dog and "schläft" is the third person of "schlafen".',
     "de", "Der Hund schläft.", ["rest_dropped", "quotes"]),
    ("Absolutely! Here is the translation:\n\nHundurinn sefur.\n\nThe verb \"sofa\" means to sleep.", "is",
     "Hundurinn sefur.", ["preamble", "rest_dropped"]),
    # alternatives after the translation (written after Mistral-7B-Instruct's typical reply)
    ("Der Hund schläft.\n\nAlternatively: Der Hund pennt.", "de", "Der Hund schläft.", ["rest_dropped"]),
    # --- markdown around an announced translation (written after Mistral-7B-Instruct's typical reply)
    ("Here is the translation:\n\n**Der Hund schläft.**", "de", "Der Hund schläft.",
     ["preamble", "markdown"]),
    ("Here is the translation into Chinese:\n\n> 狗在睡觉。", "zh", "狗在睡觉。", ["preamble", "markdown"]),
]


@pytest.mark.parametrize(("reply", "tgt", "translation", "rules"), REPLIES)
def test_chat_reply_shapes(reply, tgt, translation, rules):
    assert extract_translation(reply, "chat", tgt) == (translation, rules)


def test_the_table_covers_every_rule_and_shape():
    assert len(REPLIES) >= 30
    fired = {rule for *_, rules in REPLIES for rule in rules}
    assert fired == set(EXTRACTION_RULES)


def test_first_line_and_none_keep_their_meaning():
    assert extract_translation('\n Sure, here it is:\n"Guten Tag."\n', "first_line") == (
        "Sure, here it is:", [])
    assert extract_translation(" A\nB ", "none") == ("A\nB", [])
    with pytest.raises(ValueError, match="unknown postprocess"):
        extract_translation("A", "last_line")


def test_counts_say_how_many_replies_each_rule_touched():
    rules = [extract_translation(reply, "chat", tgt)[1] for reply, tgt, _, _ in REPLIES]
    counts = extraction_counts(rules)
    # every rule name of the one registry, then the replies no rule touched
    assert list(counts) == [*EXTRACTION_RULES, "untouched"]
    assert counts == {"preamble": 23, "label": 14, "rest_dropped": 12, "note": 2, "back_translation": 6,
                      "markdown": 2, "quotes": 11, "untouched": 16}


def test_the_language_identifier_is_the_pinned_langid(repo_root):
    """langid.py ships its model inside the package (no download); it is the version envs/main.yaml pins."""
    definition = (repo_root / "envs/main.yaml").read_text().splitlines()
    pin = next(line.split("==")[1].split()[0] for line in definition if line.strip().startswith("- langid=="))
    assert importlib.metadata.version("langid") == pin
    assert language_identification() == f"langid {pin}"


def references(direction: str) -> list[str]:
    from radis.data.alma import read_mirror

    return [r["reference"] for r in read_mirror(MIRROR, Direction.parse(direction), "test")]


@needs_mirror
@pytest.mark.parametrize("direction", PAPER_DIRECTIONS)
def test_every_wmt22_reference_comes_back_unchanged(direction):
    """A reply that is only the reference is the reference: no rule may touch any WMT22 reference of the
    paper's directions, with the target language known or not. Every reference is one line (asserted:
    ``chat`` keeps a reply's first line, so a reference with a newline could not come back whole); the
    only normalisation is the strip a one-line reply gets."""
    tgt = Direction.parse(direction).tgt
    refs = references(direction)
    assert len(refs) == {"cs-en": 1448, "de-en": 1984, "ru-en": 2016, "zh-en": 1875}.get(direction, 2037)
    assert not [r for r in refs if "\n" in r or "\r" in r]
    changed = [(r, got) for r in refs
               for got in (extract_translation(r, "chat", tgt), extract_translation(r, "chat"))
               if got != (r.strip(), [])]
    assert not changed, changed[:5]


@needs_mirror
@pytest.mark.parametrize("direction", PAPER_DIRECTIONS)
def test_wmt22_references_survive_a_rationale_or_an_announcement(direction):
    """The reference followed by a RaDis rationale comes back whole; after LLaMA-2-Chat's announcement
    too, except for the references wrapped in quotes or markdown themselves, which the announced reply
    unwraps (the announcement is what says the wrapper is the reply's): they lose only the wrapper."""
    tgt = Direction.parse(direction).tgt
    for ref in references(direction):
        assert extract_translation(f"{ref}\n\nThis sentence uses the present tense.", "chat", tgt) == (
            ref, ["rest_dropped"])
        got, rules = extract_translation(f"Sure! Here is the translation:\n\n{ref}", "chat", tgt)
        if got != ref:
            assert ref[0] in "\"'“„«「『>*_`" and got in ref, ref
            assert set(rules) - {"preamble"} <= {"markdown", "quotes"}, ref
