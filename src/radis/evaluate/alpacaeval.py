"""AlpacaEval 1 and 2 (paper §4.1) through the ``alpaca_eval`` package.

Model outputs are generated greedily for the AlpacaEval instructions; the package's annotator
then compares them with a reference model's outputs: AlpacaEval 1 against text-davinci-003,
AlpacaEval 2 against gpt4_1106_preview, both with ``weighted_alpaca_eval_gpt4_turbo`` in the
paper. Everything the package would fetch from the hub is passed as local files, the judge endpoint
comes from a client-config YAML written for this run (``OPENAI_CLIENT_CONFIG_PATH``, in a private
temporary directory, deleted afterwards). The key is not in it: the YAML names a client factory
(:func:`openai_client`) that reads the key from this process's environment, so no file holds it,
not even one a SIGKILL leaves behind. The annotation cache lives under ``results/``; alpaca_eval's
calls run on radis.judges.client.CallPool, which stops on SIGTERM instead of sending every call
it had queued.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import yaml

from radis.benchmarks import Benchmark, EvalFile
from radis.io import InputError, atomic_path, read_json, write_text
from radis.prompts import render_generation_prompt, user

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


def generate_responses(generator, data_dir: Path, settings: dict, seed: int) -> list[dict]:
    """Greedy outputs for a seeded subset of the instructions (AlpacaEval 1 and 2 share them: answered once)."""
    from radis.config import DecodingParams
    from radis.data import subset

    instructions = subset(load_reference(Path(data_dir) / FILES[0].path), settings["limit"], seed)
    outputs = generator.generate(prompts(generator.tokenizer, instructions), DecodingParams.from_config(settings["decoding"]))
    return model_outputs(instructions, [g.text.strip() for g in outputs], str(generator.model_dir))


def judge_responses(benchmark: Benchmark, responses: list[dict], judging) -> dict:
    """The win rate against the benchmark's reference through alpaca_eval, whose annotation cache
    is one file per cell (parallel jobs never write the same file) under a key of what answered."""
    from radis.judges.client import answered_by, resolve_api_key
    from radis.provenance import config_hash

    config = judging.config
    judging.work_dir.mkdir(parents=True, exist_ok=True)
    answerer = config_hash([judging.spec["model"], answered_by(config, judging.base_url, judging.judge_model_dir)])
    result = evaluate(
        responses, load_reference(judging.data_dir / benchmark.reference), annotator=judging.section["annotator"],
        judge_model=judging.spec["model"], base_url=judging.base_url, api_key=resolve_api_key(config),
        caching_path=judging.cache_dir / "alpaca_eval" / judging.name / answerer / judging.cell / f"{benchmark.name}.json",
        work_dir=judging.work_dir)
    annotations = result.pop("annotations")
    return {"metrics": result, "judge": judging.name, "details": annotations}


def annotator_config(annotator: str, judge_model: str, out_dir: Path) -> Path:
    """A copy of the package's annotator config that asks ``judge_model`` instead of OpenAI's, with
    a ``seed`` where it samples (radis.judges.client.seeded).

    The prompt template path is made absolute so the copy works from any directory.
    """
    import alpaca_eval

    from radis.judges.client import seeded

    configs_root = Path(alpaca_eval.__file__).parent / "evaluators_configs"
    source = configs_root / annotator / "configs.yaml"
    if not source.is_file():
        raise InputError(f"unknown AlpacaEval annotator {annotator!r} (no {source})")
    config = yaml.safe_load(source.read_text())
    entry = config[annotator]
    entry["prompt_template"] = str(configs_root / entry["prompt_template"])
    entry["completions_kwargs"]["model_name"] = judge_model
    # Our judges are chat endpoints; alpaca_eval guesses from the model's name and sends a name
    # with "instruct" in it (a served Llama-3-70B-Instruct) to the legacy completions API.
    entry["completions_kwargs"]["requires_chatml"] = True
    # The weighted annotators sample their preference token (temperature 1; the preference is read
    # from the logprobs, but the raw completion keeps the token): seeded, as every judge call
    entry["completions_kwargs"] = seeded(entry["completions_kwargs"])
    target = out_dir / annotator / "configs.yaml"
    write_text(target, yaml.safe_dump(config))
    return target


#: where :func:`client_config` keeps the judge key for alpaca_eval's clients: this process's
#: environment, for the duration of the block (never a file)
KEY_ENV = "RADIS_ALPACAEVAL_API_KEY"


def openai_client(**kwargs):
    """alpaca_eval's client (``client_class`` in the client config): an ``openai.OpenAI`` with the
    key from :data:`KEY_ENV`."""
    import openai

    return openai.OpenAI(api_key=os.environ[KEY_ENV], **kwargs)


@contextmanager
def client_config(base_url: str | None, api_key: str):
    """Point alpaca_eval's OpenAI client at the judge endpoint for the duration of the block. The
    config file names the endpoint and :func:`openai_client`; the key stays in memory."""
    with tempfile.TemporaryDirectory(prefix="radis-ae-") as tmp:
        path = Path(tmp) / "openai_configs.yaml"
        entry = {"client_class": f"{__name__}.openai_client"}
        if base_url:
            entry["base_url"] = base_url
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump({"default": [entry]}, f)
        previous = {name: os.environ.get(name) for name in ("OPENAI_CLIENT_CONFIG_PATH", KEY_ENV)}
        os.environ.update({"OPENAI_CLIENT_CONFIG_PATH": str(path), KEY_ENV: api_key})
        try:
            yield path
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextmanager
def stoppable_calls():
    """alpaca_eval's OpenAI decoder makes its calls on radis.judges.client.CallPool for the duration
    of the block: its ``ThreadPoolExecutor`` runs every queued call after SIGTERM (its ``with``
    exit waits for them) and is joined when the interpreter exits. Apply after the decoder module
    is (re)loaded."""
    import alpaca_eval.decoders.openai as decoder

    from radis.judges.client import CallPool

    plain = decoder.ThreadPoolExecutor
    decoder.ThreadPoolExecutor = CallPool
    try:
        yield
    finally:
        decoder.ThreadPoolExecutor = plain


@contextmanager
def atomic_annotation_cache():
    """Make alpaca_eval write its annotation cache atomically for the duration of the block.

    The cache holds every paid judgement; alpaca_eval saves it after each batch with a plain
    ``DataFrame.to_json(path)``, so a kill while saving leaves a truncated file, and the next run
    crashes on it or, once it is deleted, pays again. Wrapped, each save writes a temporary beside
    the cache and renames it over the cache (radis.io.atomic_path): the file is always the last
    complete save.
    """
    from alpaca_eval.annotators.base import BaseAnnotatorJSON

    plain_save = BaseAnnotatorJSON.save

    def save(self, path=None):
        path = path or self.caching_path
        if path is None:
            return
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


def evaluate(outputs: list[dict], reference: list[dict], *, annotator: str, judge_model: str, base_url: str | None,
             api_key: str, caching_path: Path, work_dir: Path) -> dict:
    """Win rate (and length-controlled win rate where it can be computed) of ``outputs`` vs ``reference``."""
    import pandas as pd

    by_instruction = {r["instruction"]: r for r in reference}
    missing = [o["instruction"][:60] for o in outputs if o["instruction"] not in by_instruction]
    if missing:
        raise InputError(f"{len(missing)} model outputs have no reference output, e.g. {missing[0]!r}")
    reference = [by_instruction[o["instruction"]] for o in outputs]
    config_path = annotator_config(annotator, judge_model, work_dir / "annotators")
    caching_path.parent.mkdir(parents=True, exist_ok=True)
    with client_config(base_url, api_key), atomic_annotation_cache():
        # alpaca_eval binds OPENAI_CLIENT_CONFIG_PATH when its decoder module is imported.
        import importlib

        import alpaca_eval.constants
        import alpaca_eval.decoders.openai
        from alpaca_eval import main as ae_main
        from alpaca_eval import metrics

        importlib.reload(alpaca_eval.constants)
        importlib.reload(alpaca_eval.decoders.openai)
        with stoppable_calls():
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
        "n_parse_failures": len(outputs) - parsed,
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
