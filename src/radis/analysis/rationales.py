"""Table 4 (paper §5.1): what self-generated rationales contain.

The paper read 200 rationales (25 per direction) and sorted their content into eight categories,
several of which may apply to one rationale. Here an LLM judge does the reading, through the one
judge client, with a prompt kept in one file (``workflow/resources/prompts/rationale_categories.txt``)
whose hash is recorded in the result, so a changed prompt is visible in every number it produced.
The judge answers with a JSON list of category numbers; anything else is a parse failure, counted
and reported instead of guessed at. A judge scored by log-probabilities (``scoring: logprobs``, for
small local judges that do not write such a list) is asked one yes/no question per category instead
(``rationale_category_yesno.txt``) and a category applies when P("Yes") > P("No")
(radis.judges.logprobs).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from radis.data import sample_indices
from radis.languages import language_name
from radis.settings import Table4Step


@dataclass(frozen=True)
class Category:
    key: str
    name: str
    description: str
    #: the paper's occurrence for Mistral-7B-Instruct-v0.2 (Table 4), for comparison only
    paper_percent: float


#: Paper Table 4, in the paper's order; the judge sees them numbered from 1 in this order.
CATEGORIES: tuple[Category, ...] = (
    Category("word_phrase_translation", "Word/phrase translation",
             "Translations of individual words and phrases in the sentence.", 29.5),
    Category("alternative_translation", "Alternative translation",
             "Multiple translation options provided for selection.", 19.5),
    Category("helpful_safety", "Helpful&Safety",
             "Guidance on helpful and safe practices when translating sensitive sentences.", 17.5),
    Category("semantic_explanation", "Semantic explanation",
             "Clarification of the sentence's meaning.", 15.5),
    Category("back_translation", "Back-translation",
             "Back-translations of non-English results to verify their accuracy.", 12.5),
    Category("factual_supplement", "Factual supplement",
             "Additional factual information regarding entities or events in the sentence.", 9.0),
    Category("word_phrase_explanation", "Word/phrase explanation",
             "Explanations for special words, idioms, or expressions.", 7.5),
    Category("grammar", "Grammar",
             "Information on grammar, such as part-of-speech or sentence structure.", 5.5),
)
CATEGORY_KEYS: tuple[str, ...] = tuple(c.key for c in CATEGORIES)
PLACEHOLDERS = frozenset({"source", "reference", "rationale", "categories", "src_lang", "tgt_lang", "category",
                          "category_description"})
#: the placeholders of a per-category (yes/no) prompt, filled from one Category
CATEGORY_PLACEHOLDERS = frozenset({"category", "category_description"})


def prompt_version(text: str) -> str:
    """sha256[:12] of the prompt file's text, recorded beside every label it produced."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def direction_of(record: Mapping[str, Any]) -> str:
    return f"{record['src_lang']}-{record['tgt_lang']}"


def _has_rationale(record: Mapping[str, Any]) -> bool:
    return bool((record.get("rationale") or "").strip())


def sample_rationales(records_by_direction: Mapping[str, Sequence[dict]], per_direction: int,
                      seed: int) -> list[dict]:
    """A seeded sample stratified by direction: min(per_direction, available) non-empty rationales each.

    Records without a rationale (the model closed its turn at once) are not eligible: Table 4 is
    about the content of rationales; their rate is reported by :func:`rationale_stats`.
    Output order: directions sorted, records in file order within a direction.
    """
    if per_direction < 0:
        raise ValueError(f"per_direction must be >= 0, got {per_direction}")
    samples = []
    for direction in sorted(records_by_direction):
        eligible = [r for r in records_by_direction[direction] if _has_rationale(r)]
        for i in sample_indices(len(eligible), per_direction, seed, direction):
            samples.append({**eligible[i], "direction": direction})
    return samples


def numbered_categories() -> str:
    return "\n".join(f"{i}. {c.name}: {c.description}" for i, c in enumerate(CATEGORIES, start=1))


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def render_prompt(template: str, sample: Mapping[str, Any], category: Category | None = None) -> str:
    """The judge prompt for one sample (and, for a yes/no prompt, one category); a template naming
    unknown fields, or category fields without a category, is rejected up front."""
    unknown = placeholders(template) - PLACEHOLDERS
    if unknown:
        raise ValueError(f"rationale prompt has unknown placeholders {sorted(unknown)} "
                         f"(known: {sorted(PLACEHOLDERS)})")
    if category is None and placeholders(template) & CATEGORY_PLACEHOLDERS:
        raise ValueError("a per-category rationale prompt needs a category")
    per_category = {"category": category.name, "category_description": category.description} if category else {}
    return template.format(
        source=sample["source"], reference=sample["reference"], rationale=sample["rationale"].strip(),
        categories=numbered_categories(), src_lang=language_name(sample["src_lang"]),
        tgt_lang=language_name(sample["tgt_lang"]), **per_category)


def classification_requests(samples: Sequence[Mapping[str, Any]], prompt_template: str,
                            max_tokens: int) -> list[dict]:
    """One deterministic (temperature 0) chat request per sampled rationale, for ``JudgeClient.complete``."""
    return [{"messages": [{"role": "user", "content": render_prompt(prompt_template, s)}],
             "temperature": 0, "max_tokens": max_tokens} for s in samples]


_LIST = re.compile(r"\[[^\[\]]*\]")
_NAMES = {c.name.lower(): c.key for c in CATEGORIES} | {c.key: c.key for c in CATEGORIES}


def _category(item: Any) -> str | None:
    if isinstance(item, bool):
        return None
    if isinstance(item, int) or (isinstance(item, str) and item.strip().isdigit()):
        n = int(item)
        return CATEGORY_KEYS[n - 1] if 1 <= n <= len(CATEGORIES) else None
    if isinstance(item, str):
        return _NAMES.get(item.strip().lower())
    return None


def parse_categories(text: str) -> list[str] | None:
    """Category keys from the judge's answer, or None when no valid list is found (a parse failure).

    Takes the last bracketed JSON list whose items are all category numbers 1..8 (or category
    names), so prose or a code fence around the answer does no harm; ``[]`` means "none applies".
    """
    for match in reversed(_LIST.findall(text or "")):
        try:
            items = json.loads(match)
        except json.JSONDecodeError:
            continue
        keys = [_category(item) for item in items]
        if all(k is not None for k in keys):
            return [k for k in CATEGORY_KEYS if k in keys]  # paper order, each once
    return None


def classify_rationales(client: Any, samples: Sequence[Mapping[str, Any]], prompt_template: str,
                        max_tokens: int) -> tuple[list[list[str] | None], list[str]]:
    """Labels (None = parse failure) and the judge's raw answers, via a ``JudgeClient``."""
    from radis.judges.client import text_of

    responses = client.complete(classification_requests(samples, prompt_template, max_tokens), check=_cut_off)
    texts = [text_of(r) for r in responses]
    return [parse_categories(t) for t in texts], texts


def _cut_off(response: Mapping[str, Any]) -> str | None:
    """A label list cut off at ``max_tokens`` judges nothing: the judge client asks again and never
    caches it (a request that keeps getting one is a parse failure here, never a cached answer)."""
    from radis.judges.client import finish_reason, text_of

    if finish_reason(response) == "length" and parse_categories(text_of(response)) is None:
        return "cut off at max_tokens before its list of categories"
    return None


def classify_by_logprobs(client: Any, samples: Sequence[Mapping[str, Any]],
                         prompt_template: str) -> tuple[list[list[str] | None], list[dict[str, float | None]]]:
    """Labels and, per sample, P(yes) of each category, via a ``JudgeClient`` scored by log-probabilities:
    one yes/no question per sample and category. A sample where some category saw neither "Yes" nor
    "No" among the judge's most likely tokens is a failure (None), as an unparsed text answer is."""
    from radis.judges.logprobs import yes_probabilities

    questions = [[{"role": "user", "content": render_prompt(prompt_template, s, c)}] for s in samples for c in CATEGORIES]
    p_yes = yes_probabilities(client, questions)
    per_sample = [dict(zip(CATEGORY_KEYS, p_yes[i:i + len(CATEGORIES)])) for i in range(0, len(p_yes), len(CATEGORIES))]
    labels = [None if any(p is None for p in ps.values()) else [k for k in CATEGORY_KEYS if ps[k] > 0.5]
              for ps in per_sample]
    return labels, per_sample


def occurrence_table(samples: Sequence[Mapping[str, Any]], labels: Sequence[list[str] | None]) -> dict:
    """Percent of classified samples showing each category (parse failures excluded and counted apart).

    Percentages need not sum to 100: one rationale may show several categories (paper Table 4).
    """
    if len(samples) != len(labels):
        raise ValueError(f"{len(samples)} samples but {len(labels)} labels")
    parsed = [(s, lab) for s, lab in zip(samples, labels) if lab is not None]
    n = len(parsed)
    counts = {k: sum(1 for _, lab in parsed if k in lab) for k in CATEGORY_KEYS}
    by_direction: dict[str, dict[str, int]] = {}
    for s, lab in zip(samples, labels):
        d = by_direction.setdefault(s.get("direction") or direction_of(s),
                                    {"n": 0, "parse_failures": 0, **{k: 0 for k in CATEGORY_KEYS}})
        d["n"] += 1
        if lab is None:
            d["parse_failures"] += 1
        else:
            for k in lab:
                d[k] += 1
    return {
        "n": len(samples),
        "classified": n,
        "parse_failures": len(samples) - n,
        "no_category": sum(1 for _, lab in parsed if not lab),
        "categories": [{"key": c.key, "name": c.name, "description": c.description, "count": counts[c.key],
                        "percent": 100.0 * counts[c.key] / n if n else None, "paper_percent": c.paper_percent}
                       for c in CATEGORIES],
        "by_direction": dict(sorted(by_direction.items())),
    }


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _distribution(values: list[int]) -> dict:
    if not values:
        return {"mean": None, "median": None, "p90": None, "max": None}
    v = sorted(values)
    return {"mean": sum(v) / len(v), "median": _percentile(v, 0.5), "p90": _percentile(v, 0.9), "max": v[-1]}


def _stats(records: Sequence[Mapping[str, Any]]) -> dict:
    rationales = [r["rationale"].strip() for r in records if _has_rationale(r)]
    return {"n": len(records), "with_rationale": len(rationales),
            "rationale_rate": len(rationales) / len(records) if records else None,
            # cut off by max_new_tokens: trained with the end-of-turn token after it (radis.synth.summarize)
            "truncated": sum(1 for r in records if r.get("finished") is False),
            "length_words": _distribution([len(r.split()) for r in rationales]),
            "length_chars": _distribution([len(r) for r in rationales])}


def rationale_stats(records_by_direction: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict:
    """Per direction (and "all"): n, rationale rate, length of non-empty rationales in whitespace
    tokens and characters (mean, median, p90, max).

    The rate is the share of training pairs whose continuation after the reference (the RaDis
    prompt) is non-empty. It is not the paper's 139/200 for LLaMA-2-7B-Chat, which counts zero-shot
    translation replies that contain a rationale: a different prompt, so the two are not compared."""
    out = {d: _stats(records_by_direction[d]) for d in sorted(records_by_direction)}
    out["all"] = _stats([r for d in sorted(records_by_direction) for r in records_by_direction[d]])
    return out


def table4_result(samples: Sequence[Mapping[str, Any]], labels: Sequence[list[str] | None],
                  raw: Sequence[Any], records_by_direction: Mapping[str, Sequence[Mapping[str, Any]]],
                  prompt_text: str, per_direction: int, seed: int, judge: str, scoring: str = "text") -> dict:
    """The Table 4 result file's content: occurrences, per-direction stats, and every item's label with
    what the judge said (its text answer, or with ``scoring`` logprobs P(yes) per category)."""
    answer = "judge_answer" if scoring == "text" else "p_yes"
    return {
        "judge": judge,
        "scoring": scoring,
        "prompt_version": prompt_version(prompt_text),
        "per_direction": per_direction,
        "seed": seed,
        "occurrence": occurrence_table(samples, labels),
        "stats": rationale_stats(records_by_direction),
        "items": [{"id": s["id"], "direction": s.get("direction") or direction_of(s), "categories": lab,
                   answer: text} for s, lab, text in zip(samples, labels, raw)],
    }


# ---------------------------------------------------------------------------------------- rendering

def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def _num(x: float | None) -> str:
    return "n/a" if x is None else (f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}")


def _caption(result: Mapping[str, Any]) -> str:
    occ = result["occurrence"]
    scored = ", P(Yes) vs P(No) per category from its log-probabilities" if result.get("scoring") == "logprobs" else ""
    return (f"Table 4: Rationale categories and their main contents ({occ['classified']} rationales "
            f"classified by {result.get('judge', 'the judge')}{scored}, prompt {result.get('prompt_version', '?')}; "
            f"{occ['parse_failures']} unparsed answers excluded). Percentages do not sum to 100%, as each "
            "rationale may include multiple categories of information.")


_HEADER = ("Information Category", "Contents", "Occurrence [%]", "Paper [%]")
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def render_table4(result: Mapping[str, Any]) -> tuple[str, str, str]:
    """(markdown, csv, latex) of Table 4: category | description | occurrence [%] | the paper's [%];
    the markdown adds the per-direction rationale rate and length table."""
    import csv
    import io

    rows = [(c["name"], c["description"], _pct(c["percent"]), _pct(c["paper_percent"]))
            for c in result["occurrence"]["categories"]]

    md = [_caption(result), "", "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ["", "Training pairs with a non-empty rationale (the continuation after the reference y; not the "
           "paper's 139/200, which counts rationales in zero-shot replies), how many were cut off by "
           "max_new_tokens (truncated: trained with the end of turn after the cut) and rationale length "
           "(words = whitespace tokens):", "",
           "| Direction | n | with rationale | rate [%] | truncated | words mean | words median | words p90 "
           "| words max | chars mean | chars median | chars p90 | chars max |",
           "|" + "---|" * 13]
    for d, s in result["stats"].items():
        w, c = s["length_words"], s["length_chars"]
        rate = None if s["rationale_rate"] is None else 100.0 * s["rationale_rate"]
        md.append("| " + " | ".join([d, str(s["n"]), str(s["with_rationale"]), _pct(rate), str(s.get("truncated", "n/a")),
                                     *(_num(w[k]) for k in ("mean", "median", "p90", "max")),
                                     *(_num(c[k]) for k in ("mean", "median", "p90", "max"))]) + " |")

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_HEADER)
    writer.writerows(rows)

    caption = re.sub(r"^Table \d+:\s*", "", _caption(result))
    tex = [r"\begin{table}[t]", r"\centering", rf"\caption{{{_latex(caption)}}}",
           r"\begin{tabular}{p{3.2cm}p{7cm}rr}", r"\toprule",
           " & ".join(_latex(h) for h in _HEADER) + r" \\", r"\midrule"]
    tex += [" & ".join(_latex(x) for x in r) + r" \\" for r in rows]
    tex += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(md) + "\n", buf.getvalue(), "\n".join(tex) + "\n"


def records_by_direction(directory: str, directions: list[str]) -> dict[str, list[dict]]:
    """The synthesized records of every direction (``{directory}/{direction}.jsonl``)."""
    from pathlib import Path

    from radis.io import read_jsonl

    return {d: read_jsonl(Path(directory) / f"{d}.jsonl") for d in directions}


def table4(synth_dir: str, directions: list[str], prompt: str, cache_dir: str, judge_model: list[str], out: str,
           table: str, settings: Table4Step) -> None:
    """``radis table4``: an LLM judge labels a seeded sample of rationales with the paper's categories
    (``judge_model``: ``BACKBONE=DIR`` of a judge served for this job)."""
    from pathlib import Path

    from radis.device import enforce_device
    from radis.evaluate.general import judge_endpoint
    from radis.io import write_json, write_text
    from radis.judges.client import JudgeClient

    config = settings.judge
    if config.serve:
        enforce_device("table4 (served judge model)", settings.device)
    records = records_by_direction(synth_dir, directions)
    samples = sample_rationales(records, settings.per_direction, settings.seed)
    template = Path(prompt).read_text(encoding="utf-8")
    judge_model_dir = dict(item.split("=", 1) for item in judge_model).get(config.serve) if config.serve else None
    with judge_endpoint(config, judge_model_dir, Path(out).with_suffix(".judge-server.log")) as base_url:
        client = JudgeClient(config, Path(cache_dir) / config.name, base_url=base_url, model_dir=judge_model_dir)
        if config.scoring == "logprobs":
            labels, raw = classify_by_logprobs(client, samples, template)
        else:
            labels, raw = classify_rationales(client, samples, template, settings.max_tokens)
    result = table4_result(samples, labels, raw, records, template, settings.per_direction, settings.seed, config.name,
                           config.scoring)
    write_json(out, result)
    for ext, text in zip(("md", "csv", "tex"), render_table4(result)):
        write_text(f"{table}.{ext}", text)
