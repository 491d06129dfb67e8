"""General-ability evaluation (paper §4.1): generating the responses and judging them.

Each benchmark's module (radis.benchmarks: the registry) holds its own logic; this module runs
them the same way for every benchmark: responses come from the one generation interface, judges
are reached through the one judge client (AlpacaEval's annotator too: radis.evaluate.alpacaeval),
and a judge model the workflow serves itself is started for the duration of the job and stopped
afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from radis import benchmarks
from radis.io import InputError, read_jsonl
from radis.judges.client import JudgeConfig
from radis.settings import (
    GeneralGenerationStep,
    JudgedBenchmark,
    JudgedSection,
    JudgeStep,
    ResponseSetSettings,
    StepSettings,
)


def generate(response_set: str, generator, data_dir: Path, settings: ResponseSetSettings, seed: int) -> list[dict]:
    """Responses of one model to one response set's prompts, one record per item."""
    return benchmarks.module(response_set).generate_responses(generator, Path(data_dir), settings, seed)


@dataclass(frozen=True)
class Judging:
    """What a benchmark's ``judge_responses`` gets: the judge (its config name and entry; ``refusal``
    has none), the benchmark's config section, where the judge answers and where its caches go.

    ``cell`` ("backbone/method") names alpaca_eval's annotation cache, one file per cell so that
    parallel jobs never write the same file; our own client's cache is one file per request.
    Both caches are keyed by what answers (radis.judges.client.answered_by; ``judge_model_dir``:
    a served judge's model), so a judge whose backbone or endpoint changed is asked again.
    """

    name: str
    config: JudgeConfig | None
    section: JudgedSection
    data_dir: Path
    cache_dir: Path
    base_url: str | None
    work_dir: Path
    cell: str
    judge_model_dir: str | None = None

    def client(self):
        from radis.judges.client import JudgeClient

        return JudgeClient(self.config, self.cache_dir / self.name, base_url=self.base_url,
                           model_dir=self.judge_model_dir)


def generate_responses(response_sets: list[str], model: str, data_dir: str, out_dir: str,
                       settings: GeneralGenerationStep) -> None:
    """``radis generate-general``: every response set of one model in one job (the model is loaded once).
    Beside each responses file, ``{set}.responses.meta.json`` says what generated it (the backend's
    packages, vLLM's included, and the generation settings); the judged cells carry it."""
    from radis.device import enforce_device
    from radis.generation import generator_from_settings
    from radis.io import write_json, write_jsonl
    from radis.provenance import provenance

    enforce_device("generate-general", settings.device)
    generator = generator_from_settings(settings, model)
    for response_set in response_sets:
        records = generate(response_set, generator, data_dir, settings.benchmarks[response_set], settings.seed)
        out = Path(out_dir) / f"{response_set}.responses.jsonl"
        write_jsonl(out, records)
        write_json(generation_meta(out), provenance(model_dir=model, generation=asdict(settings.generation),
                                                    benchmark=asdict(settings.benchmarks[response_set]),
                                                    n=len(records)))
        print(f"{out}: {len(records)} responses")


def generation_meta(responses: Path) -> Path:
    """The provenance record beside a responses file (``{set}.responses.meta.json``)."""
    return responses.with_name(responses.name.removesuffix(".jsonl") + ".meta.json")


def result_cell(backbone: str, method: str, benchmark: str, metrics: dict, settings: StepSettings,
                items: dict | None = None, **extra) -> dict:
    """One general-ability table cell (``results/eval/{backbone}/{method}/{benchmark}.json``) with its
    provenance and its per-item scores (``items``, radis.stats.item_scores: the tables' intervals
    and paired tests)."""
    from radis.provenance import config_hash, provenance

    return {"backbone": backbone, "method": method, "benchmark": benchmark, "metrics": metrics,
            **({"items": items} if items is not None else {}),
            "provenance": provenance(config_hash=config_hash(settings.given), settings=settings.given, **extra)}


def judge_responses(eval_dir: str, data_dir: str, cache_dir: str, judge_model: list[str], backbone: str, method: str,
                    settings: JudgeStep) -> None:
    """``radis judge``: every judged benchmark of one model in one job (a served judge model is
    started once); ``judge_model``: ``BACKBONE=DIR`` of each judge served for this job."""
    import json

    from radis.device import enforce_device
    from radis.io import write_json, write_jsonl

    if any(b.judge is not None and b.judge.serve for b in settings.judged.values()):
        enforce_device("judge (served judge model)", settings.device)
    eval_dir = Path(eval_dir)
    judge_models = dict(item.split("=", 1) for item in judge_model)
    results = judge_all(settings.judged, eval_dir, Path(data_dir), Path(cache_dir), judge_models,
                        eval_dir / "judge.work", f"{backbone}/{method}")
    for benchmark, result in results.items():
        write_jsonl(eval_dir / f"{benchmark}.judgments.jsonl", result["details"])
        meta = generation_meta(eval_dir / f"{settings.judged[benchmark].responses}.responses.jsonl")
        generated = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else None
        write_json(eval_dir / f"{benchmark}.json", result_cell(backbone, method, benchmark, result["metrics"], settings,
                                                               items=result.get("items"), judge=result["judge"],
                                                               generation=generated))
        print(benchmark, json.dumps(result["metrics"])[:300])


def judge_all(judged: Mapping[str, JudgedBenchmark], responses_dir: Path, data_dir: Path, cache_dir: Path,
              judge_model_dirs: dict[str, str], work_dir: Path, cell: str) -> dict[str, dict]:
    """Judge one model's responses on several benchmarks, judge by judge: a served judge is started
    once for all its benchmarks and stopped before the next one starts (an idle vLLM engine on
    CPU keeps polling its cores; two 8B judges need not share a GPU's memory).

    ``judge_model_dirs`` maps a served judge's backbone to its model directory. The results come
    in ``judged``'s order.
    """
    by_judge: dict[str, list[str]] = {}
    for benchmark, judged_benchmark in judged.items():
        by_judge.setdefault(judged_benchmark.judge_name, []).append(benchmark)
    results = {}
    for name, names in by_judge.items():
        config = judged[names[0]].judge
        model_dir = judge_model_dirs.get(config.serve) if config is not None and config.serve else None
        with contextlib.ExitStack() as stack:
            endpoint = None if config is None else stack.enter_context(
                judge_endpoint(config, model_dir, work_dir / f"{name}-server.log"))
            for benchmark in names:
                spec = judged[benchmark]
                responses = read_jsonl(responses_dir / f"{spec.responses}.responses.jsonl")
                results[benchmark] = judge(benchmark, responses, data_dir, spec, cache_dir, endpoint,
                                           work_dir / benchmark, cell, judge_model_dir=model_dir)
    return {benchmark: results[benchmark] for benchmark in judged}


@contextlib.contextmanager
def judge_endpoint(cfg: JudgeConfig, judge_model_dir: str | None, log_path: Path) -> Iterator[str | None]:
    """The judge's base URL: its configured one, or a local server started for this block
    (``server: builtin``, radis.judges.server; ``server: vllm``, ``vllm serve``). A served judge is
    this job's alone: on 127.0.0.1, under a random key made here (radis.judges.client.served_key
    hands it to the job's clients for the block), under the judge's model name."""
    if cfg.serve:
        if not judge_model_dir:
            raise InputError(f"judge {cfg.model!r} is served locally but its model directory was not given")
        import secrets

        from radis.judges.client import served_key
        from radis.judges.serving import local_server, vllm_server

        key = secrets.token_urlsafe(32)
        if cfg.server == "vllm":
            server = vllm_server(Path(judge_model_dir), cfg.model, judge_name=cfg.name, log_path=log_path,
                                 tensor_parallel_size=cfg.tensor_parallel_size, max_model_len=cfg.max_model_len,
                                 api_key=key)
        else:
            server = local_server(Path(judge_model_dir), log_path=log_path, api_key=key, served_model_name=cfg.model)
        with server as base_url, served_key(cfg.name, key):
            yield base_url
    else:
        yield cfg.base_url


def judge(benchmark: str, responses: list[dict], data_dir: Path, settings: JudgedBenchmark, cache_dir: Path,
          base_url: str | None, work_dir: Path, cell: str, judge_model_dir: str | None = None) -> dict:
    """Judge one model's responses to one benchmark by its module's ``judge_responses``; returns
    ``{"metrics", "judge", "details"}``."""
    judging = Judging(settings.judge_name, settings.judge, settings.section, Path(data_dir), Path(cache_dir),
                      base_url, Path(work_dir), cell, judge_model_dir)
    return benchmarks.module(benchmark).judge_responses(benchmarks.benchmark(benchmark), responses, judging)
