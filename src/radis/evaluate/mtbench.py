"""MT-Bench (Zheng et al., 2023) as FastChat's ``llm_judge`` runs it, with our own judge client.

* Answers (FastChat ``gen_model_answer.py``): each of the two turns is generated with the model's own
  chat template; turn 2 sees the conversation so far, ``[user: q1, assistant: a1, user: q2]``. Answers
  are stripped of surrounding whitespace, as FastChat does. Decoding follows the ``DecodingParams``
  given (the paper decodes greedily; FastChat would sample writing/roleplay at temperature 0.7).
* Judging (FastChat ``common.run_judge_single``, single-answer grading): ``single-v1`` for general
  categories, ``single-math-v1`` with the GPT-4 reference answer for the categories in
  :data:`NEED_REF_CATS`, and the ``-multi-turn`` variants for turn 2. The template is filled with
  ``str.format`` exactly as FastChat fills it, sent as ``[system: system_prompt, user: filled
  template]`` at temperature 0 with ``max_tokens=2048``.
* Rating (FastChat ``one_score_pattern``): the first ``[[n]]``, which must lie on the prompt's
  1-10 scale. Unlike FastChat, a single-bracket ``[n]`` is no rating (judges cite ``[3]``) and
  neither is ``[[11]]``. A judgement without a rating is a parse failure: FastChat stores ``-1``
  and ``show_result.py`` drops it from the mean; here it is ``None``, dropped from the means,
  reported by id and counted beside the score in Table 3, never counted as zero.

FastChat's own judge script needs ``openai<1``; only its prompts and data are used here.
"""

from __future__ import annotations

import ast
import re
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from radis.benchmarks import Benchmark, EvalFile, JudgeCost, PlanItems
from radis.io import InputError, read_jsonl
from radis.settings import ResponseSetSettings, default

_FASTCHAT = "https://raw.githubusercontent.com/lm-sys/FastChat/0e6d3e4beaab66f4d3f93db72541a4abab8af28d/fastchat/llm_judge/data"
FILES = (
    EvalFile("mt_bench/question.jsonl", f"{_FASTCHAT}/mt_bench/question.jsonl",
             "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7"),
    EvalFile("mt_bench/judge_prompts.jsonl", f"{_FASTCHAT}/judge_prompts.jsonl",
             "fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6"),
    EvalFile("mt_bench/reference_answer/gpt-4.jsonl", f"{_FASTCHAT}/mt_bench/reference_answer/gpt-4.jsonl",
             "f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f"),
)
BENCHMARKS = (Benchmark("mtbench", "MT-Bench", "score"),)

#: FastChat ``common.NEED_REF_CATS``: categories judged against the GPT-4 reference answer.
NEED_REF_CATS = ("math", "reasoning", "coding", "arena-hard-200")

#: FastChat ``common.one_score_pattern`` (its ``one_score_pattern_backup``, ``[n]``, takes citations).
ONE_SCORE_PATTERN = re.compile(r"\[\[(\d+\.?\d*)\]\]")
#: the judge prompts' scale ("rate the response on a scale of 1 to 10")
RATING_RANGE = (1.0, 10.0)

#: FastChat's judge call: ``temperature=0, max_tokens=2048`` (OpenAI judges); the config key
#: ``general.mtbench.judge_max_tokens`` defaults to it in the schema
JUDGE_MAX_TOKENS = default("$defs.general_eval.judge_max_tokens")

#: The single-answer grading prompts this module uses.
SINGLE_JUDGES = ("single-v1", "single-math-v1", "single-v1-multi-turn", "single-math-v1-multi-turn")


# ---------------------------------------------------------------------------------------------
# Readers


def _records_with_lines(path: str | Path) -> list[tuple[int, dict]]:
    """``read_jsonl`` (which reports bad JSON as ``file:line``) plus each record's line number."""
    path = Path(path)
    records = read_jsonl(path)
    linenos = [
        i for i, raw in enumerate(path.read_bytes().split(b"\n"), start=1) if raw.decode("utf-8").strip()
    ]
    return list(zip(linenos, records))


def _require(path: Path, lineno: int, record: dict, key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in record:
        raise InputError(f"{path}:{lineno}: missing key {key!r}")
    value = record[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise InputError(f"{path}:{lineno}: {key!r} must be {names}, got {type(value).__name__}")
    return value


def _str_list(path: Path, lineno: int, value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise InputError(f"{path}:{lineno}: {what} must be a non-empty list of strings")
    return value


def load_questions(path: str | Path) -> list[dict]:
    """MT-Bench ``question.jsonl``: ``{question_id, category, turns[, reference]}`` in file order."""
    path = Path(path)
    questions, seen = [], {}
    for lineno, rec in _records_with_lines(path):
        qid = _require(path, lineno, rec, "question_id", int)
        _require(path, lineno, rec, "category", str)
        _str_list(path, lineno, _require(path, lineno, rec, "turns", list), "'turns'")
        if qid in seen:
            raise InputError(f"{path}:{lineno}: duplicate question_id {qid} (first on line {seen[qid]})")
        seen[qid] = lineno
        questions.append(rec)
    if not questions:
        raise InputError(f"{path}: no questions")
    return questions


def load_judge_prompts(path: str | Path) -> dict[str, dict]:
    """FastChat ``judge_prompts.jsonl`` as a dict by ``name`` (FastChat's ``load_judge_prompts``)."""
    path = Path(path)
    prompts: dict[str, dict] = {}
    lines: dict[str, int] = {}
    for lineno, rec in _records_with_lines(path):
        name = _require(path, lineno, rec, "name", str)
        for key in ("type", "system_prompt", "prompt_template", "output_format"):
            _require(path, lineno, rec, key, str)
        if name in prompts:
            raise InputError(
                f"{path}:{lineno}: duplicate judge prompt {name!r} (first on line {lines[name]})")
        prompts[name], lines[name] = rec, lineno
    return prompts


def load_reference_answers(path: str | Path) -> dict[int, list[str]]:
    """FastChat ``reference_answer/gpt-4.jsonl`` as ``question_id -> [turn-1 answer, turn-2 answer]``
    (``choices[0].turns``, the choice FastChat's judge uses)."""
    path = Path(path)
    refs: dict[int, list[str]] = {}
    lines: dict[int, int] = {}
    for lineno, rec in _records_with_lines(path):
        qid = _require(path, lineno, rec, "question_id", int)
        choices = _require(path, lineno, rec, "choices", list)
        if not choices or not isinstance(choices[0], dict):
            raise InputError(f"{path}:{lineno}: 'choices' must be a non-empty list of objects")
        turns = _str_list(path, lineno, choices[0].get("turns"), "'choices[0].turns'")
        if qid in refs:
            raise InputError(f"{path}:{lineno}: duplicate question_id {qid} (first on line {lines[qid]})")
        refs[qid], lines[qid] = turns, lineno
    return refs


# ---------------------------------------------------------------------------------------------
# Answer generation


#: FastChat's ``temperature_config`` (fastchat/llm_judge/common.py, fschat 0.2.36): the answer
#: temperature of each MT-Bench category; ``gen_model_answer`` uses 0.7 for any other category and
#: decodes greedily below 1e-4. The paper decodes greedily "except where specific generation
#: configurations are mandated by certain benchmark tools": MT-Bench's are these.
FASTCHAT_TEMPERATURES = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
                         "reasoning": 0.0, "stem": 0.1, "humanities": 0.1, "arena-hard-200": 0.0}
FASTCHAT_DEFAULT_TEMPERATURE = 0.7


def answer_temperature(category: str, temperatures: str) -> float:
    """The temperature of a category's answers: FastChat's (``fastchat``) or 0 (``greedy``)."""
    if temperatures == "greedy":
        return 0.0
    t = FASTCHAT_TEMPERATURES.get(category, FASTCHAT_DEFAULT_TEMPERATURE)
    return t if t >= 1e-4 else 0.0


def generate_answers(generator, questions: Sequence[dict], params, temperatures: str) -> list[dict]:
    """Two-turn answers, FastChat-style, batched across questions turn by turn.

    ``generator`` is a :class:`radis.generation.Generator`; ``params`` a ``DecodingParams`` whose
    temperature is replaced per category by :func:`answer_temperature` (one generation call per
    temperature and turn). A sampled category samples as FastChat's ``gen_model_answer`` does:
    ``generate(do_sample=True, temperature=…)`` keeps the model's generation config, so top-k 50
    (transformers' default) and the model's own top_p (LLaMA-2-Chat: 0.9) apply. Returns
    ``{question_id, category, turns, answers, n_tokens, finished, temperature, top_p, top_k}`` per
    question, in order.
    """
    from dataclasses import replace

    from radis.generation import model_sampler
    from radis.prompts import assistant, render_generation_prompt, user

    fastchat = model_sampler(generator.model_dir, "transformers")

    records = [
        {"question_id": q["question_id"], "category": q["category"], "turns": list(q["turns"]),
         "answers": [], "n_tokens": [], "finished": [],
         "temperature": answer_temperature(q["category"], temperatures)}
        for q in questions
    ]
    for r in records:  # the sampler each answer ran with (greedy: none)
        r.update({key: fastchat[key] if r["temperature"] else None for key in ("top_p", "top_k")})
    n_turns = max((len(r["turns"]) for r in records), default=0)
    for t in range(n_turns):
        for temperature in sorted({r["temperature"] for r in records}):
            active = [r for r in records if len(r["turns"]) > t and r["temperature"] == temperature]
            if not active:
                continue
            prompts = []
            for r in active:
                messages = []
                for q_prev, a_prev in zip(r["turns"][:t], r["answers"][:t]):
                    messages += [user(q_prev), assistant(a_prev)]
                messages.append(user(r["turns"][t]))
                prompts.append(render_generation_prompt(generator.tokenizer, messages))
            sampler = {"top_p": fastchat["top_p"], "top_k": fastchat["top_k"]} if temperature else {}
            outputs = generator.generate(prompts, replace(params, sampling="params", temperature=temperature, **sampler))
            if len(outputs) != len(prompts):
                raise RuntimeError(f"generator returned {len(outputs)} outputs for {len(prompts)} prompts")
            for r, out in zip(active, outputs):
                r["answers"].append(out.text.strip())
                r["n_tokens"].append(out.n_tokens)
                r["finished"].append(out.finished)
    return records


# ---------------------------------------------------------------------------------------------
# Judging


#: one judgement per turn: FastChat's single-answer template (≈250 tokens) quoting the question's
#: turns and the model's answers, up to the section's judge_max_tokens back
JUDGE_COST = JudgeCost(template_tokens=250, prompts=2, answers=2, completion_tokens=lambda s: s.judge_max_tokens,
                       per_turn=True)


def seeded_questions(data_dir: Path, limit: int | None, seed: int) -> list[dict]:
    """The seeded subset of the questions that a run answers (and ``radis plan`` costs)."""
    from radis.data import subset

    return subset(load_questions(Path(data_dir) / FILES[0].path), limit, seed)


def plan_items(data_dir: Path, limit: int | None, seed: int) -> PlanItems:
    return PlanItems([tuple(q["turns"]) for q in seeded_questions(data_dir, limit, seed)], turns=2)


def generate_responses(generator, data_dir: Path, settings: ResponseSetSettings, seed: int) -> list[dict]:
    """Answers to a seeded subset of the questions (``settings.limit``), at FastChat's per-category
    temperatures unless ``settings.temperatures`` is ``greedy``."""
    questions = seeded_questions(data_dir, settings.limit, seed)
    return generate_answers(generator, questions, settings.decoding, settings.temperatures)


def judge_name(category: str, turn: int) -> str:
    """The FastChat single-grading prompt for a category and turn (1 or 2)."""
    name = "single-math-v1" if category in NEED_REF_CATS else "single-v1"
    return name + ("-multi-turn" if turn == 2 else "")


def fill_judge_prompt(template: dict, turns: Sequence[str], answers: Sequence[str],
                      reference: Sequence[str] | None, multi_turn: bool) -> str:
    """The user prompt of FastChat's ``run_judge_single``: ``prompt_template.format(...)``."""
    kwargs = {}
    if reference is not None:
        kwargs["ref_answer_1"] = reference[0]
        if multi_turn:
            kwargs["ref_answer_2"] = reference[1]
    if multi_turn:
        return template["prompt_template"].format(
            question_1=turns[0], question_2=turns[1], answer_1=answers[0], answer_2=answers[1], **kwargs
        )
    return template["prompt_template"].format(question=turns[0], answer=answers[0], **kwargs)


def judge_items(answers: Sequence[dict], judge_prompts: dict[str, dict], references: dict[int, list[str]],
                max_tokens: int = JUDGE_MAX_TOKENS) -> list[dict]:
    """Every judgement to make: ``{question_id, category, turn, judge, request}``.

    Order as FastChat's ``gen_judgment.py``: all turn-1 judgements, then all turn-2 ones (only for
    questions with two turns). ``request`` is the keyword arguments of
    ``chat.completions.create`` without ``model``.
    """
    items = []
    for turn in (1, 2):
        for a in answers:
            if len(a["turns"]) < turn:
                continue
            if len(a["answers"]) < len(a["turns"]):
                raise ValueError(f"question {a['question_id']}: {len(a['answers'])} answers for "
                                 f"{len(a['turns'])} turns")
            name = judge_name(a["category"], turn)
            if name not in judge_prompts:
                raise ValueError(f"judge prompt {name!r} not in the judge prompts "
                                 f"(have: {', '.join(sorted(judge_prompts))})")
            template = judge_prompts[name]
            if template["type"] != "single" or template["output_format"] != "[[rating]]":
                raise ValueError(f"judge prompt {name!r} is not a single-answer [[rating]] prompt")
            reference = None
            if a["category"] in NEED_REF_CATS:
                if a["question_id"] not in references:
                    raise ValueError(f"question {a['question_id']} ({a['category']}) needs a reference "
                                     "answer, and none was given")
                reference = references[a["question_id"]]
                if len(reference) < turn:
                    raise ValueError(f"question {a['question_id']}: reference answer has "
                                     f"{len(reference)} turn(s), turn {turn} is judged")
            user_prompt = fill_judge_prompt(template, a["turns"], a["answers"], reference, turn == 2)
            request = {
                "messages": [
                    {"role": "system", "content": template["system_prompt"]},
                    {"role": "user", "content": user_prompt},
                ],
                "max_tokens": max_tokens,
                "temperature": 0,
            }
            items.append({"question_id": a["question_id"], "category": a["category"], "turn": turn,
                          "judge": name, "request": request})
    return items


def judge_requests(answers: Sequence[dict], judge_prompts: dict[str, dict], references: dict[int, list[str]],
                   max_tokens: int = JUDGE_MAX_TOKENS) -> list[dict]:
    """The chat requests of :func:`judge_items`, in the same order (pure)."""
    return [item["request"] for item in judge_items(answers, judge_prompts, references, max_tokens)]


def parse_rating(text: str) -> float | None:
    """The first ``[[n]]`` if it is on the 1-10 scale; ``None`` otherwise (a parse failure)."""
    match = ONE_SCORE_PATTERN.search(text)
    if match is None:
        return None
    rating = float(ast.literal_eval(match.group(1)))
    return rating if RATING_RANGE[0] <= rating <= RATING_RANGE[1] else None


def judge(answers: Sequence[dict], judge_prompts: dict[str, dict], references: dict[int, list[str]], client,
          max_tokens: int = JUDGE_MAX_TOKENS, text_of: Callable[[dict], str] | None = None) -> list[dict]:
    """Ask ``client`` (a ``radis.judges.client.JudgeClient``) for every judgement.

    Returns ``{question_id, category, turn, judge, user_prompt, judgment, rating}`` per judgement;
    ``rating`` is ``None`` where the judgement carries no rating.
    """
    from radis.judges.client import failure_of

    if text_of is None:
        from radis.judges.client import text_of
    items = judge_items(answers, judge_prompts, references, max_tokens)
    responses = client.complete([item["request"] for item in items], check=rating_cut_off)
    if len(responses) != len(items):
        raise RuntimeError(f"judge client returned {len(responses)} responses for {len(items)} requests")
    judgments = []
    for item, response in zip(items, responses):
        text = text_of(response)
        failed = failure_of(response)
        judgments.append({
            "question_id": item["question_id"], "category": item["category"], "turn": item["turn"],
            "judge": item["judge"], "user_prompt": item["request"]["messages"][-1]["content"],
            "judgment": text, "rating": None if failed else parse_rating(text),
            **({"failed": failed} if failed else {}),
        })
    return judgments


def rating_cut_off(response: dict) -> str | None:
    """Why a text judgement judges nothing (the judge client then asks again, never caches it, and
    gives the item up as failed): it stopped at ``max_tokens`` before its ``[[rating]]``. A judge
    that finished its answer without a rating is a parse failure instead, and stays cached."""
    from radis.judges.client import finish_reason, text_of

    if finish_reason(response) == "length" and parse_rating(text_of(response)) is None:
        return "cut off at max_tokens before its [[rating]]"
    return None


def judge_by_logprobs(answers: Sequence[dict], judge_prompts: dict[str, dict], references: dict[int, list[str]],
                      client) -> list[dict]:
    """As :func:`judge`, but each rating is read from the judge's next-token log-probabilities after
    "Rating: [[" (radis.judges.logprobs: probability-weighted over 1..10), for judges that do not write
    "[[n]]". Adds ``rating_probs`` and ``rating_mass``; ``rating`` is None when no rating was among the
    judge's most likely tokens."""
    from radis.judges.logprobs import rate

    items = judge_items(answers, judge_prompts, references)
    ratings = rate(client, [item["request"]["messages"] for item in items])
    return [{"question_id": item["question_id"], "category": item["category"], "turn": item["turn"],
             "judge": item["judge"], "user_prompt": item["request"]["messages"][-1]["content"], **rating}
            for item, rating in zip(items, ratings)]


def judge_responses(benchmark: Benchmark, answers: list[dict], judging) -> dict:
    """The MT-Bench score of one model's answers: the judge writes ``[[n]]`` (scoring ``text``) or
    the rating is read off its log-probabilities (scoring ``logprobs``)."""
    client = judging.client()
    prompts = load_judge_prompts(judging.data_dir / FILES[1].path)
    references = load_reference_answers(judging.data_dir / FILES[2].path)
    scoring = judging.config.scoring
    if scoring == "logprobs":
        judgments = judge_by_logprobs(answers, prompts, references, client)
    else:
        judgments = judge(answers, prompts, references, client,
                          max_tokens=judging.section.judge_max_tokens)
    metrics = score(answers, judgments)
    metrics["scoring"] = scoring
    items = question_scores(judgments)
    if metrics["score"] is None:
        missing = "had no [[rating]]" if scoring == "text" else "had no rating among the top logprobs"
        why = [f"{metrics['n_failed']} of {metrics['n_judgments']} judgments failed: {metrics['failure']}"
               ] if metrics.get("n_failed") else []
        if metrics["n_parse_failures"]:
            why.append(f"{metrics['n_parse_failures']} of {metrics['n_judgments']} judgments {missing}")
        metrics["score"] = "n/a: " + "; ".join(why)
    return {"metrics": metrics, "judge": judging.name, "details": judgments, "items": items}


def question_scores(judgments: Sequence[dict]) -> dict:
    """The score per question (radis.stats.item_scores): the sum of its rated turns' ratings over
    how many are rated, so the resampled mean is :func:`score`'s, over questions (a question's two
    turns are not independent items)."""
    from radis.stats import item_scores

    rated: dict[int, list[float]] = {}
    for j in judgments:
        if j["rating"] is not None:
            rated.setdefault(j["question_id"], []).append(float(j["rating"]))
    ids = sorted(rated)
    return item_scores(ids, [sum(rated[q]) for q in ids], [len(rated[q]) for q in ids])


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def score(answers: Sequence[dict], judgments: Sequence[dict]) -> dict:
    """MT-Bench score: the mean rating over all rated (question, turn), as FastChat's ``show_result``.

    Every (question, turn) of ``answers`` must have exactly one judgement (``{question_id, turn,
    rating}``). Unrated ones (``rating is None``) are left out of every mean and listed in
    ``parse_failures``, unless the judge gave no usable answer (``failed``: the reason), which
    ``n_failed`` and ``failure`` count instead (radis.judges.client.failure_summary).
    """
    from radis.judges.client import failure_summary

    expected = {(a["question_id"], t): a["category"] for a in answers for t in range(1, len(a["turns"]) + 1)}
    seen: dict[tuple[int, int], float | None] = {}
    failed: dict[tuple[int, int], str] = {}
    for j in judgments:
        key = (j["question_id"], j["turn"])
        if key not in expected:
            raise ValueError(f"judgement for question {key[0]} turn {key[1]}, which has no answer")
        if key in seen:
            raise ValueError(f"two judgements for question {key[0]} turn {key[1]}")
        seen[key] = j["rating"]
        if j.get("failed"):
            failed[key] = j["failed"]
    missing = sorted(set(expected) - set(seen))
    if missing:
        raise ValueError(f"{len(missing)} (question, turn) without a judgement, first: {missing[0]}")

    rated = {key: r for key, r in seen.items() if r is not None}
    failures = [{"question_id": q, "turn": t} for (q, t), r in sorted(seen.items())
                if r is None and (q, t) not in failed]
    categories = list(dict.fromkeys(expected.values()))
    return {
        "score": _mean(list(rated.values())),
        "turn_1": _mean([r for (_, t), r in rated.items() if t == 1]),
        "turn_2": _mean([r for (_, t), r in rated.items() if t == 2]),
        "per_category": {c: _mean([r for key, r in rated.items() if expected[key] == c]) for c in categories},
        "n_questions": len(answers),
        "n_judgments": len(seen),
        "n_judged": len(rated),
        "n_parse_failures": len(failures),
        "parse_failures": failures,
        **failure_summary(failed[key] for key in sorted(failed)),
    }
