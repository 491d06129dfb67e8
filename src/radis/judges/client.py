"""The one judge client: OpenAI chat completions with an on-disk cache, retries and a concurrency bound.

Why this shape: judging is the only paid, rate-limited and slow step of the workflow, so every
completion is cached on disk before it is used (a rerun or a resumed run repeats no call), the
``openai`` client's own retry loop handles 408/409/429/5xx and timeouts with exponential backoff
(honouring Retry-After), malformed answers (a body that does not parse, no ``choices``) are retried
here and never cached, and so are answers that judge nothing (:func:`unusable`: no content, a
refusal, a content filter's stop, no logprobs where they were asked, or what the caller's ``check``
rejects, such as a text cut off before its rating); a request that keeps getting those, or that
the endpoint rejects (400, 413, 422: no retry helps), is returned as failed (:func:`failure_of`)
for its benchmark to count ("k of n failed: reason") while the others are judged, and is asked
again by a rerun. A pool of daemon threads bounds concurrency (:class:`CallPool`: SIGTERM or
Ctrl-C sends no queued call and waits for none in flight, so a preempted job stops within seconds
instead of paying for every call it had queued), and a missing key fails when the DAG is parsed
instead of after hours of GPU work. The key is read from an environment variable named in
the config and never written anywhere: the cache holds the request and the response only.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from radis.io import InputError, read_json, write_json

#: api_key sent to servers that need none (local servers; the openai client insists on some key)
LOCAL_API_KEY = "EMPTY"
#: first wait before asking again after a malformed answer (doubles per retry, at most 8 s)
RETRY_BACKOFF_S = 0.5
#: how often a well-formed answer that judges nothing (:func:`unusable`) is asked again before the
#: request is given up as failed (at most ``max_retries``): a greedy judge mostly repeats itself
BAD_ANSWER_RETRIES = 2
#: HTTP statuses that reject the request itself (too long, malformed, refused by policy): asking
#: again cannot help, the item fails alone (an auth or routing error fails the job instead)
ITEM_STATUSES = (400, 413, 422)
#: what can serve a judge model the workflow serves itself (``serve:``)
SERVERS = ("builtin", "vllm")
#: how a verdict is read: from the judge's text, or from its next-token log-probabilities (radis.judges.logprobs)
SCORINGS = ("text", "logprobs")
#: request fields the client sets itself or cannot cache
_FORBIDDEN_REQUEST_KEYS = {"model", "stream", "extra_headers", "extra_query", "timeout"}
#: the ``seed`` every judge request that samples is sent with (:func:`seeded`), so that a rerun asks
#: for the same judgement: the builtin server and ``vllm serve`` sample by it (OpenAI: best effort).
#: Fixed, as ``vllm serve --seed 0``: the judge is the measuring instrument, not the experiment's seed.
JUDGE_SEED = 0


def samples(request: Mapping[str, Any]) -> bool:
    """Whether a chat request samples: a temperature that is not 0 (OpenAI's default is 1)."""
    temperature = request.get("temperature")
    return temperature is None or float(temperature) != 0


def seeded(request: Mapping[str, Any], seed: int = JUDGE_SEED) -> dict:
    """The request with ``seed`` where it samples and names none; a greedy request unchanged (its
    cache key, and what is cached under it, stay)."""
    request = dict(request)
    if samples(request) and request.get("seed") is None:
        request["seed"] = seed
    return request


#: a caller's test of an answer (:meth:`JudgeClient.complete`): why it is unusable, or None
Check = Callable[[Mapping[str, Any]], "str | None"]


class MissingKeyError(RuntimeError):
    """A judge's API key is not in the environment; the message names the variable and the judge."""


class JudgeError(RuntimeError):
    """A judge call failed after the client's retries; finished calls are cached already."""


class CallPool:
    """Calls on at most ``max_workers`` daemon threads that stop when the caller stops.

    ``concurrent.futures.ThreadPoolExecutor`` suits neither a paid API nor SIGTERM: leaving its
    ``with`` block on an exception (radis.interrupt.Terminated, KeyboardInterrupt) waits for every
    queued call to run, and even a pool shut down without waiting is joined when the interpreter
    exits, so a preempted job keeps calling until SIGKILL. Here the main thread waits for results
    in short, interruptible steps; when it stops (any exception, the signal's included) no queued
    call is started and none in flight is waited for: the workers are daemon threads, and what
    they finish before the process exits is still cached. A worker's exception stops the queue
    too; the calls in flight then finish (they are paid for) before it is raised.

    ``map`` takes the place of ``ThreadPoolExecutor.map`` (alpaca_eval's decoder is given one:
    radis.evaluate.alpacaeval), ``run`` reports each result as it comes.
    """

    def __init__(self, max_workers: int):
        self.max_workers = max(1, int(max_workers))

    def __enter__(self) -> CallPool:
        return self

    def __exit__(self, *exc) -> None:
        pass  # each run stops its own workers when it returns or raises

    def run(self, fn: Callable[[Any], Any], items: Iterable[Any],
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        """``fn(item)`` for every item, results in the items' order."""
        items = list(items)
        todo = collections.deque(enumerate(items))
        done: queue.SimpleQueue = queue.SimpleQueue()
        stop = threading.Event()
        results: list[Any] = [None] * len(items)

        def work() -> None:
            while not stop.is_set():
                try:
                    i, item = todo.popleft()
                except IndexError:
                    return
                try:
                    done.put((i, True, fn(item)))
                except BaseException as e:  # noqa: BLE001 - handed to the main thread
                    stop.set()
                    done.put((i, False, e))

        started = 0
        try:
            for _ in range(min(self.max_workers, len(items))):
                threading.Thread(target=work, daemon=True, name="judge-call").start()
            error: BaseException | None = None
            received = 0
            while received < len(items):
                try:
                    i, ok, value = done.get(timeout=0.2)  # short steps: a signal handler runs between them
                except queue.Empty:
                    if error is not None or stop.is_set():
                        # stopped: the calls still in flight are those started and not yet received
                        started = len(items) - len(todo)
                        if received >= started:
                            break
                    continue
                received += 1
                if ok:
                    results[i] = value
                    if on_result is not None:
                        on_result(i, value)
                elif error is None:
                    error = value
            if error is not None:
                raise error
            return results
        finally:
            stop.set()
            todo.clear()

    def map(self, fn: Callable[[Any], Any], *iterables: Iterable[Any]) -> Iterator[Any]:
        """As ``ThreadPoolExecutor.map``, all results at once (alpaca_eval lists them anyway)."""
        return iter(self.run(lambda args: fn(*args), zip(*iterables)))


class MalformedResponse(ValueError):
    """A 200 answer that is not a chat completion (a body that does not parse, no ``choices``)."""


def check_response(response: Any) -> dict:
    """The response as a dict if it is a usable chat completion, else :class:`MalformedResponse`:
    a truncated or foreign body must be retried, never cached."""
    if not isinstance(response, Mapping):
        raise MalformedResponse(f"expected a JSON object, got {type(response).__name__}: {str(response)[:200]!r}")
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse(f"the answer has no 'choices' (got {str(choices)[:100]})")
    message = choices[0].get("message") if isinstance(choices[0], Mapping) else None
    if not isinstance(message, Mapping) or not isinstance(message.get("content"), (str, type(None))):
        raise MalformedResponse("the first choice has no message with text content")
    return dict(response)


def unusable(request: Mapping[str, Any], response: Mapping[str, Any]) -> str | None:
    """Why a well-formed answer (:func:`check_response`) judges nothing, or None when it is usable:
    a refusal, a content filter's stop, no text, or no logprobs where the request asked for them.
    Such an answer is never cached."""
    choice = response["choices"][0]
    message = choice.get("message") or {}
    if message.get("refusal"):
        return f"refused ({str(message['refusal'])[:80]!r})"
    if choice.get("finish_reason") == "content_filter":
        return "stopped by the endpoint's content filter"
    if message.get("content") is None:
        return "no content in the answer"
    if request.get("logprobs") and not (choice.get("logprobs") or {}).get("content"):
        return "no logprobs in the answer"
    return None


def failed(reason: str, last: Mapping[str, Any] | None = None) -> dict:
    """What :meth:`JudgeClient.complete` returns for a request it gave up on (never cached), with
    the last answer that judged nothing, if one came (its text is the judgement's, for the record)."""
    return {"failed": reason, **({"last_answer": dict(last)} if last is not None else {})}


def failure_of(response: Mapping[str, Any]) -> str | None:
    """The reason a request failed (:func:`failed`), or None for an answer."""
    return response.get("failed") if isinstance(response, Mapping) else None


def finish_reason(response: Mapping[str, Any]) -> str | None:
    """The first choice's ``finish_reason`` (None for a failed request)."""
    return None if failure_of(response) else response["choices"][0].get("finish_reason")


def failure_summary(reasons: Iterable[str | None]) -> dict:
    """``{"n_failed", "failure"}`` for a benchmark's metrics: how many judgements failed and why, the
    most frequent reason first ("refused (...) (2×); no content in the answer"); {} when none did.
    The table cell shows it as "k of n failed: reason" (radis.tables.general_mark)."""
    counts = collections.Counter(r for r in reasons if r)
    if not counts:
        return {}
    summary = "; ".join(r if n == 1 else f"{r} ({n}×)" for r, n in counts.most_common())
    if len(summary) > 200:
        summary = summary[:199] + "…"
    return {"n_failed": sum(counts.values()), "failure": summary}


@dataclass(frozen=True)
class JudgeConfig:
    """One judge as the config declares it. ``base_url=None`` means "supplied at run time" (the local
    server the workflow starts for ``serve``); ``api_key_env=None`` means the endpoint needs no key."""

    name: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    #: a backbone the workflow serves itself (``server`` says how); its URL is passed to the client
    serve: str | None = None
    #: what serves it: ``builtin`` (radis.judges.server, CPU or one GPU, one request at a time) or
    #: ``vllm`` (``vllm serve``: batched, tensor-parallel; GPU hosts, the envs/vllm.yaml environment)
    server: str = "builtin"
    #: GPUs a ``vllm`` server splits the model over
    tensor_parallel_size: int = 1
    #: a ``vllm`` server's context length (default: the model's; a smaller one needs less KV cache)
    max_model_len: int | None = None
    #: ``text`` (parse the judge's answer) or ``logprobs`` (MT-Bench ratings and Table 4 categories from
    #: the next-token distribution; for small local judges that do not write the format asked)
    scoring: str = "text"
    max_concurrency: int = 4
    max_retries: int = 6
    timeout_s: float = 120.0
    #: optional USD prices per million tokens, only for the pre-run estimate
    usd_per_mtok_prompt: float | None = None
    usd_per_mtok_completion: float | None = None
    notes: str = ""

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any]) -> JudgeConfig:
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise InputError(f"judge {name!r}: unknown keys {unknown} (known: {sorted(known)})")
        if not spec.get("model"):
            raise InputError(f"judge {name!r}: 'model' is required")
        cfg = cls(name=name, **dict(spec))
        if cfg.max_concurrency < 1 or cfg.max_retries < 0 or cfg.timeout_s <= 0:
            raise InputError(f"judge {name!r}: needs max_concurrency >= 1, max_retries >= 0, timeout_s > 0")
        if cfg.server not in SERVERS:
            raise InputError(f"judge {name!r}: server {cfg.server!r} is not one of {', '.join(SERVERS)}")
        if cfg.scoring not in SCORINGS:
            raise InputError(f"judge {name!r}: scoring {cfg.scoring!r} is not one of {', '.join(SCORINGS)}")
        if cfg.tensor_parallel_size < 1 or (cfg.max_model_len is not None and cfg.max_model_len < 1):
            raise InputError(f"judge {name!r}: needs tensor_parallel_size >= 1 and max_model_len >= 1")
        return cfg


def served_key_env(name: str) -> str:
    """The environment variable that holds the key of judge ``name`` while the job serves it."""
    return "RADIS_SERVED_JUDGE_KEY_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


@contextlib.contextmanager
def served_key(name: str, key: str) -> Iterator[None]:
    """For the duration of the block, judge ``name``'s clients (ours and alpaca_eval's, through
    :func:`resolve_api_key`) send ``key``: the random key of the server this job started for it
    (radis.evaluate.general.judge_endpoint). It lives in this process's environment only."""
    var = served_key_env(name)
    previous = os.environ.get(var)
    os.environ[var] = key
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = previous


def resolve_api_key(cfg: JudgeConfig) -> str:
    """The key from the environment variable the config names; for a judge this job serves, the
    served server's own key (:func:`served_key`); "EMPTY" when there is none."""
    if cfg.serve and os.environ.get(served_key_env(cfg.name)):
        return os.environ[served_key_env(cfg.name)]
    if cfg.api_key_env is None:
        return LOCAL_API_KEY
    key = os.environ.get(cfg.api_key_env, "")
    if not key.strip():
        where = cfg.base_url or "its endpoint"
        raise MissingKeyError(
            f"judge {cfg.name!r} ({cfg.model} at {where}) needs an API key in the environment variable "
            f"{cfg.api_key_env}, which is not set or empty; export {cfg.api_key_env}=... before running, "
            f"or point the judge at another endpoint in the config")
    return key


def check_keys(judge_configs: Iterable[JudgeConfig] | Mapping[str, Mapping[str, Any]]) -> None:
    """Raise one :class:`MissingKeyError` listing every judge whose key is missing (DAG parse time)."""
    if isinstance(judge_configs, Mapping):
        judge_configs = [JudgeConfig.from_config(n, s) for n, s in judge_configs.items()]
    problems = []
    for cfg in judge_configs:
        try:
            resolve_api_key(cfg)
        except MissingKeyError as e:
            problems.append(str(e))
    if problems:
        raise MissingKeyError("\n".join(problems))


def cache_key(model: str, request: Mapping[str, Any], answered_by: str | None) -> str:
    """sha256 of the canonical JSON of model, request and what answered (:func:`answered_by`): a
    model name alone does not say it (a served judge's backbone can change under the same name,
    and another endpoint may serve another model by that name)."""
    blob = json.dumps({"model": model, "request": request, "answered_by": answered_by}, sort_keys=True,
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def answered_by(cfg: JudgeConfig, base_url: str | None, model_dir: str | Path | None = None) -> str | None:
    """What answers a judge's requests, for its cache key: a judge the workflow serves is its model
    directory's identity (radis.provenance.model_identity: backbone, revision, weights; not the
    server's random port), any other judge its endpoint URL."""
    if cfg.serve:
        if model_dir is None:
            raise ValueError(f"judge {cfg.name!r} is served from {cfg.serve!r}: its model directory is needed")
        from radis.provenance import model_identity

        return f"served {cfg.serve} {model_identity(model_dir)}"
    return cfg.base_url or base_url


def text_of(response: Mapping[str, Any]) -> str:
    """The first choice's message text ("" when the model returned none); of a failed request, its
    last answer's ("" when none came)."""
    if failure_of(response):
        return text_of(response["last_answer"]) if response.get("last_answer") else ""
    return response["choices"][0]["message"].get("content") or ""


def _error_message(error: Any) -> str:
    """An API error's own message, short (no request content, no key: the endpoint's words only)."""
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, Mapping) else None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        message = body["error"].get("message")
    text = str(message or getattr(error, "message", "") or error)
    return text if len(text) <= 120 else text[:119] + "…"


def _prompt_chars(request: Mapping[str, Any]) -> int:
    n = 0
    for m in request.get("messages", []):
        content = m.get("content")
        if isinstance(content, str):
            n += len(content)
        elif isinstance(content, list):
            n += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
    return n


class JudgeClient:
    """Cached, retried, concurrency-bounded chat completions for one judge.

    Each request is the keyword arguments of ``chat.completions.create`` without ``model``.
    Cache: one JSON file per request under ``cache_dir/<key[:2]>/<key>.json``, written atomically
    (temp file + rename), so concurrent threads and killed jobs never leave a partial entry.
    ``model_dir`` is a served judge's model directory (see :func:`answered_by`).
    """

    def __init__(self, cfg: JudgeConfig, cache_dir: str | Path, base_url: str | None = None,
                 model_dir: str | Path | None = None):
        self.cfg = cfg
        self.cache_dir = Path(cache_dir)
        self.base_url = base_url or cfg.base_url
        self.answered_by = answered_by(cfg, self.base_url, model_dir)
        self.calls_made = 0
        self.cache_hits = 0
        #: requests given up as :func:`failed` (not cached)
        self.failures = 0
        self._client: Any = None
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def cached(self, request: Mapping[str, Any], check: Check | None = None) -> dict | None:
        return self._cached_response(cache_key(self.cfg.model, request, self.answered_by), request, check)

    def _cached_response(self, key: str, request: Mapping[str, Any],
                         check: Check | None = None) -> dict | None:
        """The cached response, or None when absent or unusable (a malformed answer, or one that
        judges nothing, that an older version cached is asked again rather than failing the stage)."""
        path = self._path(key)
        if not path.exists():
            return None
        try:
            response = check_response(read_json(path).get("response"))
        except (InputError, MalformedResponse, AttributeError):
            return None
        if unusable(request, response) or (check is not None and check(response)):
            return None
        return response

    def _openai(self) -> Any:
        if self._client is None:
            if not self.base_url:
                raise ValueError(f"judge {self.cfg.name!r}: no base_url in the config and none given")
            from openai import OpenAI

            self._client = OpenAI(api_key=resolve_api_key(self.cfg), base_url=self.base_url,
                                  max_retries=self.cfg.max_retries, timeout=self.cfg.timeout_s)
        return self._client

    def _call(self, key: str, request: dict, check: Check | None = None) -> dict:
        """One completion. HTTP errors and timeouts are retried by the openai client; a malformed
        200 answer (see :func:`check_response`) is retried here, up to ``max_retries`` times with
        exponential backoff, then a :class:`JudgeError` says what came back. An answer that judges
        nothing (:func:`unusable`, or ``check`` gives a reason) is asked again up to
        :data:`BAD_ANSWER_RETRIES` times (what ``check`` rejects only where the request samples: a
        greedy judge answers the same), a request the endpoint rejects (:data:`ITEM_STATUSES`) not at
        all; then the request is returned :func:`failed`, uncached. Only a usable answer is cached."""
        import openai

        attempts = self.cfg.max_retries + 1
        bad_tries = 1 + min(BAD_ANSWER_RETRIES, self.cfg.max_retries)
        malformed = bad = 0
        while True:
            try:
                raw = self._openai().chat.completions.create(model=self.cfg.model, **request)
                response = check_response(raw.model_dump() if hasattr(raw, "model_dump") else raw)
            except (MalformedResponse, json.JSONDecodeError) as e:
                malformed += 1
                if malformed == attempts:
                    raise JudgeError(
                        f"judge {self.cfg.name!r} ({self.cfg.model} at {self.base_url}): malformed answer "
                        f"{attempts} time(s) in a row, last: {type(e).__name__}: {e}") from e
                print(f"[judge {self.cfg.name}] malformed answer ({e}); retry {malformed}/{attempts - 1}",
                      file=sys.stderr, flush=True)
                time.sleep(min(RETRY_BACKOFF_S * 2 ** (malformed - 1), 8.0))
                continue
            except openai.APIStatusError as e:
                if e.status_code not in ITEM_STATUSES:
                    raise
                reason = f"rejected by the endpoint (HTTP {e.status_code}: {_error_message(e)})"
                return self._give_up(reason, 1)
            problem = unusable(request, response)
            if problem is None and check is not None:
                problem = check(response)
                if problem is not None and not samples(request):  # a greedy judge would answer the same
                    return self._give_up(problem, bad + 1, response)
            if problem is None:
                break
            bad += 1
            if bad == bad_tries:
                return self._give_up(problem, bad, response)
            print(f"[judge {self.cfg.name}] answer judges nothing ({problem}); retry {bad}/{bad_tries - 1}",
                  file=sys.stderr, flush=True)
            time.sleep(min(RETRY_BACKOFF_S * 2 ** (bad - 1), 8.0))
        entry = {"key": key, "model": self.cfg.model, "answered_by": self.answered_by, "request": request,
                 "response": response}
        write_json(self._path(key), entry)
        with self._lock:
            self.calls_made += 1
        return response

    def _give_up(self, reason: str, tries: int, last: Mapping[str, Any] | None = None) -> dict:
        print(f"[judge {self.cfg.name}] a request failed after {tries} call(s): {reason}; not cached, "
              "recorded as failed (a rerun asks again)", file=sys.stderr, flush=True)
        with self._lock:
            self.failures += 1
        return failed(reason, last)

    def _announce(self, todo: dict[str, dict], total: int) -> None:
        chars = sum(_prompt_chars(r) for r in todo.values())
        caps = [r.get("max_completion_tokens") or r.get("max_tokens") for r in todo.values()]
        completion = sum(c for c in caps if c)
        unbounded = sum(1 for c in caps if not c)
        line = (f"[judge {self.cfg.name}] {self.cfg.model}: {len(todo)} call(s) to make "
                f"({total - len(todo)} of {total} requests cached); ~{chars // 4} prompt tokens (chars/4), "
                f"<= {completion} completion tokens")
        if unbounded:
            line += f" (+{unbounded} calls without max_tokens)"
        if self.cfg.usd_per_mtok_prompt is not None and self.cfg.usd_per_mtok_completion is not None:
            usd = (chars / 4 * self.cfg.usd_per_mtok_prompt
                   + completion * self.cfg.usd_per_mtok_completion) / 1e6
            line += f"; <= ${usd:.2f} at the configured prices"
        print(line, file=sys.stderr, flush=True)

    def complete(self, requests: list[dict], check: Check | None = None) -> list[dict]:
        """Responses (plain dicts, ``ChatCompletion.model_dump()``) in the order of ``requests``; a
        request that samples is sent (and cached) with :data:`JUDGE_SEED` unless it names a seed.
        A request that got no usable answer comes back :func:`failed` (see :meth:`_call`);
        ``check(response)`` names what else makes an answer unusable for the caller (a reason, or
        None), e.g. a text cut off at ``max_tokens`` before its rating; cached answers too must pass it."""
        requests = [seeded(r) for r in requests]
        for r in requests:
            bad = _FORBIDDEN_REQUEST_KEYS & set(r)
            if bad:
                raise ValueError(f"judge request must not set {sorted(bad)}: the client sets model; "
                                 "streaming and per-call headers are not cached")
        keys = [cache_key(self.cfg.model, r, self.answered_by) for r in requests]
        results: dict[str, dict] = {}
        todo: dict[str, dict] = {}
        for key, request in zip(keys, requests):
            if key in results or key in todo:
                continue
            response = self._cached_response(key, request, check)
            if response is not None:
                results[key] = response
            else:
                todo[key] = request
        self.cache_hits += len(requests) - len(todo)
        if todo:
            self._openai()  # a missing key or base URL fails here, before any call
            self._announce(todo, len(requests))
            # calls done of all, their rate and the time left, in the job's log every few seconds at
            # most, as generation reports its progress
            pending = list(todo.items())
            with (tqdm(total=len(todo), desc=f"judge {self.cfg.name}", unit="call", mininterval=5,
                       file=sys.stderr) as bar, CallPool(self.cfg.max_concurrency) as pool):
                try:
                    responses = pool.run(lambda kr: self._call(*kr, check), pending,
                                         lambda i, r: bar.update(1))
                except Exception as err:
                    raise JudgeError(
                        f"judge {self.cfg.name!r} ({self.cfg.model}): a call failed (retryable errors are "
                        f"retried up to {self.cfg.max_retries} times): {type(err).__name__}: {err}; "
                        f"{bar.n} finished calls are cached, rerun to resume") from err
            for (k, _), response in zip(pending, responses):
                results[k] = response
        return [results[k] for k in keys]
