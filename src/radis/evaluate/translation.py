"""Translation quality: corpus BLEU and chrF (sacreBLEU) and COMET, as in the paper's Tables 1-2.

The paper reports COMET (wmt22-comet-da) on a 0-100 scale; BLEU and chrF come along because they
are cheap, need no model download, and are the fallback metric when COMET is unavailable (CPU demo,
offline cluster nodes). sacreBLEU's signatures are returned so that every number is reproducible.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from pathlib import Path
from typing import Any

from radis.io import InputError
from radis.languages import LANGUAGES
from radis.layout import LOCKS
from radis.settings import CometStep, TranslateStep


class CometUnavailableError(InputError):
    """The COMET model could not be fetched or loaded (typically: offline without a local copy)."""


def score_translations(
    sources: list[str],
    hypotheses: list[str],
    references: list[str],
    tgt_lang: str,
    comet_model: str | None = None,
    comet_batch_size: int = 8,
    comet_gpus: int = 0,
    comet_revision: str | None = None,
    comet_encoder: dict | None = None,
) -> dict[str, Any]:
    """Corpus-level BLEU, chrF and (if ``comet_model`` is given) COMET×100 for one direction, and
    under ``segments`` what a table needs to resample them (radis.stats): COMET's segment scores and
    BLEU's and chrF's per-segment statistics.

    ``comet_model`` is a hub id (``Unbabel/wmt22-comet-da``) or a local checkpoint: a ``.ckpt``
    file, or a model directory holding ``checkpoints/model.ckpt`` (the hub layout), so offline
    nodes can point at a copy fetched elsewhere. ``comet_revision``: a hub id's revision.
    ``comet_encoder``: ``evaluation.comet_encoder`` (:func:`resolve_comet_encoder`).
    """
    n = len(hypotheses)
    if not (len(sources) == n == len(references)):
        raise ValueError(
            f"length mismatch: {len(sources)} sources, {n} hypotheses, {len(references)} references"
        )
    if n == 0:
        raise ValueError("nothing to score: no hypotheses")

    from radis.stats import sacrebleu_metric, segment_statistics

    bleu, chrf = sacrebleu_metric("bleu", tgt_lang), sacrebleu_metric("chrf")
    bleu_score = bleu.corpus_score(hypotheses, [references]).score
    chrf_score = chrf.corpus_score(hypotheses, [references]).score
    segments = {name: segment_statistics(name, hypotheses, references, tgt_lang) for name in ("bleu", "chrf")}

    comet_score: float | None = None
    if comet_model is not None:
        model = load_comet(comet_model, comet_revision, comet_encoder)
        samples = [{"src": s, "mt": h, "ref": r} for s, h, r in zip(sources, hypotheses, references)]
        scores = comet_segment_scores(model, samples, comet_batch_size, comet_gpus)
        comet_score = 100.0 * sum(scores) / len(scores)  # COMET's system score: the mean segment score
        if not math.isfinite(comet_score):
            raise RuntimeError(f"COMET model {comet_model} returned a non-finite score")
        segments["comet"] = scores

    return {
        "bleu": float(bleu_score),
        "chrf": float(chrf_score),
        "comet": comet_score,
        "segments": segments,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "comet_model": comet_model,
        # the checkpoint that scored: a hub id's path names the commit (.../snapshots/<commit>/...)
        "comet_checkpoint": str(resolve_comet_checkpoint(comet_model, comet_revision)) if comet_model else None,
        # where its encoder's tokenizer and config came from (a hub snapshot names its commit too)
        "comet_encoder": (resolve_comet_encoder(resolve_comet_checkpoint(comet_model, comet_revision),
                                                comet_encoder) if comet_model else None),
    }


#: COMET batches per ``predict`` call: the progress line advances this often
COMET_CHUNK_BATCHES = 8


def comet_segment_scores(model, samples: list[dict], batch_size: int, gpus: int) -> list[float]:
    """COMET's segment scores, a few batches per ``predict`` call, so that the job's log shows the
    progress (done/total, rate, time left) as generation does; COMET's own Lightning bar would
    rewrite one line per batch."""
    from tqdm.auto import tqdm

    chunk = batch_size * COMET_CHUNK_BATCHES
    scores: list[float] = []
    with tqdm(total=len(samples), desc="comet", unit="seg", mininterval=5) as bar:
        for start in range(0, len(samples), chunk):
            part = samples[start:start + chunk]
            scores += [float(x) for x in model.predict(part, batch_size=batch_size, gpus=gpus, progress_bar=False).scores]
            bar.update(len(part))
    return scores


@functools.lru_cache(maxsize=2)
def resolve_comet_checkpoint(comet_model: str, revision: str | None = None, locks: str = LOCKS) -> Path:
    """Turn a hub id or local path into the ``model.ckpt`` path that ``load_from_checkpoint`` wants.

    A hub id is fetched as comet's own ``download_model`` fetches it (``snapshot_download``, then
    ``checkpoints/model.ckpt``), but at its pinned or locked commit (radis.hublock; ``revision`` is
    ``evaluation.comet_revision``), so every table is scored by the same checkpoint.
    """
    from radis.hublock import comet_ref, local_comet_checkpoint, snapshot_at_commit

    ref = comet_ref({"comet_model": comet_model, "comet_revision": revision})
    if ref is None:
        checkpoint = local_comet_checkpoint(comet_model)
        if checkpoint is not None:
            return checkpoint
        path = Path(comet_model).expanduser()
        if path.is_dir():
            raise CometUnavailableError(f"COMET model directory {path} has no checkpoints/model.ckpt")
        raise CometUnavailableError(f"COMET checkpoint {path} does not exist")

    try:
        snapshot = snapshot_at_commit(ref, Path(locks), "radis score")
    except InputError as e:
        raise CometUnavailableError(
            f"COMET model {comet_model!r} (config key evaluation.comet_model) could not be fetched from the "
            f"Hugging Face hub (offline, gated or misspelt?): {str(e).splitlines()[0]}. "
            "Download it where there is network (the workflow's local rule download_comet does, into the "
            "hub cache: config key hub_cache), or give the path of a local checkpoint "
            "(.../checkpoints/model.ckpt or the model directory) as evaluation.comet_model instead."
        ) from None
    return snapshot / "checkpoints" / "model.ckpt"


#: the files of a hub encoder that COMET builds its encoder from: tokenizer and config (XLM-R's
#: sentencepiece.bpe.model, BERT's vocab.txt, ...); its weights are the COMET checkpoint's
COMET_ENCODER_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                       "sentencepiece.bpe.model", "sentencepiece.model", "spiece.model", "vocab.txt",
                       "vocab.json", "merges.txt"]


def resolve_comet_encoder(checkpoint: Path, encoder: dict | None, locks: str = LOCKS) -> str | None:
    """The directory COMET builds the encoder of ``checkpoint`` from, or None: as the checkpoint says.

    unbabel-comet builds the encoder from the ``pretrained_model`` its hparams.yaml names, by hub id
    (wmt22-comet-da: ``xlm-roberta-large``), unpinned and wherever the job runs. Here a hub id is the
    snapshot of ``encoder`` (``evaluation.comet_encoder``: ``{id, revision}``) at its pinned or locked
    commit (radis.hublock), tokenizer and config only (:data:`COMET_ENCODER_FILES`); the id must be
    the one the checkpoint names (or its hub namespace's: ``xlm-roberta-large`` is
    ``FacebookAI/xlm-roberta-large``). A ``pretrained_model`` that is a local directory (tests' tiny
    COMET) is kept. ``encoder`` None: the checkpoint's own hub id, as unbabel-comet would.
    """
    encoder_id, revision = (encoder["id"], encoder["revision"]) if encoder else (None, None)
    return _comet_encoder_dir(str(checkpoint), encoder_id, revision, locks)


@functools.lru_cache(maxsize=4)
def _comet_encoder_dir(checkpoint: str, encoder_id: str | None, revision: str | None,
                       locks: str) -> str | None:
    import yaml

    from radis.hublock import HubRef, snapshot_at_commit

    hparams_file = Path(checkpoint).parents[1] / "hparams.yaml"
    try:
        named = (yaml.safe_load(hparams_file.read_text(encoding="utf-8")) or {}).get("pretrained_model")
    except OSError as e:
        raise CometUnavailableError(f"COMET checkpoint {checkpoint}: cannot read {hparams_file} ({e})") \
            from None
    if not named:
        return None
    if Path(named).expanduser().is_dir():
        return named
    if encoder_id is None:
        return None
    ref = HubRef("evaluation.comet_encoder.revision", encoder_id, revision)
    if named not in (ref.repo_id, ref.repo_id.rsplit("/", 1)[-1]):
        raise CometUnavailableError(
            f"COMET checkpoint {checkpoint} builds its encoder from {named!r} ({hparams_file}), but "
            f"config key evaluation.comet_encoder.id is {ref.repo_id!r}: set it to the hub repository "
            f"of {named!r}")
    try:
        snapshot = snapshot_at_commit(ref, Path(locks), "radis score", allow_patterns=COMET_ENCODER_FILES)
    except InputError as e:
        raise CometUnavailableError(
            f"COMET's encoder {ref.repo_id} (config key evaluation.comet_encoder) is not in the hub cache "
            f"and could not be fetched: {str(e).splitlines()[0]}. The workflow's local rule download_comet "
            "fetches it where there is network (config key hub_cache: where)") from None
    if not (snapshot / "config.json").is_file():
        raise CometUnavailableError(f"COMET's encoder {ref}: its snapshot {snapshot} has no config.json")
    return str(snapshot)


def load_comet(comet_model: str, revision: str | None = None, encoder: dict | None = None) -> Any:
    """Load (once per process) a COMET model by hub id (at ``revision``) or local checkpoint path, its
    encoder built from :func:`resolve_comet_encoder`'s directory (``encoder``:
    ``evaluation.comet_encoder``)."""
    try:
        import comet  # noqa: F401 - before anything is fetched: this environment may be the wrong one
    except ImportError as e:
        raise CometUnavailableError(
            f"COMET needs unbabel-comet, which lives in the comet environment (envs/comet.yaml), not in "
            f"{sys.executable}: the score_translation rule runs there (config key environments.comet)"
        ) from e
    checkpoint = resolve_comet_checkpoint(comet_model, revision)
    return _load_comet_checkpoint(str(checkpoint), resolve_comet_encoder(checkpoint, encoder))


@functools.lru_cache(maxsize=2)
def _load_comet_checkpoint(checkpoint: str, encoder_dir: str | None) -> Any:
    """``comet.load_from_checkpoint``, with the encoder built from ``encoder_dir`` (local files only)
    instead of the hub id the checkpoint's hparams name: Lightning lets keyword arguments override a
    checkpoint's hyperparameters. The weights are the checkpoint's either way."""
    import yaml
    from comet.models import load_from_checkpoint, str2model

    hparams = yaml.safe_load((Path(checkpoint).parents[1] / "hparams.yaml").read_text(encoding="utf-8"))
    if encoder_dir is None:
        return load_from_checkpoint(checkpoint)
    if encoder_dir == hparams.get("pretrained_model"):  # a local encoder the checkpoint names itself
        return load_from_checkpoint(checkpoint, local_files_only=True)
    import torch

    # as comet.load_from_checkpoint (unbabel-comet 2.2.7), which takes no overrides
    patch = {"layer_transformation": "softmax"} if hparams.get("layer_transformation") == "sparsemax_patch" \
        else {}
    return str2model[hparams["class_identifier"]].load_from_checkpoint(
        checkpoint_path=checkpoint, load_pretrained_weights=False, hparams_file=None,
        map_location=torch.device("cpu"), strict=False, local_files_only=True, pretrained_model=encoder_dir,
        **patch)


def download_comet(out: str, settings: CometStep) -> None:
    """``radis download-comet``, the local rule download_comet (where Snakemake runs, with the network):
    the COMET checkpoint and its encoder's tokenizer and config into the hub cache (``HF_HUB_CACHE``,
    config key ``hub_cache``) at their pinned or locked commits, so that every score job loads both
    offline (``HF_HUB_OFFLINE=1``); ``out`` records the two paths (each names its commit)."""
    from radis.io import write_json

    if not settings.comet_model:
        raise InputError("download-comet: settings name no comet_model")
    checkpoint = resolve_comet_checkpoint(settings.comet_model, settings.comet_revision)
    encoder = resolve_comet_encoder(checkpoint, settings.comet_encoder)
    write_json(out, {"comet_model": settings.comet_model, "checkpoint": str(checkpoint), "encoder": encoder})
    print(f"COMET checkpoint {checkpoint}, encoder {encoder}")


#: Wrapping quotes chat models put around a translation, opening → closing.
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u201e": "\u201c", "\u00ab": "\u00bb", "\u300c": "\u300d",
           "\u300e": "\u300f"}
_LANG = "|".join(LANGUAGES.values())
#: "Translation" and language names as a chat model writes them in the target language itself.
_NATIVE_LABELS = ("Übersetzung|Deutsch|Překlad|Čeština|Česky|Þýðing|Íslenska"
                  "|Перевод|Русский|Переклад|Українська|翻译|译文|中文|翻訳|日本語|Traduction|Français")
_LABEL_WORD = rf"(?:(?:{_LANG})\s+)?(?:translation|translated text|{_LANG})|{_NATIVE_LABELS}"
#: A label in front of the translation on its line: "Translation:", "German translation:", "**German:**",
#: "翻译：".
_LABEL = re.compile(rf"^\W*(?:{_LABEL_WORD})\s*(?:\([^)]*\))?[*_]*\s*[:：][*_]*\s*(?=\S)", re.IGNORECASE)
#: A label alone on its line, the translation below it: "**German:**", "Translation:", "### Czech".
_LABEL_LINE = re.compile(rf"^(?:#+\s*)?\W*(?:{_LABEL_WORD})\s*(?:\([^)]*\))?\s*[*_]*\s*[:：]?\s*[*_]*$",
                         re.IGNORECASE)
#: A language tag after the translation: "Der Hund schläft. (German)", "(in German)", "(German translation)".
_LABEL_TAIL = re.compile(rf"\s*[(（](?:in\s+)?(?:{_LANG})(?:\s+translation)?[)）]$", re.IGNORECASE)
#: Pleasantries chat models open with ("Sure!", "Of course,", "Absolutely.").
_INTERJECTION = (r"(?:sure(?:\s+thing)?|certainly|of\s+course|absolutely|okay|ok|alright|great"
                 r"|no\s+problem|yes|gladly|definitely|(?:happy|glad)\s+to\s+help|with\s+pleasure)")
#: A sentence that only talks to the user: "Sure!", "I'd be happy to help you with that!", "Here you go."
_CHAT_SENTENCE = re.compile(
    rf"^\W*(?:{_INTERJECTION}\W*)*"
    r"(?:I(?:'d|’d| would|'m|’m| am|'ll|’ll| will| can| could)\b[^:：]*?\b(?:help|assist|translat\w*)\b[^:：]*"
    r"|here(?:'s|’s| is| are| it is| you go| you are)\b[^:：]*)?[.!]*\W*$", re.IGNORECASE)
#: A sentence that announces the translation: "Here is the translation", "The German translation of ... is",
#: "In Czech, the sentence would be", "This translates to".
_ANNOUNCE = re.compile(
    rf"^\W*(?:{_INTERJECTION}\W+)?(?:here(?:'s|’s|\s+is|\s+are)\b"
    r"|(?:the|my|your|a|an)\s+(?:[\w-]+\s+){0,3}(?:translation|version|rendering)\b"
    rf"|(?:in|into)\s+(?:{_LANG})\b"
    r"|this\s+(?:[\w-]+\s+){0,3}(?:translates|would\s+be|reads|is)\b"
    r"|translat\w*\b"
    rf"|(?:{_LANG})\s+(?:translation|version)\b"
    rf"|(?:the\s+)?(?:sentence|phrase|text|source)\b.*\b(?:in|into|to)\s+(?:{_LANG})\b"
    r"|.*\btranslat\w*\s+(?:as|to|into)\b)", re.IGNORECASE)
#: Words that make a line ending in ':' an announcement ("Sure! Here it is:", "Hier ist die Übersetzung:").
_CUE = re.compile(rf"\b(?:translat\w*|here|sure|certainly|of\s+course|(?:in|into|to)\s+(?:{_LANG}))\b"
                  r"|Übersetzung|překlad|Þýðing|перевод|переклад|翻译|译文|翻訳", re.IGNORECASE)
#: Words that name the translation or its language: what an announcement on the translation's own line
#: must say ("Here is the link: https://..." in a reference is no announcement).
_STRONG_CUE = re.compile(rf"\btranslat\w*|\b(?:in|into|to)\s+(?:{_LANG})\b"
                         rf"|\b(?:{_LANG})\s+(?:translation|version)\b", re.IGNORECASE)
#: An announcement that ends where the quoted translation begins ("... is", "... as", "... would be:").
_ANNOUNCE_END = re.compile(r"\b(?:is|as|be|reads|becomes|means)\s*[:：]?$|[:：]$", re.IGNORECASE)
#: A note or explanation after the translation.
_NOTE_WORD = (r"(?:Note|NOTE|N\.B\.|NB|Explanation|Translator['’]s note|Translation notes?|Literally"
              r"|Literal translation|Lit\.|Back[- ]translation)")
#: ... on the translation's line, after its last sentence: "Der Hund schläft. Note: ...",
#: "... (Literally: ...)".
_NOTE_TAIL = re.compile(
    rf"(?<=[.!?。！？…\"”»“」』)])\s*(?P<note>[(（]?(?:\*\*|__)?{_NOTE_WORD}(?:\*\*|__)?\s*[:：,].*)$")
#: ... or starting the lines dropped after it.
_NOTE_START = re.compile(rf"^\W*(?:{_NOTE_WORD}|I hope)\b|^[(（]")
#: A parenthetical after the translation: a back-translation "Der Hund schläft. (The dog sleeps.)".
_PAREN_TAIL = re.compile(r"^(?P<text>.*\S)\s*[(（](?P<paren>[^()（）]+)[)）]$")
#: Markdown a chat model wraps the translation in: **bold**, *italics*, `code`, or a > quote block.
_MARKDOWN = re.compile(r"^(?P<mark>\*\*|__|\*|_|`)(?P<text>[^*_`\s](?:.*[^*_`\s])?)(?P=mark)$")
_BLOCKQUOTE = re.compile(r"^>\s*(?=\S)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

#: Targets written in their own script: a line is in the language when most of its letters are in it.
_SCRIPTS = {
    "zh": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"),
    "ja": re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]"),
    "ru": re.compile(r"[\u0400-\u04ff]"),
    "uk": re.compile(r"[\u0400-\u04ff]"),
}
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")
#: The Latin-script languages of radis.languages: these the language identifier tells apart.
_LATIN_LANGUAGES = tuple(code for code in LANGUAGES if code not in _SCRIPTS)
#: How much likelier (log-odds, nats) another language must be before a Latin-script text counts as
#: not the target's: langid is unsure on a few words, and a wrong "foreign" would drop real text.
_FOREIGN_MARGIN = 5.0

#: The rules :func:`extract_translation` may apply, in the order of the parts of a reply they handle
#: (before the translation, its line, after it, its wrapping). The one registry of rule names:
#: :func:`extraction_counts` gives each cell a count for every name here (a cell's ``extraction``), so a
#: new rule is one entry here and every cell's counts cover it.
EXTRACTION_RULES = ("preamble", "label", "rest_dropped", "note", "back_translation", "markdown", "quotes")


@functools.lru_cache(maxsize=1)
def _language_identifier() -> tuple[Any, dict[str, int]] | None:
    """langid.py's model (inside the package, no download), loaded once, lazily (≈3 s); None where
    langid is not installed (then Latin-script targets are told apart by the patterns alone)."""
    try:
        from langid.langid import LanguageIdentifier, model
    except ImportError:
        return None
    identifier = LanguageIdentifier.from_modelstring(model, norm_probs=False)
    return identifier, {code: i for i, code in enumerate(identifier.nb_classes)}


def language_identification() -> str | None:
    """What tells a Latin-script target's lines from English ones in ``postprocess: chat``: the
    identifier with its version (``langid 1.1.6``), loaded here, or None where langid is missing
    (the extraction then uses the target's script and the patterns alone)."""
    import importlib.metadata

    if _language_identifier() is None:
        return None
    return f"langid {importlib.metadata.version('langid')}"


def _odds_not_target(text: str, tgt: str) -> float | None:
    """Log-odds that a Latin-script ``text`` is not in ``tgt``: against English for another target (the
    language chat models talk in), against the likeliest other Latin language of the paper for English
    (a back-translation into the source). None where the identifier is missing or does not know ``tgt``."""
    loaded = _language_identifier()
    if loaded is None or tgt not in loaded[1]:
        return None
    identifier, index = loaded
    scores = identifier.nb_classprobs(identifier.instance2fv(text))
    others = ["en"] if tgt != "en" else [c for c in _LATIN_LANGUAGES if c != "en" and c in index]
    return float(max(scores[index[c]] for c in others) - scores[index[tgt]])


def _script_share(text: str, tgt: str) -> tuple[int, int]:
    """(letters of ``text`` in the target's script, all letters)."""
    letters = [c for c in text if c.isalpha()]
    script = _SCRIPTS.get(tgt, _LATIN)
    return sum(bool(script.match(c)) for c in letters), len(letters)


def _foreign(text: str, tgt: str | None) -> bool:
    """``text`` is surely not in the target language: hardly a letter in the target's script, or (for a
    Latin-script target) another script or another language by a clear margin. False when unsure."""
    if tgt is None:
        return False
    in_script, letters = _script_share(text, tgt)
    if letters < 2:
        return False
    if tgt in _SCRIPTS:
        return in_script <= letters / 5
    if in_script < letters / 2:
        return True
    odds = _odds_not_target(text, tgt)
    return odds is not None and odds >= _FOREIGN_MARGIN


def _native(text: str, tgt: str | None) -> bool:
    """``text`` is in the target language (its script; for a Latin-script target, the likelier language)."""
    if tgt is None:
        return False
    in_script, letters = _script_share(text, tgt)
    if not letters or in_script < letters / 2:
        return False
    if tgt in _SCRIPTS:
        return True
    odds = _odds_not_target(text, tgt)
    return odds is not None and odds < 0


def _chat(sentence: str) -> bool:
    return bool(_CHAT_SENTENCE.match(sentence)) and any(c.isalpha() for c in sentence)


def _pleasantry(line: str) -> bool:
    """Every sentence of ``line`` talks to the user ("Sure, I'd be happy to help!")."""
    return all(_chat(s) for s in _SENTENCE_END.split(line))


def _announcement(text: str) -> bool:
    """``text`` (before a colon or a quoted translation) is pleasantries, then a sentence announcing it."""
    *chat, last = _SENTENCE_END.split(text.strip())
    return bool(_ANNOUNCE.match(last)) and all(_chat(s) for s in chat)


def _label_line(line: str) -> bool:
    return bool(_LABEL_LINE.match(line)) and any(mark in line for mark in (":", "：", "**", "#"))


def _announcement_line(line: str, tgt: str | None) -> bool:
    """A line before the translation that announces it: it ends in ':' and names it ("Here is the
    translation:", "In Czech, the sentence would be:") or, for a known target, is not in its language;
    or it is pleasantries then "Here is the translation." without the colon."""
    bare = line.rstrip("*_ ")
    if bare.endswith((":", "：")):
        return bool(_CUE.search(bare)) or (tgt not in (None, "en") and _foreign(bare, tgt))
    return _pleasantry(line) and bool(_STRONG_CUE.search(line)) and _announcement(line)


def _leading_rule(lines: list[str], tgt: str | None) -> str | None:
    """The rule that drops ``lines[0]``, which more lines follow, or None: it is the translation."""
    line, following = lines[0], lines[1]
    if _label_line(line):
        return "label"
    if _announcement_line(line, tgt):
        return "preamble"
    # a pleasantry alone ("Sure, I'd be happy to help!"): dropped where an announcement follows it or
    # where it is surely not in the target language; an English translation can be "Of course!"
    announced = _announcement_line(following, tgt) or _label_line(following)
    if _pleasantry(line) and (announced or _foreign(line, tgt)):
        return "preamble"
    return None


def _quoted_tail(line: str) -> tuple[str, str] | None:
    """(text before, quoted span) where ``line`` ends in one quoted span ("... is "Der Hund schläft."")."""
    body = line[:-1] if line.endswith((".", "!")) and len(line) > 1 and line[-2] in _QUOTES.values() else line
    for opening, closing in _QUOTES.items():
        if not body.endswith(closing) or len(body) < 3:
            continue
        start = body.rfind(opening, 0, len(body) - 1)
        if start <= 0:
            continue
        inner = body[start + 1:-1].strip()
        if inner and not any(q in inner for q in (opening, closing)):
            return body[:start].strip(), inner
    return None


def _inline_preamble(line: str, tgt: str | None) -> tuple[str, bool] | None:
    """The translation after an announcement on its own line, and whether it was quoted: "Sure! Here
    is the translation: Der Hund schläft.", 'The German translation of "..." is "Der Hund schläft."'.
    The announcement must name the translation or its language; for a known target other than English
    it must also not be in the target language."""
    def announces(pre: str) -> bool:
        strong = bool(_STRONG_CUE.search(pre)) or (tgt not in (None, "en") and bool(_CUE.search(pre)))
        return (strong and _announcement(pre) and len(pre.split()) <= 30
                and (tgt in (None, "en") or _foreign(pre, tgt)))

    quoted = _quoted_tail(line)
    if quoted and quoted[0] and _ANNOUNCE_END.search(quoted[0]) and announces(quoted[0].rstrip(":： ")):
        return quoted[1], True
    match = re.match(r"^(?P<pre>[^:：]{3,}?)\s*[:：]\s*(?P<rest>\S.*)$", line)
    if match and announces(match["pre"]):
        return match["rest"], False
    return None


def _tail(line: str, tgt: str | None) -> tuple[str, str] | None:
    """(what is left, rule) when ``line`` ends in something after the translation: a note, a language
    tag, or a parenthetical surely not in the target language (a back-translation, a romanisation)."""
    note = _NOTE_TAIL.search(line)
    if note and note.start() > 0 and (tgt in (None, "en") or not _native(note["note"], tgt)):
        return line[:note.start()].rstrip(), "note"
    tag = _LABEL_TAIL.search(line)
    if tag and tag.start() > 0:
        return line[:tag.start()].rstrip(), "label"
    paren = _PAREN_TAIL.match(line)
    if (paren and sum(c.isalpha() for c in paren["paren"]) >= 6
            and _native(paren["text"], tgt) and _foreign(paren["paren"], tgt)):
        return paren["text"], "back_translation"
    return None


def _unquote(text: str) -> str | None:
    closing = _QUOTES.get(text[:1])
    if closing and len(text) > 2 and text.endswith(closing):
        inner = text[1:-1].strip()
        if inner and not any(q in inner for q in (text[0], closing)):
            return inner
    return None


def extract_translation(text: str, postprocess: str, tgt_lang: str | None = None) -> tuple[str, list[str]]:
    """The translation inside a model's reply, and the rules that were needed to find it.

    ``none`` keeps the whole reply; ``first_line`` keeps its first non-empty line; ``chat`` handles
    the shapes chat backbones really reply in. LLaMA-2-Chat opens with pleasantries and an
    announcement ("Sure, I'd be happy to help!" / "Here is the translation of the sentence into
    German:"), quotes the translation and adds notes; Mistral-Instruct announces and translates on
    one line ("In Czech, the sentence would be: ...", 'The German translation of "..." is "..."'),
    labels it in markdown ("**German:** ...") and adds a back-translation in parentheses; RaDis-trained
    models write the translation, then a rationale. The rules, in :data:`EXTRACTION_RULES`' order:

    - ``preamble``: pleasantry and announcement lines before the translation, or an announcement
      before a colon (or a quoted translation) on its own line;
    - ``label``: "Translation:", "German:", "**German:**", "翻译：" on its line or alone on the line
      above it, or "(German)" after it;
    - ``rest_dropped``: every line after the translation's (notes, rationales, alternatives);
    - ``note``: a "Note:", "(Literally: ...)" after the translation on its line;
    - ``back_translation``: a parenthetical after the translation that is surely not in the target
      language ("Der Hund schläft. (The dog sleeps.)", pinyin after Chinese);
    - ``markdown``: **bold**, *italics*, `code` or "> " around the translation;
    - ``quotes``: quotes wrapped around it, taken off only when the reply otherwise shows it wrapped
      the translation (any rule above, or notes after it): a reply that is only a quoted sentence
      keeps its quotes, as a quotation is a real translation (31 of WMT22's references are one).

    ``tgt_lang`` (a code of :data:`radis.languages.LANGUAGES`) decides where patterns cannot: a line
    in the target's script (zh, ja, ru, uk) or, for a Latin-script target, the language langid.py
    finds likelier (against English; for an English target against the other Latin languages), with
    a margin before anything is dropped as foreign. Without it, or without langid, only the patterns
    and the script decide. A reply that is only the translation touches no rule: every WMT22
    reference comes back unchanged (tests/test_translation_extraction.py). The rules applied are
    returned so that each cell can say how many replies each rule touched.
    """
    if postprocess == "none":
        return text.strip(), []
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if postprocess == "first_line":
        return (lines[0] if lines else ""), []
    if postprocess != "chat":
        raise ValueError(f"unknown postprocess {postprocess!r}: chat, first_line or none")
    fired: set[str] = set()
    while len(lines) > 1 and (rule := _leading_rule(lines, tgt_lang)):
        lines = lines[1:]
        fired.add(rule)
    if not lines:
        return "", []
    line, rest = lines[0], lines[1:]
    explained = bool(rest) and bool(_NOTE_START.match(rest[0]))
    if rest:
        fired.add("rest_dropped")
    labelled = _LABEL.sub("", line, count=1)
    if labelled != line:
        line = labelled
        fired.add("label")
    elif inline := _inline_preamble(line, tgt_lang):  # "Translation: ..." is a label, not an announcement
        line, was_quoted = inline
        fired.update(("preamble", "quotes") if was_quoted else ("preamble",))
    for _ in range(2):  # a note after a back-translation, a tag after a note
        tail = _tail(line, tgt_lang)
        if tail is None:
            break
        line = tail[0]
        fired.add(tail[1])
    # markdown and quotes are the reply's own only where it shows it wrapped the translation: WMT22's
    # references hold quotations, "> " quote blocks and **bold** titles of their own
    if fired - {"rest_dropped"} or explained:
        unmarked = _BLOCKQUOTE.sub("", line, count=1)
        if (match := _MARKDOWN.match(unmarked)) and match["mark"] not in match["text"]:
            unmarked = match["text"].strip()
        if unmarked != line:
            line = unmarked
            fired.add("markdown")
        unquoted = _unquote(line)
        if unquoted is not None:
            line = unquoted
            fired.add("quotes")
    return line, [rule for rule in EXTRACTION_RULES if rule in fired]


def extraction_counts(rules_per_reply: list[list[str]]) -> dict[str, int]:
    """How many replies each extraction rule touched, and how many needed none."""
    counts = {rule: sum(rule in rules for rules in rules_per_reply) for rule in EXTRACTION_RULES}
    counts["untouched"] = sum(not rules for rules in rules_per_reply)
    return counts


def translation_prompts(tokenizer, records: list[dict], instruction: int,
                        prompt_format: dict | None = None) -> list[str]:
    """Greedy test prompts: one fixed instruction of Fig. 5 for every test sentence, in the chat
    template; or, for a released MT model with a ``prompt_format``, the model's own prompt."""
    from radis.languages import Direction
    from radis.prompts import (
        format_translation_prompt,
        render_generation_prompt,
        translation_instruction,
        user,
    )

    if prompt_format is not None:
        return [format_translation_prompt(prompt_format, tokenizer.bos_token or "",
                                          Direction(r["src_lang"], r["tgt_lang"]), r["source"]) for r in records]
    return [
        render_generation_prompt(tokenizer, [user(translation_instruction(
            Direction(r["src_lang"], r["tgt_lang"]), r["source"], instruction))])
        for r in records
    ]


#: what a test record needs: the prompt reads the source and its languages, scoring the reference
TEST_RECORD_KEYS = ("source", "reference", "src_lang", "tgt_lang")


def translate(model: str, directions: list[str], data_dir: str, out_dir: str, settings: TranslateStep) -> None:
    """``radis translate``: every test direction of one model in one job (the model is loaded once);
    the translation is extracted from the reply (``evaluation.postprocess``) with the rules that fired."""
    from dataclasses import asdict

    from radis.device import enforce_device
    from radis.generation import generator_from_settings, refuse_overlong_prompts
    from radis.io import read_jsonl, regroup, require_keys, write_json, write_jsonl
    from radis.languages import per_direction
    from radis.provenance import config_hash, provenance

    enforce_device("translate", settings.device)
    ev, prompt_format = settings.evaluation, settings.prompt_format
    jobs = per_direction(directions, data_dir, out_dir, ".hyp")
    batches = [require_keys(data, read_jsonl(data), TEST_RECORD_KEYS) for _, data, _, _ in jobs]
    records = [r for batch in batches for r in batch]

    def prompts(tokenizer, rs):
        return translation_prompts(tokenizer, rs, ev.instruction, prompt_format)

    refuse_overlong_prompts(settings, model, prompts, records, "translate")
    # the language identifier postprocess: chat consults, loaded before generation (once, ≈3 s)
    language_id = language_identification() if ev.postprocess == "chat" else None
    if ev.postprocess == "chat" and language_id is None:  # every environment that translates pins it
        raise RuntimeError(f"translate: evaluation.postprocess chat needs langid, which {sys.executable} lacks; "
                           "rebuild the environment with envs/setup.sh (envs/main.yaml and envs/vllm*.yaml pin it)")
    generator = generator_from_settings(settings, model)
    generations = generator.generate(prompts(generator.tokenizer, records), settings.decoding)
    out = []
    for r, g in zip(records, generations):
        hypothesis, rules = extract_translation(g.text, ev.postprocess, r["tgt_lang"])
        out.append({**r, "output": g.text, "hypothesis": hypothesis, "extraction": rules,
                    "generated_tokens": g.n_tokens, "finished": g.finished})
    for (direction, _, out_path, meta_path), part in zip(jobs, regroup(out, batches)):
        write_jsonl(out_path, part)
        write_json(meta_path, provenance(model_dir=model, direction=str(direction), config_hash=config_hash(settings.given),
                                         decoding=asdict(settings.decoding), generation=asdict(settings.generation),
                                         evaluation=asdict(ev),
                                         prompt_format=(prompt_format or {}).get("name"), n=len(part),
                                         language_identification=language_id))


def items_fingerprint(rows: list[dict]) -> str:
    """The test items of a scored file, in order (sources and references): two cells resample
    alike only where this is the same."""
    import hashlib
    import json

    blob = json.dumps([[r["source"], r["reference"]] for r in rows], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def score(hypotheses: list[str], generation_meta: list[str], backbone: str, method: str, out: list[str],
          settings: CometStep) -> None:
    """``radis score``: every direction of one model in one job: COMET is loaded once (load_comet
    caches it), and each direction still gets its own result file, the table cell."""
    import json

    from radis.io import InputError, read_json, read_jsonl, write_json
    from radis.provenance import provenance

    if not len(hypotheses) == len(generation_meta) == len(out):
        raise InputError("score: give one --generation-meta and one --out per --hypotheses file, in the same order")
    for hyp_path, meta, out_path in zip(hypotheses, generation_meta, out):
        rows = read_jsonl(hyp_path)
        if not rows:
            raise InputError(f"{hyp_path}: no hypotheses")
        metrics = score_translations([r["source"] for r in rows], [r["hypothesis"] for r in rows],
                                     [r["reference"] for r in rows], rows[0]["tgt_lang"],
                                     comet_model=settings.comet_model, comet_batch_size=settings.comet_batch_size,
                                     comet_revision=settings.comet_revision,
                                     comet_encoder=settings.comet_encoder if settings.comet_model else None)
        write_json(out_path, {
            "backbone": backbone, "method": method,
            "direction": f"{rows[0]['src_lang']}-{rows[0]['tgt_lang']}",
            "metrics": {k: metrics[k] for k in ("bleu", "chrf", "comet")},
            "n": len(rows),
            # per-segment scores and statistics in the order of the test set, whose fingerprint pairs
            # them with another model's (radis.stats: the tables' intervals and paired tests)
            "segments": {"items": items_fingerprint(rows), **metrics["segments"]},
            "extraction": extraction_counts([r.get("extraction", []) for r in rows]),
            "provenance": provenance(signatures={k: v for k, v in metrics.items()
                                                 if k not in ("bleu", "chrf", "comet", "segments")},
                                     generation=read_json(meta)),
        })
        print(out_path, json.dumps(metrics))
