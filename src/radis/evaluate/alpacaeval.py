"""AlpacaEval 1 and 2 (paper §4.1) through the ``alpaca_eval`` package.

Model outputs are generated greedily for the AlpacaEval instructions; the package's annotator
then compares them with a reference model's outputs: AlpacaEval 1 against text-davinci-003,
AlpacaEval 2 against gpt4_1106_preview, both with ``weighted_alpaca_eval_gpt4_turbo`` in the
paper. Everything the package would fetch from the hub is passed as local files. The annotator's
prompts, parsing and win rates are alpaca_eval's; its calls are made by our judge client
(:func:`judge_completions`), not by alpaca_eval's own OpenAI client, which returns an empty
completion after its retries, fails on any other HTTP error, ignores the judge's limits and sends
every queued call after SIGTERM. The annotation cache lives under ``results/``.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import yaml

from radis.benchmarks import Benchmark, EvalFile, JudgeCost, PlanItems
from radis.io import InputError, atomic_path, read_json, write_text
from radis.prompts import render_generation_prompt, user
from radis.settings import ResponseSetSettings

_ALPACA = "https://raw.githubusercontent.com/tatsu-lab/alpaca_eval/cd543a149df89434d8a54582c0151c0b945c3d20/results"
#: the reference models' outputs (the instructions are theirs too)
FILES = tuple(EvalFile(f"alpaca_eval/results/{name}", f"{_ALPACA}/{name}", sha256) for name, sha256 in {
    "text_davinci_003/model_outputs.json": "af0bc112f08c88bf589bbfe6fc1036806d0a0f6fec9c4d5a4db860f5afe73b4b",
    "gpt4_1106_preview/model_outputs.json": "83db546b872ddebee8965fd05fa48461ee3c32bc695c62fb57f2d214ff741ec4",
}.items())
#: AlpacaEval 1 compares with text-davinci-003, AlpacaEval 2 with gpt4_1106_preview (the paper's)
BENCHMARKS = (
    Benchmark("alpacaeval", "AlpacaEval", "win_rate", reference=FILES[0].path),
    Benchmark("alpacaeval2", "AlpacaEval 2.0", "win_rate", reference=FILES[1].path),
)


def load_reference(path: Path) -> list[dict]:
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON array of {{instruction, output, generator}}")
    for i, row in enumerate(data):
        if not isinstance(row, dict) or not row.get("instruction") or "output" not in row:
            raise InputError(f"{path}: record {i}: needs 'instruction' and 'output'")
    return data


def prompts(tokenizer, instructions: list[dict]) -> list[str]:
    return [render_generation_prompt(tokenizer, [user(r["instruction"])]) for r in instructions]


def model_outputs(instructions: list[dict], outputs: list[str], generator: str) -> list[dict]:
    return [{"dataset": r.get("dataset", ""), "instruction": r["instruction"], "output": out, "generator": generator}
            for r, out in zip(instructions, outputs, strict=True)]


#: one judgement per instruction: the weighted annotator's template (≈700 tokens) quoting the
#: instruction and both outputs; its preference is read from one token's log-probabilities
JUDGE_COST = JudgeCost(template_tokens=700, prompts=1, answers=2, completion_tokens=lambda s: 1)


def seeded_instructions(data_dir: Path, limit: int | None, seed: int) -> list[dict]:
    """The seeded subset of the instructions that a run answers (and ``radis plan`` costs)."""
    from radis.data import subset

    return subset(load_reference(Path(data_dir) / FILES[0].path), limit, seed)


def plan_items(data_dir: Path, limit: int | None, seed: int) -> PlanItems:
    return PlanItems([(i["instruction"],) for i in seeded_instructions(data_dir, limit, seed)])


def generate_responses(generator, data_dir: Path, settings: ResponseSetSettings, seed: int) -> list[dict]:
    """Greedy outputs for a seeded subset of the instructions (AlpacaEval 1 and 2 share them: answered once)."""
    instructions = seeded_instructions(data_dir, settings.limit, seed)
    outputs = generator.generate(prompts(generator.tokenizer, instructions), settings.decoding)
    return model_outputs(instructions, [g.text.strip() for g in outputs], str(generator.model_dir))


def judge_responses(benchmark: Benchmark, responses: list[dict], judging) -> dict:
    """The win rate against the benchmark's reference through alpaca_eval, its calls made by our
    judge client (:func:`judged_by`). alpaca_eval's annotation cache is one file per cell (parallel
    jobs never write the same file) under a key of what answered; each call is cached by the client."""
    from radis.provenance import config_hash

    judging.work_dir.mkdir(parents=True, exist_ok=True)
    client = judging.client()
    if not judging.section.annotator:
        raise InputError(f"config key 'general.{benchmark.section}.annotator': required to judge {benchmark.name}")
    answerer = config_hash([judging.config.model, client.answered_by])
    result = evaluate(
        responses, load_reference(judging.data_dir / benchmark.reference), annotator=judging.section.annotator,
        client=client,
        caching_path=judging.cache_dir / "alpaca_eval" / judging.name / answerer / judging.cell / f"{benchmark.name}.json",
        work_dir=judging.work_dir)
    annotations = result.pop("annotations")
    return {"metrics": result, "judge": judging.name, "details": annotations, "items": preference_items(annotations)}


def preference_items(annotations: list[dict]) -> dict:
    """Per instruction its preference as alpaca_eval's win rate counts it (radis.stats.item_scores):
    ``preference - 1`` (a draw, 0 or 1.5, is 0.5), ×100; unparsed judgements are left out, as
    from the win rate."""
    from radis.stats import item_scores

    kept = [(a["instruction"], a["preference"]) for a in annotations
            if isinstance(a.get("preference"), (int, float)) and a["preference"] == a["preference"]]
    return item_scores([i for i, _ in kept], [(1.5 if p == 0 else p) - 1 for _, p in kept], scale=100.0)


#: completion options of alpaca_eval annotators that call functions or tools: their verdict is not
#: in the answer's text, which is what our judge client checks and caches
_FUNCTION_CALLING = ("functions", "function_call", "tools", "tool_choice")


def annotator_entry(annotator: str) -> tuple[Path, dict]:
    """The package's config directory and entry of ``annotator``, if the workflow's judges can
    answer it: an annotator of OpenAI's chat API (``openai_completions``) whose verdict is in the
    answer's text or log-probabilities; an :class:`InputError` naming the annotator otherwise
    (radis.config checks the config's annotator with it before any work)."""
    import importlib.util

    # the package's directory without importing it (seconds, and warnings, at every config check)
    spec = importlib.util.find_spec("alpaca_eval")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("AlpacaEval needs the alpaca_eval package (envs/main.yaml)")
    configs_root = Path(list(spec.submodule_search_locations)[0]) / "evaluators_configs"
    source = configs_root / annotator / "configs.yaml"
    if not source.is_file():
        raise InputError(f"unknown AlpacaEval annotator {annotator!r} (no {source})")
    entry = yaml.safe_load(source.read_text())[annotator]
    if entry.get("fn_completions") != "openai_completions":
        raise InputError(f"AlpacaEval annotator {annotator!r} asks {entry.get('fn_completions')!r}; the workflow's "
                         "judges answer annotators of OpenAI's chat API (openai_completions) only")
    calling = sorted(set(_FUNCTION_CALLING) & set(entry.get("completions_kwargs", {})))
    if calling:
        raise InputError(f"AlpacaEval annotator {annotator!r} judges by function calling ({', '.join(calling)}); "
                         "the workflow's judges read the answer's text or log-probabilities")
    return configs_root, entry


def annotator_config(annotator: str, judge_model: str, out_dir: Path) -> Path:
    """A copy of the package's annotator config whose calls go to ``judge_model`` through our judge
    client (:data:`FN_COMPLETIONS`; requests that sample are seeded there).

    The prompt template path is made absolute so the copy works from any directory.
    """
    configs_root, entry = annotator_entry(annotator)
    entry["prompt_template"] = str(configs_root / entry["prompt_template"])
    entry["fn_completions"] = FN_COMPLETIONS
    entry["completions_kwargs"]["model_name"] = judge_model
    # Our judges are chat endpoints; alpaca_eval guesses from the model's name and sends a name
    # with "instruct" in it (a served Llama-3-70B-Instruct) to the legacy completions API.
    entry["completions_kwargs"]["requires_chatml"] = True
    target = out_dir / annotator / "configs.yaml"
    write_text(target, yaml.safe_dump({annotator: entry}))
    return target


#: the ``fn_completions`` name of :func:`judge_completions` in our annotator configs (:func:`judged_by`)
FN_COMPLETIONS = "radis_judge_completions"
#: alpaca_eval decoding options with no meaning for a chat endpoint reached through our client
#: (``num_procs``: concurrency is the judge's ``max_concurrency``; prices are the judge's own)
_ALPACA_ONLY_KWARGS = ("num_procs", "price_per_token", "batch_size")


def judge_completions(client, failures: list[str]):
    """alpaca_eval's ``fn_completions`` answered by our judge client (radis.judges.client.JudgeClient),
    so AlpacaEval keeps every guarantee of the other judged benchmarks: each call is cached when it is
    answered (a stopped run repays only the calls that had none, not alpaca_eval's 128-item chunk),
    the judge's ``max_concurrency``, ``max_retries`` and ``timeout_s`` apply, the calls are announced,
    SIGTERM sends no queued call, and the key never leaves this process. A request given up as failed
    comes back as an empty completion (alpaca_eval parses no preference from it; with
    ``is_store_missing_annotations: false`` it is not stored, so the next run asks again) and its
    reason is appended to ``failures`` for the cell ("k of n failed: reason")."""
    from alpaca_eval import utils

    from radis.judges.client import failure_of, text_of

    def radis_judge_completions(prompts, model_name, max_tokens=2048, requires_chatml=True, is_strip=True,
                                tokens_to_avoid=None, tokens_to_favor=None, **decoding):
        import time

        if tokens_to_avoid or tokens_to_favor:
            raise InputError("AlpacaEval annotator: tokens_to_avoid/tokens_to_favor need OpenAI's tokenizer "
                             "ids (tiktoken) and are not supported for the workflow's judges")
        if not requires_chatml:
            raise InputError("AlpacaEval annotator: the workflow's judges are chat endpoints (requires_chatml)")
        for name in _ALPACA_ONLY_KWARGS:
            decoding.pop(name, None)
        requests = [{"messages": utils.prompt_to_chatml(p.strip() if is_strip else p), "max_tokens": max_tokens,
                     **decoding} for p in prompts]
        started = time.monotonic()
        choices = []
        for response in client.complete(requests):
            reason = failure_of(response)
            if reason:
                failures.append(reason)
                choices.append({"text": "", "failed": reason, "total_tokens": 0})
                continue
            # alpaca_eval's parsers read the choice as its own client returns it (model_dump + text)
            choice = dict(response["choices"][0])
            choice["text"] = text_of(response) or " "
            choice["total_tokens"] = (response.get("usage") or {}).get("total_tokens", 0)
            choices.append(choice)
        each_s = (time.monotonic() - started) / max(len(prompts), 1)
        return {"completions": [c["text"] for c in choices], "completions_all": choices,
                "price_per_example": [float("nan")] * len(choices), "time_per_example": [each_s] * len(choices)}

    return radis_judge_completions


@contextmanager
def judged_by(client, failures: list[str]):
    """alpaca_eval's annotators resolve :data:`FN_COMPLETIONS` to :func:`judge_completions` of
    ``client`` for the duration of the block (alpaca_eval looks its decoders up by name only)."""
    import alpaca_eval.annotators.base as base

    plain = base.get_fn_completions
    ours = judge_completions(client, failures)
    base.get_fn_completions = lambda name: ours if name == FN_COMPLETIONS else plain(name)
    try:
        yield
    finally:
        base.get_fn_completions = plain


@contextmanager
def atomic_annotation_cache():
    """Make alpaca_eval write its annotation cache atomically, and only with judgements, for the
    duration of the block.

    The cache holds every paid judgement; alpaca_eval saves it after each batch with a plain
    ``DataFrame.to_json(path)``, so a kill while saving leaves a truncated file, and the next run
    crashes on it or, once it is deleted, pays again. Wrapped, each save writes a temporary beside
    the cache and renames it over the cache (radis.io.atomic_path): the file is always the last
    complete save. And alpaca_eval stores a judgement that failed or did not parse as "missing"
    (``TMP_MISSING_ANNOTATION``), which every later run takes as answered, so a burst of errors
    would leave the win rate over a subset for good: those are left out of what is saved (the
    package's own switch, ``is_store_missing_annotations=False``, crashes on a first run with no
    cache), and the next run asks them again.
    """
    from alpaca_eval.annotators.base import BaseAnnotatorJSON

    plain_save = BaseAnnotatorJSON.save

    def save(self, path=None):
        path = path or self.caching_path
        if path is None:
            return
        frame, key = self.df_annotations, self.annotation_key
        if frame is not None and key in frame:
            self.df_annotations = frame[frame[key] != self.TMP_MISSING_ANNOTATION]
        with atomic_path(path) as tmp:
            plain_save(self, tmp)

    BaseAnnotatorJSON.save = save
    try:
        yield
    finally:
        BaseAnnotatorJSON.save = plain_save


def winrate_of_parsed(annotations) -> dict:
    """alpaca_eval's ``get_winrate`` over the judgements whose preference parsed, and how many those
    are (``n_parsed``), so that the others are reported beside the score, never counted silently;
    ``get_winrate`` itself fails when none parsed (alpaca_eval drops some unparsed ones earlier)."""
    from alpaca_eval import metrics, utils

    frame = utils.convert_to_dataframe(annotations)
    parsed = frame[frame["preference"].notna()] if "preference" in frame else frame.iloc[:0]
    if parsed.empty:
        nan = float("nan")
        return {"win_rate": nan, "standard_error": nan, "n_wins": nan, "n_draws": nan, "n_total": 0, "n_parsed": 0}
    return {**metrics.get_winrate(parsed), "n_parsed": len(parsed)}


def evaluate(outputs: list[dict], reference: list[dict], *, annotator: str, client, caching_path: Path,
             work_dir: Path) -> dict:
    """Win rate (and length-controlled win rate where it can be computed) of ``outputs`` vs
    ``reference``, judged by ``client`` (radis.judges.client.JudgeClient); judgements that failed
    are counted in ``n_failed`` (radis.judges.client.failure_summary), unparsed ones in
    ``n_parse_failures``, and neither is in the win rate."""
    import pandas as pd
    from alpaca_eval import main as ae_main
    from alpaca_eval import metrics

    from radis.judges.client import failure_summary

    by_instruction = {r["instruction"]: r for r in reference}
    missing = [o["instruction"][:60] for o in outputs if o["instruction"] not in by_instruction]
    if missing:
        raise InputError(f"{len(missing)} model outputs have no reference output, e.g. {missing[0]!r}")
    reference = [by_instruction[o["instruction"]] for o in outputs]
    config_path = annotator_config(annotator, client.cfg.model, work_dir / "annotators")
    caching_path.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    with judged_by(client, failures), atomic_annotation_cache():
        leaderboard, annotations = ae_main.evaluate(
            model_outputs=pd.DataFrame(outputs), reference_outputs=pd.DataFrame(reference),
            annotators_config=str(config_path.resolve()), output_path=str(work_dir.resolve()),
            precomputed_leaderboard=None, is_return_instead_of_print=True, fn_metric=winrate_of_parsed,
            sort_by="n_parsed", is_cache_leaderboard=False, caching_path=str(caching_path.resolve()))
    row = leaderboard.iloc[0].to_dict()
    parsed = int(row["n_parsed"])
    result = {
        "win_rate": float(row["win_rate"]) if parsed else
        f"n/a: none of {len(outputs)} judgements had a parseable preference",
        "standard_error": float(row.get("standard_error", float("nan"))),
        "n_total": int(row.get("n_total", 0)),
        "n_wins": float(row.get("n_wins", float("nan"))),
        "n_draws": float(row.get("n_draws", float("nan"))),
        "n_judgments": len(outputs),
        "n_parse_failures": len(outputs) - parsed - len(failures),
        **failure_summary(failures),
        "avg_length": int(row.get("avg_length", 0)),
    }
    if not parsed:
        result["length_controlled_winrate"] = result["win_rate"]
        result["annotations"] = json.loads(pd.DataFrame(annotations).to_json(orient="records"))
        return result
    try:
        lc = metrics.get_length_controlled_winrate(annotations)
        result["length_controlled_winrate"] = float(lc["length_controlled_winrate"])
    except Exception as e:  # needs a hub file and enough annotations; report why not
        result["length_controlled_winrate"] = f"n/a: {type(e).__name__}: {str(e)[:200]}"
    result["annotations"] = json.loads(pd.DataFrame(annotations).to_json(orient="records"))
    return result
