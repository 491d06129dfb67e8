"""General-ability evaluation (paper §4.1): generating the responses and judging them.

The benchmark modules (mtbench, alpacaeval, advbench, gsm8k) hold each benchmark's own logic;
this module runs them the same way for every benchmark: responses come from the one generation
interface, judges are reached through the one judge client (or alpaca_eval's own client, pointed
at the same endpoint), and a judge model the workflow serves itself is started for the duration of
the job and stopped afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from radis.config import DecodingParams
from radis.data import subset
from radis.data.general import FILES
from radis.evaluate import advbench, alpacaeval, mtbench
from radis.io import InputError, read_jsonl


def data_path(data_dir: Path, dataset: str, index: int = 0) -> Path:
    return Path(data_dir) / FILES[dataset][index].path


def generate(benchmark: str, generator, data_dir: Path, params: DecodingParams, limit: int | None,
             seed: int, temperatures: str = "fastchat") -> list[dict]:
    """Responses of one model to one benchmark's prompts, one record per item: greedy, except
    MT-Bench's per-category temperatures (``temperatures``: ``fastchat`` or ``greedy``)."""
    tokenizer = generator.tokenizer
    if benchmark == "mtbench":
        questions = subset(mtbench.load_questions(data_path(data_dir, "mtbench")), limit, seed)
        return mtbench.generate_answers(generator, questions, params, temperatures)
    if benchmark == "alpacaeval":
        # AlpacaEval 1 and 2 share their 805 instructions; answer them once.
        instructions = subset(alpacaeval.load_reference(data_path(data_dir, "alpacaeval")), limit, seed)
        outputs = generator.generate(alpacaeval.prompts(tokenizer, instructions), params)
        return alpacaeval.model_outputs(instructions, [g.text.strip() for g in outputs], str(generator.model_dir))
    if benchmark == "advbench":
        behaviors = subset(advbench.load_behaviors(data_path(data_dir, "advbench")), limit, seed)
        outputs = generator.generate(advbench.prompts(tokenizer, behaviors), params)
        return [{**b, "response": g.text.strip(), "generated_tokens": g.n_tokens, "finished": g.finished}
                for b, g in zip(behaviors, outputs)]
    raise InputError(f"no response generation for benchmark {benchmark!r}")


def judge_all(judged: dict[str, dict], responses_dir: Path, data_dir: Path, cache_dir: Path,
              judge_model_dirs: dict[str, str], work_dir: Path, cell: str) -> dict[str, dict]:
    """Judge one model's responses on several benchmarks; every served judge is started once.

    ``judged`` maps a benchmark to ``{"judge_name", "judge", "section", "responses"}``;
    ``judge_model_dirs`` maps a served judge's backbone to its model directory.
    """
    results = {}
    with contextlib.ExitStack() as stack:
        endpoints: dict[str, str | None] = {}
        for benchmark, spec in judged.items():
            name, judge_spec = spec["judge_name"], spec["judge"]
            if name not in endpoints and judge_spec is not None:
                endpoints[name] = stack.enter_context(judge_endpoint(
                    name, judge_spec, judge_model_dirs.get(judge_spec.get("serve", "")),
                    work_dir / f"{name}-server.log"))
            responses = read_jsonl(responses_dir / f"{spec['responses']}.responses.jsonl")
            results[benchmark] = judge(benchmark, responses, data_dir, spec, cache_dir, endpoints.get(name),
                                       work_dir / benchmark, cell,
                                       judge_model_dir=judge_model_dirs.get((judge_spec or {}).get("serve", "")))
    return results


@contextlib.contextmanager
def judge_endpoint(name: str, judge: dict, judge_model_dir: str | None, log_path: Path) -> Iterator[str | None]:
    """The judge's base URL: its configured one, or a local server started for this block
    (``server: builtin``, radis.judges.server; ``server: vllm``, ``vllm serve``)."""
    if "serve" in judge:
        if not judge_model_dir:
            raise InputError(f"judge {judge['model']!r} is served locally but its model directory was not given")
        from radis.judges.client import JudgeConfig
        from radis.judges.server import local_server, vllm_server

        cfg = JudgeConfig.from_config(name, judge)
        if cfg.server == "vllm":
            server = vllm_server(Path(judge_model_dir), cfg.model, judge_name=name, log_path=log_path,
                                 tensor_parallel_size=cfg.tensor_parallel_size, max_model_len=cfg.max_model_len)
        else:
            server = local_server(Path(judge_model_dir), log_path=log_path)
        with server as base_url:
            yield base_url
    else:
        yield judge.get("base_url")


def judge(benchmark: str, responses: list[dict], data_dir: Path, settings: dict, cache_dir: Path,
          base_url: str | None, work_dir: Path, cell: str, judge_model_dir: str | None = None) -> dict:
    """Judge one model's responses to one benchmark; returns ``{"metrics", "judge", "details"}``.

    ``cell`` ("backbone/method") names alpaca_eval's annotation cache, one file per cell so that
    parallel jobs never write the same file; our own client's cache is one file per request.
    Both caches are keyed by what answers (radis.judges.client.answered_by; ``judge_model_dir``:
    a served judge's model), so a judge whose backbone or endpoint changed is asked again.
    """
    name, spec, section = settings["judge_name"], settings["judge"], settings["section"]
    if benchmark == "advbench" and name == "refusal":
        from radis.judges.safety import is_refusal

        verdicts = [is_refusal(r["response"]) for r in responses]
        return {"metrics": advbench.safe_rate(verdicts), "judge": "refusal-prefix matcher",
                "details": [{"id": r["id"], "safe": v} for r, v in zip(responses, verdicts)]}

    from radis.judges.client import JudgeClient, JudgeConfig, answered_by, resolve_api_key, text_of
    from radis.provenance import config_hash

    config = JudgeConfig.from_config(name, spec)
    if benchmark in ("alpacaeval", "alpacaeval2"):
        work_dir.mkdir(parents=True, exist_ok=True)
        answerer = config_hash([spec["model"], answered_by(config, base_url, judge_model_dir)])
        reference = alpacaeval.load_reference(data_dir / alpacaeval.REFERENCES[benchmark])
        result = alpacaeval.evaluate(
            responses, reference, annotator=section["annotator"], judge_model=spec["model"], base_url=base_url,
            api_key=resolve_api_key(config),
            caching_path=cache_dir / "alpaca_eval" / name / answerer / cell / f"{benchmark}.json",
            work_dir=work_dir)
        annotations = result.pop("annotations")
        return {"metrics": result, "judge": name, "details": annotations}
    client = JudgeClient(config, cache_dir / name, base_url=base_url, model_dir=judge_model_dir)
    if benchmark == "mtbench":
        prompts = mtbench.load_judge_prompts(data_path(data_dir, "mtbench", 1))
        references = mtbench.load_reference_answers(data_path(data_dir, "mtbench", 2))
        if config.scoring == "logprobs":
            judgments = mtbench.judge_by_logprobs(responses, prompts, references, client)
        else:
            judgments = mtbench.judge(responses, prompts, references, client,
                                      max_tokens=section.get("judge_max_tokens", mtbench.JUDGE_MAX_TOKENS))
        metrics = mtbench.score(responses, judgments)
        metrics["scoring"] = config.scoring
        if metrics["score"] is None:
            missing = "had no [[rating]]" if config.scoring == "text" else "had no rating among the top logprobs"
            metrics["score"] = f"n/a: {metrics['n_parse_failures']} of {metrics['n_judgments']} judgments {missing}"
        return {"metrics": metrics, "judge": name, "details": judgments}
    if benchmark == "advbench":
        from radis.judges.safety import llama_guard_messages, parse_llama_guard

        requests = [{"messages": llama_guard_messages(r["response"]), "max_tokens": 16,
                     "temperature": 0} for r in responses]
        texts = [text_of(r) for r in client.complete(requests)]
        verdicts = [parse_llama_guard(t)[0] for t in texts]
        return {"metrics": advbench.safe_rate(verdicts), "judge": name,
                "details": [{"id": r["id"], "safe": v, "judgment": t} for r, v, t in zip(responses, verdicts, texts)]}
    raise InputError(f"no judge for benchmark {benchmark!r}")
