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

import sacrebleu

from radis.io import InputError
from radis.languages import LANGUAGES
from radis.layout import LOCKS


class CometUnavailableError(InputError):
    """The COMET model could not be fetched or loaded (typically: offline without a local copy)."""


def bleu_tokenizer(tgt_lang: str) -> str:
    """sacreBLEU's tokenizer for a target language: ``13a`` splits on spaces, which would make an
    unsegmented Chinese sentence one token, so Chinese uses the ``zh`` character tokenizer (WMT
    practice, and what the paper's evaluation follows)."""
    return "zh" if tgt_lang == "zh" else "13a"


def score_translations(
    sources: list[str],
    hypotheses: list[str],
    references: list[str],
    tgt_lang: str,
    comet_model: str | None = None,
    comet_batch_size: int = 8,
    comet_gpus: int = 0,
    comet_revision: str | None = None,
) -> dict[str, Any]:
    """Corpus-level BLEU, chrF and (if ``comet_model`` is given) COMET×100 for one direction.

    ``comet_model`` is a hub id (``Unbabel/wmt22-comet-da``) or a local checkpoint: a ``.ckpt``
    file, or a model directory holding ``checkpoints/model.ckpt`` (the hub layout), so offline
    nodes can point at a copy fetched elsewhere. ``comet_revision``: a hub id's revision.
    """
    n = len(hypotheses)
    if not (len(sources) == n == len(references)):
        raise ValueError(
            f"length mismatch: {len(sources)} sources, {n} hypotheses, {len(references)} references"
        )
    if n == 0:
        raise ValueError("nothing to score: no hypotheses")

    bleu = sacrebleu.BLEU(tokenize=bleu_tokenizer(tgt_lang))
    chrf = sacrebleu.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references]).score
    chrf_score = chrf.corpus_score(hypotheses, [references]).score

    comet_score: float | None = None
    if comet_model is not None:
        model = load_comet(comet_model, comet_revision)
        samples = [{"src": s, "mt": h, "ref": r} for s, h, r in zip(sources, hypotheses, references)]
        scores = comet_segment_scores(model, samples, comet_batch_size, comet_gpus)
        comet_score = 100.0 * sum(scores) / len(scores)  # COMET's system score: the mean segment score
        if not math.isfinite(comet_score):
            raise RuntimeError(f"COMET model {comet_model} returned a non-finite score")

    return {
        "bleu": float(bleu_score),
        "chrf": float(chrf_score),
        "comet": comet_score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "comet_model": comet_model,
        # the checkpoint that scored: a hub id's path names the commit (.../snapshots/<commit>/...)
        "comet_checkpoint": str(resolve_comet_checkpoint(comet_model, comet_revision)) if comet_model else None,
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


def comet_hub_id(comet_model: str | None) -> str | None:
    """The hub id ``evaluation.comet_model`` names; None for a local checkpoint (an existing path, a
    ``.ckpt``, an absolute or ``./`` path) or no COMET."""
    if not comet_model:
        return None
    path = Path(comet_model).expanduser()
    if path.exists() or comet_model.endswith(".ckpt") or path.is_absolute() or comet_model.startswith("."):
        return None
    return comet_model


@functools.lru_cache(maxsize=2)
def resolve_comet_checkpoint(comet_model: str, revision: str | None = None, locks: str = LOCKS) -> Path:
    """Turn a hub id or local path into the ``model.ckpt`` path that ``load_from_checkpoint`` wants.

    A hub id is fetched as comet's own ``download_model`` fetches it (``snapshot_download``, then
    ``checkpoints/model.ckpt``), but at its pinned or locked commit (radis.hublock; ``revision`` is
    ``evaluation.comet_revision``), so every table is scored by the same checkpoint.
    """
    from radis.hublock import comet_ref, snapshot_at_commit

    ref = comet_ref({"comet_model": comet_model, "comet_revision": revision})
    if ref is None:
        path = Path(comet_model).expanduser()
        if path.is_file():
            return path
        if path.is_dir():
            ckpt = path / "checkpoints" / "model.ckpt"
            if ckpt.is_file():
                return ckpt
            raise CometUnavailableError(f"COMET model directory {path} has no checkpoints/model.ckpt")
        raise CometUnavailableError(f"COMET checkpoint {path} does not exist")

    try:
        snapshot = snapshot_at_commit(ref, Path(locks), "radis score")
    except InputError as e:
        raise CometUnavailableError(
            f"COMET model {comet_model!r} (config key evaluation.comet_model) could not be fetched from the "
            f"Hugging Face hub (offline, gated or misspelt?): {str(e).splitlines()[0]}. "
            "Download it where there is network, or give the path of a local checkpoint "
            "(.../checkpoints/model.ckpt or the model directory) as evaluation.comet_model instead."
        ) from None
    return snapshot / "checkpoints" / "model.ckpt"


@functools.lru_cache(maxsize=2)
def load_comet(comet_model: str, revision: str | None = None) -> Any:
    """Load (once per process) a COMET model by hub id (at ``revision``) or local checkpoint path.

    ``local_files_only`` stays off: the encoder's tokenizer/config (e.g. xlm-roberta-large) comes
    from the HF cache and honours ``HF_HUB_OFFLINE`` on its own.
    """
    try:
        from comet import load_from_checkpoint
    except ImportError as e:
        raise CometUnavailableError(
            f"COMET needs unbabel-comet, which lives in the comet environment (envs/comet.yaml), not in "
            f"{sys.executable}: the score_translation rule runs there (config key environments.comet)"
        ) from e
    return load_from_checkpoint(str(resolve_comet_checkpoint(comet_model, revision)))


#: Wrapping quotes chat models put around a translation, opening → closing.
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u201e": "\u201c", "\u00ab": "\u00bb", "\u300c": "\u300d",
           "\u300e": "\u300f"}
#: A line that only announces the translation ("Sure! Here is the translation of the sentence:").
_PREAMBLE = re.compile(r"\b(translat\w*|here|sure|certainly|of course)\b", re.IGNORECASE)
#: A label in front of the translation on its own line: "Translation:", "German translation:", "German:".
_LABEL = re.compile(
    r"^\W*(?:(?:" + "|".join(LANGUAGES.values()) + r")\s+)?(?:translation|translated text|"
    + "|".join(LANGUAGES.values()) + r")\s*(?:\([^)]*\))?\W*:\s*(?=\S)", re.IGNORECASE)

#: The rules :func:`extract_translation` may apply, in the order it applies them.
EXTRACTION_RULES = ("preamble", "label", "rest_dropped", "quotes")


def extract_translation(text: str, postprocess: str) -> tuple[str, list[str]]:
    """The translation inside a model's reply, and the rules that were needed to find it.

    ``none`` keeps the whole reply; ``first_line`` keeps its first non-empty line; ``chat``
    handles the shapes chat backbones really reply in (LLaMA-2-Chat: "Sure! Here is the
    translation:" on a line of its own, then the translation in quotes, then notes; RaDis-trained
    models: the translation, then a rationale): it drops a first line that ends with ':' and
    announces the translation (``preamble``), a "Translation:" / "German:" label (``label``),
    everything after the translation's line (``rest_dropped``), and quotes wrapped around it
    (``quotes``). A reply that is only the translation touches no rule. The rules applied are
    returned so that each cell can say how many replies each rule touched.
    """
    if postprocess == "none":
        return text.strip(), []
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if postprocess == "first_line":
        return (lines[0] if lines else ""), []
    rules = []
    if len(lines) > 1 and lines[0].endswith(":") and _PREAMBLE.search(lines[0]):
        lines = lines[1:]
        rules.append("preamble")
    if not lines:
        return "", rules
    first = lines[0]
    labelled = _LABEL.sub("", first, count=1)
    if labelled != first:
        first = labelled
        rules.append("label")
    if len(lines) > 1:
        rules.append("rest_dropped")
    closing = _QUOTES.get(first[:1])
    if closing and len(first) > 2 and first.endswith(closing):
        first = first[1:-1].strip()
        rules.append("quotes")
    return first, rules


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
    from radis.prompts import format_translation_prompt, render_generation_prompt, translation_instruction, user

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


def translate(model: str, directions: list[str], data_dir: str, out_dir: str, settings: dict) -> None:
    """``radis translate``: every test direction of one model in one job (the model is loaded once);
    the translation is extracted from the reply (``evaluation.postprocess``) with the rules that fired."""
    from radis.config import DecodingParams
    from radis.device import enforce_device
    from radis.generation import generator_from_settings, refuse_overlong_prompts
    from radis.io import per_direction, read_jsonl, regroup, require_keys, write_json, write_jsonl
    from radis.provenance import config_hash, provenance

    enforce_device("translate", settings)
    ev, prompt_format = settings["evaluation"], settings.get("prompt_format")
    jobs = per_direction(directions, data_dir, out_dir, ".hyp")
    batches = [require_keys(data, read_jsonl(data), TEST_RECORD_KEYS) for _, data, _, _ in jobs]
    records = [r for batch in batches for r in batch]

    def prompts(tokenizer, rs):
        return translation_prompts(tokenizer, rs, ev["instruction"], prompt_format)

    refuse_overlong_prompts(settings, model, prompts, records, "translate")
    generator = generator_from_settings(settings, model)
    generations = generator.generate(prompts(generator.tokenizer, records), DecodingParams.from_config(settings["decoding"]))
    out = []
    for r, g in zip(records, generations):
        hypothesis, rules = extract_translation(g.text, ev["postprocess"])
        out.append({**r, "output": g.text, "hypothesis": hypothesis, "extraction": rules,
                    "generated_tokens": g.n_tokens, "finished": g.finished})
    for (direction, _, out_path, meta_path), part in zip(jobs, regroup(out, batches)):
        write_jsonl(out_path, part)
        write_json(meta_path, provenance(model_dir=model, direction=str(direction), config_hash=config_hash(settings),
                                         decoding=settings["decoding"], generation=settings["generation"], evaluation=ev,
                                         prompt_format=(prompt_format or {}).get("name"), n=len(part)))


def score(hypotheses: list[str], generation_meta: list[str], backbone: str, method: str, out: list[str],
          settings: dict) -> None:
    """``radis score``: every direction of one model in one job: COMET is loaded once (load_comet
    caches it), and each direction still gets its own result file, the table cell."""
    import json

    from radis.device import enforce_device
    from radis.io import InputError, read_json, read_jsonl, write_json
    from radis.provenance import provenance

    if not len(hypotheses) == len(generation_meta) == len(out):
        raise InputError("score: give one --generation-meta and one --out per --hypotheses file, in the same order")
    comet_gpus = settings.get("comet_gpus", 0) if settings["comet_model"] else 0
    if comet_gpus and enforce_device("score (COMET on GPU)", settings) == "cpu":
        comet_gpus = 0
    for hyp_path, meta, out_path in zip(hypotheses, generation_meta, out):
        rows = read_jsonl(hyp_path)
        if not rows:
            raise InputError(f"{hyp_path}: no hypotheses")
        metrics = score_translations([r["source"] for r in rows], [r["hypothesis"] for r in rows],
                                     [r["reference"] for r in rows], rows[0]["tgt_lang"],
                                     comet_model=settings["comet_model"], comet_batch_size=settings["comet_batch_size"],
                                     comet_gpus=comet_gpus, comet_revision=settings.get("comet_revision"))
        write_json(out_path, {
            "backbone": backbone, "method": method,
            "direction": f"{rows[0]['src_lang']}-{rows[0]['tgt_lang']}",
            "metrics": {k: metrics[k] for k in ("bleu", "chrf", "comet")},
            "n": len(rows),
            "extraction": extraction_counts([r.get("extraction", []) for r in rows]),
            "provenance": provenance(signatures={k: v for k, v in metrics.items() if k not in ("bleu", "chrf", "comet")},
                                     generation=read_json(meta)),
        })
        print(out_path, json.dumps(metrics))
