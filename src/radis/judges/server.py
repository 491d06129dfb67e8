"""A small OpenAI-compatible HTTP server for a local HF causal LM (the embedded default's judge).

Why our own: `transformers serve` (4.57) only streams SSE and returns no logprobs, while our judge
client wants plain JSON and alpaca_eval's weighted annotator needs the first token's
``top_logprobs``; judges scored by log-probabilities (radis.judges.logprobs) also need an assistant
message continued (``continue_final_message``, as vLLM's server takes it). vLLM's server does all
this on GPU hosts; this one covers CPU and tests.
It is stdlib ``http.server`` (no extra packages) with one model and one generation at a time.
A judge with ``server: vllm`` gets ``vllm serve`` instead (:func:`vllm_server`); both servers are
started, waited for and stopped by :func:`serve_process`.

A served judge is private to the job that starts it (radis.evaluate.general.judge_endpoint): it
listens on 127.0.0.1 only and asks for a random key of that job (``Authorization: Bearer``; 401
without it), which reaches the server through its environment (:data:`API_KEY_ENV`, vLLM's
``VLLM_API_KEY``), never its command line, which every user of the node can read and vLLM logs.
Readiness means the server answering is the one started: it serves the judge's model name and
takes this key and no other (:func:`_identify`); another server on the port (it took the port
between its choice and the bind, or shares it: vLLM binds with SO_REUSEPORT) is never joined, the
server is started again on another port (:func:`serve_on_free_port`).

Why it is kept beside ``vllm serve``, which runs on CPU too (vLLM's CPU build): measured on the
embedded default's judge job (SmolLM2-135M, MT-Bench by log-probabilities, 2 cores, 2026-12-06,
``benchmarks/engines.py``, benchmarks/RESULTS.md), it starts in 7.8 s against 47.4 s and finishes
the job in 29.6 s against 62.0 s; vLLM judges faster once up (0.42 against 0.30 judgements/s) and
the rating probabilities agree to 7e-6, so ``vllm serve`` wins only on jobs with hundreds of
judgements, which the paper config's GPU judge has (``server: vllm``) and the CPU default has not.

    python -m radis.judges.server --model DIR --host 127.0.0.1 --port 0 --port-file PORT
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from radis.io import free_port
from radis.settings import ConfigError, DecodingParams

DEFAULT_MAX_TOKENS = 512
MAX_TOP_LOGPROBS = 20
#: where the builtin server reads its API key from (unset: no key asked); :func:`local_server` sets it
#: in the server's environment only
API_KEY_ENV = "RADIS_JUDGE_SERVER_API_KEY"
#: servers :func:`serve_on_free_port` starts, each on a newly chosen port, before it gives up
PORT_ATTEMPTS = 3
#: more looks at a server found ready, each on a new connection: a port that vLLM's SO_REUSEPORT
#: bind shares with another server spreads connections over both
CONFIRM_PROBES = 3
#: how a server says it could not bind its port (Python's OSError, uvicorn, vLLM)
_ADDRESS_IN_USE = re.compile(r"address already in use|errno 98|eaddrinuse|port \d+ is (?:already )?in use", re.I)


class PortTaken(RuntimeError):
    """Another server answers on the port chosen for ours, or ours could not bind it."""


class RequestError(ValueError):
    """A client error (HTTP 400): the message goes back in OpenAI's error shape."""


def _content_text(content: Any) -> str:
    """OpenAI message content is a string or a list of parts; a text-only model sees the text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        return "".join(p.get("text", "") for p in parts)
    raise RequestError(f"unsupported message content of type {type(content).__name__}")


@dataclass
class Stats:
    """Counters behind ``GET /stats``: tests count requests on the server, not in a mock."""

    requests: int = 0
    completions: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bump(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict[str, int]:
        with self.lock:
            return {"requests": self.requests, "completions": self.completions, "errors": self.errors}


class ChatModel:
    """One HF causal LM behind a lock: renders chat with its template, generates, scores tokens."""

    def __init__(self, model_dir: str | Path, *, served_name: str | None = None, device: str = "auto",
                 dtype: str = "auto", max_new_tokens_cap: int | None = None, trust_remote_code: bool = False,
                 seed: int = 0):
        import torch

        from radis.generation import load_model, load_tokenizer
        from radis.generation.hf import stop_token_ids

        self.torch = torch
        self.model_dir = Path(model_dir)
        self.served_name = served_name or self.model_dir.name
        self.tokenizer = load_tokenizer(self.model_dir, trust_remote_code)
        self.model = load_model(self.model_dir, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
        self.stop_ids = stop_token_ids(self.tokenizer, self.model.generation_config)
        self.max_new_tokens_cap = max_new_tokens_cap
        #: the seed of a request that names none (``--seed``)
        self.seed = int(seed)
        self.lock = threading.Lock()

    def render(self, messages: list[dict], continue_final_message: bool = False) -> list[int]:
        """The prompt ids: the chat with an opened assistant turn, or (``continue_final_message``, as
        vLLM's server takes it) with the last, assistant, message left open for the model to continue."""
        if not isinstance(messages, list) or not messages:
            raise RequestError("'messages' must be a non-empty list")
        chat = []
        for m in messages:
            if not isinstance(m, dict) or "role" not in m:
                raise RequestError("each message needs a 'role'")
            chat.append({"role": m["role"], "content": _content_text(m.get("content"))})
        if continue_final_message:
            if chat[-1]["role"] != "assistant":
                raise RequestError("continue_final_message needs an assistant message last")
            text = self.tokenizer.apply_chat_template(chat, tokenize=False, continue_final_message=True)
        else:
            text = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        # the template already carries every special token it wants (BOS included where needed)
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _token(self, token_id: int) -> dict[str, Any]:
        text = self.tokenizer.decode([token_id], skip_special_tokens=False)
        return {"token": text, "bytes": list(text.encode("utf-8"))}

    def complete(self, body: dict) -> dict:
        """Answer one chat-completions request body (non-streaming) in OpenAI's response shape."""
        from radis.generation.hf import generate_kwargs, trim_at_stop

        torch = self.torch
        if body.get("stream"):
            raise RequestError("streaming is not supported by this server")
        if int(body.get("n", 1) or 1) != 1:
            raise RequestError("only n=1 is supported")
        continue_final = bool(body.get("continue_final_message"))
        if continue_final and body.get("add_generation_prompt", True):
            raise RequestError("continue_final_message needs add_generation_prompt: false (as vLLM's server)")
        prompt_ids = self.render(body.get("messages"), continue_final)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS
        max_tokens = int(max_tokens)
        if self.max_new_tokens_cap:
            max_tokens = min(max_tokens, self.max_new_tokens_cap)
        if max_tokens < 1:
            raise RequestError("max_tokens must be >= 1")
        temperature = float(body["temperature"]) if body.get("temperature") is not None else 1.0
        top_p = float(body["top_p"]) if body.get("top_p") is not None else 1.0
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        want_logprobs = bool(body.get("logprobs"))
        top_k = int(body.get("top_logprobs") or 0)
        if not 0 <= top_k <= MAX_TOP_LOGPROBS:
            raise RequestError(f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}")

        # OpenAI's API has no repetition penalty or minimum length: the model's generation config keeps them
        defaults = self.model.generation_config
        params = DecodingParams(max_new_tokens=max_tokens, min_new_tokens=defaults.min_new_tokens or 0,
                                temperature=max(temperature, 0.0), top_p=top_p, top_k=0,
                                repetition_penalty=defaults.repetition_penalty, sampling="params")
        kwargs = generate_kwargs(params, self.tokenizer, self.stop_ids)
        kwargs.update(return_dict_in_generate=True, output_logits=want_logprobs)
        if stop:
            kwargs.update(stop_strings=stop, tokenizer=self.tokenizer)
        input_ids = torch.tensor([prompt_ids], device=self.model.device)
        seed = int(body["seed"]) if body.get("seed") is not None else self.seed
        with self.lock, torch.inference_mode():
            # Sampling draws from torch's global generator (``generate`` takes no generator of its own),
            # reseeded here under the lock that serialises generation: a response is a function of its
            # request (OpenAI's ``seed``, else the server's), never of the requests before it.
            torch.manual_seed(seed)
            mask = torch.ones_like(input_ids)
            out = self.model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
            generated = out.sequences[0, len(prompt_ids):].tolist()
            logits = [step[0].float() for step in out.logits] if want_logprobs else []

        kept, finished = trim_at_stop(generated, self.stop_ids)
        n_generated = len(kept) + (1 if finished else 0)
        finish_reason = "stop" if finished else "length"
        text = self._decode(kept)
        if stop:
            cut = min((text.find(s) for s in stop if s in text), default=-1)
            if cut >= 0:
                text, finish_reason = text[:cut], "stop"
                # keep the logprobs of the tokens that produced the returned text
                n_keep = 0
                while n_keep < len(kept) and len(self._decode(kept[:n_keep + 1])) <= cut:
                    n_keep += 1
                kept = kept[:n_keep]

        logprobs = None
        if want_logprobs:
            content = []
            for tok, step in zip(kept, logits):
                lp = torch.log_softmax(step, dim=-1)
                entry = self._token(tok) | {"logprob": float(lp[tok])}
                tops = []
                if top_k:
                    values, ids = torch.topk(lp, top_k)
                    tops = [self._token(int(i)) | {"logprob": float(v)}
                            for v, i in zip(values.tolist(), ids.tolist())]
                entry["top_logprobs"] = tops
                content.append(entry)
            logprobs = {"content": content, "refusal": None}

        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.served_name,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": logprobs,
                "finish_reason": finish_reason,
            }],
            "usage": {"prompt_tokens": len(prompt_ids), "completion_tokens": n_generated,
                      "total_tokens": len(prompt_ids) + n_generated},
        }


def make_handler(chat_model: ChatModel, stats: Stats, api_key: str | None = None) -> type[BaseHTTPRequestHandler]:
    """The HTTP handler; with ``api_key``, every ``/v1`` route asks for it (401 otherwise), as
    ``vllm serve --api-key`` does."""
    wanted = f"Bearer {api_key}".encode() if api_key else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the openai client reuses connections

        def log_message(self, fmt: str, *args: Any) -> None:  # request lines go to the server log
            sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

        def _send(self, status: int, payload: dict) -> None:
            blob = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob)

        def _error(self, status: int, message: str, kind: str, code: str | None = None) -> None:
            stats.bump("errors")
            self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})

        def _authorized(self) -> bool:
            """Whether the request may be answered; a 401 is sent when not."""
            if wanted is None or not self.path.startswith("/v1"):
                return True
            if hmac.compare_digest(self.headers.get("Authorization", "").encode(), wanted):
                return True
            self._error(401, "invalid or missing API key", "invalid_request_error", "invalid_api_key")
            return False

        def do_GET(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            if not self._authorized():
                return
            if path == "/health":
                self._send(200, {"status": "ok", "model": chat_model.served_name})
            elif path == "/stats":
                self._send(200, stats.as_dict())
            elif path == "/v1/models":
                self._send(200, {"object": "list", "data": [{
                    "id": chat_model.served_name, "object": "model", "created": 0, "owned_by": "local"}]})
            else:
                self._error(404, f"no route {self.path}", "not_found_error")

        def do_POST(self) -> None:
            stats.bump("requests")
            length = int(self.headers.get("Content-Length", "0") or 0)
            raw = self.rfile.read(length)  # read before any answer: the connection is kept alive
            if not self._authorized():
                return
            if self.path.split("?")[0].rstrip("/") != "/v1/chat/completions":
                self._error(404, f"no route {self.path}", "not_found_error")
                return
            try:
                body = json.loads(raw or b"null")
                if not isinstance(body, dict):
                    raise RequestError("request body must be a JSON object")
                response = chat_model.complete(body)
            except (RequestError, json.JSONDecodeError, ValueError, TypeError) as e:
                self._error(400, str(e), "invalid_request_error")
                return
            except Exception as e:  # noqa: BLE001 - the client sees a 500 and may retry
                self._error(500, f"{type(e).__name__}: {e}", "server_error")
                return
            stats.bump("completions")
            self._send(200, response)

    return Handler


def serve(chat_model: ChatModel, host: str, port: int, port_file: str | None = None,
          api_key: str | None = None) -> None:
    stats = Stats()
    server = ThreadingHTTPServer((host, port), make_handler(chat_model, stats, api_key))
    server.daemon_threads = True
    bound = server.server_address[1]
    if port_file:
        from radis.io import write_text

        write_text(port_file, f"{bound}\n")  # atomic: a reader never sees a half-written port
    print(f"serving {chat_model.served_name} on http://{host}:{bound}/v1", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m radis.judges.server", description=__doc__.split("\n")[0],
                                epilog=f"With {API_KEY_ENV} set in its environment, every /v1 request must "
                                       "carry that key (Authorization: Bearer KEY); 401 otherwise.")
    p.add_argument("--model", required=True, help="local HF model directory")
    p.add_argument("--served-model-name", default=None, help="name in /v1/models (default: the dir name)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", default=None, help="write the bound port here once ready")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--max-new-tokens-cap", type=int, default=None,
                   help="clamp every request's max_tokens (keeps CPU judging bounded)")
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--seed", type=int, default=0,
                   help="sampling seed of a request that names none (as vllm serve --seed 0)")
    a = p.parse_args(argv)
    chat_model = ChatModel(a.model, served_name=a.served_model_name, device=a.device, dtype=a.dtype,
                           max_new_tokens_cap=a.max_new_tokens_cap, trust_remote_code=a.trust_remote_code,
                           seed=a.seed)
    serve(chat_model, a.host, a.port, a.port_file, api_key=os.environ.get(API_KEY_ENV) or None)


def _log_tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _models(root: str, api_key: str | None) -> tuple[int | None, list[str]]:
    """``GET /v1/models`` at ``root`` with ``api_key``: the status (None: nothing answers) and the ids."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{root}/v1/models", headers=headers), timeout=2) as r:
            status, blob = r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, []
    except (urllib.error.URLError, OSError):
        return None, []
    try:
        data = json.loads(blob).get("data") or []
        return status, [m.get("id") for m in data if isinstance(m, dict)]
    except (ValueError, AttributeError):
        return status, []


def _identify(root: str, api_key: str | None, model: str | None) -> str:
    """Who answers at ``root``: ``"ours"`` (it serves ``model`` and takes ``api_key`` and no other
    key), ``"foreign"`` (a server that is not the one started: another model, another key, a key not
    asked for) or ``"none"`` (nothing ready answers). Without ``model`` and ``api_key`` any server
    that lists its models is taken for ours."""
    status, ids = _models(root, api_key)
    if status in (401, 403, 404):
        return "foreign"
    if status != 200:
        return "none"
    if model is not None and model not in ids:
        return "foreign"
    if api_key is not None and _models(root, f"not-{api_key}")[0] == 200:
        return "foreign"  # takes any key: not the server given ours
    return "ours"


def _log_since(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _wait_ready(proc: subprocess.Popen, port: Callable[[], int | None], what: str, log: Path,
                timeout_s: float, api_key: str | None = None, model: str | None = None, log_start: int = 0) -> str:
    """The server's root URL once it answers ``GET /v1/models`` as the one started (:func:`_identify`);
    :class:`PortTaken` when another server answers on its port or it could not bind it, another
    error when it exits or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            error = PortTaken if _ADDRESS_IN_USE.search(_log_since(log, log_start)) else RuntimeError
            raise error(f"{what} exited with code {proc.returncode} before it was ready; "
                        f"log {log}:\n{_log_tail(log)}")
        bound = port()
        if bound is not None:
            root = f"http://127.0.0.1:{bound}"
            found = _identify(root, api_key, model)
            if found == "ours":
                found = next((f for f in (_identify(root, api_key, model) for _ in range(CONFIRM_PROBES))
                              if f == "foreign"), "ours")
            if found == "foreign":
                raise PortTaken(f"another server answers on port {bound}, not {what} (not "
                                f"{model or 'the model'} under this job's key): not joined")
            if found == "ours":
                return root
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s; log {log}:\n{_log_tail(log)}")


#: run before a served judge's command (Linux): ask the kernel to send the server SIGTERM when the
#: job that started it dies, SIGKILL included (``prctl(PR_SET_PDEATHSIG)``, kept across ``exec``);
#: a job already gone by then (its pid no longer the parent) means no server at all
_ORPHAN_GUARD = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit('the judge job that started this server is gone')\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n")


def _orphan_guarded(cmd: list[str]) -> list[str]:
    """``cmd`` run so that it stops when this process dies, however it dies (Linux; elsewhere as it is).
    A SIGTERM'd job stops its servers itself (:func:`serve_process`); a SIGKILL'd one runs no code."""
    if not sys.platform.startswith("linux"):
        return list(cmd)
    return [sys.executable, "-c", _ORPHAN_GUARD, str(os.getpid()), *cmd]


def _stop(proc: subprocess.Popen, timeout_s: float) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def serve_process(cmd: list[str], port: Callable[[], int | None], *, what: str, log: Path,
                  env: Mapping[str, str] | None = None, startup_timeout_s: float = 600.0,
                  stop_timeout_s: float = 10.0, api_key: str | None = None,
                  model: str | None = None) -> Iterator[str]:
    """Run the OpenAI-compatible server ``cmd`` for the duration of the block; yield its base URL.

    One place for both servers (this module's and ``vllm serve``), so the judge jobs start, wait for
    and stop them the same way. ``port()`` says where it listens (None while not known yet: this
    module's server binds port 0 and writes the port to a file). Ready means ``GET /v1/models``
    answers 200 as the server started would (:func:`_identify`: it lists ``model`` and takes
    ``api_key``, and only that key): both servers route it, and vLLM only once its engine is up.
    Another server on the port raises :class:`PortTaken` (:func:`serve_on_free_port` then tries
    another port). The yielded URL is ``http://127.0.0.1:PORT/v1``, what the openai client takes as
    ``base_url``. The server's output goes to ``log``; it is stopped on exit (SIGTERM, then kill
    after ``stop_timeout_s``), also when the block raises (SIGTERM: radis.interrupt.Terminated) or it
    never became ready, and it stops by itself when this process dies without a chance to stop it
    (SIGKILL; Linux, :func:`_orphan_guarded`).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as log_f:
        log_start = log_f.tell()
        proc = subprocess.Popen(_orphan_guarded(cmd), stdout=log_f, stderr=subprocess.STDOUT, env=env)
    try:
        yield f"{_wait_ready(proc, port, what, log, startup_timeout_s, api_key, model, log_start)}/v1"
    finally:
        _stop(proc, stop_timeout_s)


@contextlib.contextmanager
def serve_on_free_port(command: Callable[[int], list[str]], *, what: str, log: Path,
                       env: Mapping[str, str] | None = None, startup_timeout_s: float = 600.0,
                       api_key: str | None = None, model: str | None = None,
                       attempts: int = PORT_ATTEMPTS) -> Iterator[str]:
    """:func:`serve_process` for a server that must be told its port (``command(port)``: vLLM cannot
    bind port 0 and report it). The port is free when chosen (radis.io.free_port), but another
    process may take it before the server binds it; the server is then started again on another
    port, up to ``attempts`` times, never pointed at whatever answers there."""
    with contextlib.ExitStack() as stack:
        for attempt in range(1, attempts + 1):
            port = free_port()
            try:
                base_url = stack.enter_context(serve_process(
                    command(port), lambda port=port: port, what=what, log=log, env=env,
                    startup_timeout_s=startup_timeout_s, api_key=api_key, model=model))
                break
            except PortTaken as e:
                if attempt == attempts:
                    raise
                print(f"{what}: port {port} was taken before the server bound it "
                      f"({str(e).splitlines()[0]}); another port", file=sys.stderr, flush=True)
        yield base_url


def _require_model_dir(model_dir: Path) -> None:
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"judge model {model_dir}: not a local HF model directory (no config.json)")


def _read_port(port_file: Path) -> int | None:
    return int(port_file.read_text().strip()) if port_file.exists() else None  # written atomically


@contextlib.contextmanager
def local_server(model_dir: str | Path, *, max_new_tokens_cap: int | None = None,
                 log_path: str | Path | None = None, startup_timeout_s: float = 600.0,
                 extra_args: list[str] | None = None, api_key: str | None = None,
                 served_model_name: str | None = None) -> Iterator[str]:
    """Serve ``model_dir`` with this module's server on a free 127.0.0.1 port for the duration of
    the block; yield its base URL (see :func:`serve_process`).

    The workflow's judge jobs wrap their judging in this so the server lives exactly as long as the
    job. The server binds port 0 and writes the port it got to a file: no port race. With
    ``api_key`` it answers only requests that carry it (the key goes through its environment);
    ``served_model_name``: the name it lists (default: the directory's name).
    """
    import radis

    _require_model_dir(Path(model_dir))
    workdir = Path(tempfile.mkdtemp(prefix="radis-judge-"))
    port_file = workdir / "port"
    cmd = [sys.executable, "-m", "radis.judges.server", "--model", str(model_dir),
           "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)]
    if max_new_tokens_cap:
        cmd += ["--max-new-tokens-cap", str(max_new_tokens_cap)]
    if served_model_name:
        cmd += ["--served-model-name", served_model_name]
    cmd += extra_args or []
    env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV} | ({API_KEY_ENV: api_key} if api_key else {})
    src = str(Path(radis.__file__).resolve().parents[1])  # the child imports the same radis
    env["PYTHONPATH"] = os.pathsep.join([src] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    try:
        with serve_process(cmd, lambda: _read_port(port_file), what=f"judge server for {model_dir}",
                           log=Path(log_path) if log_path else workdir / "server.log", env=env,
                           startup_timeout_s=startup_timeout_s, api_key=api_key,
                           model=served_model_name or Path(model_dir).name) as base_url:
            yield base_url
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def vllm_command(model_dir: str | Path, served_model_name: str, port: int, *, tensor_parallel_size: int = 1,
                 max_model_len: int | None = None, build: str | None = "vllm") -> list[str]:
    """``vllm serve`` as a module of this interpreter (the vLLM environment's, where the judge job
    runs), whatever ``vllm`` script is on PATH. Requests name ``served_model_name`` (the judge's
    ``model``), which vLLM checks. The dtype is the builtin server's "auto" (bf16 on the paper's
    GPUs, float32 on CPUs) and the engine flags those of the host's vLLM ``build``
    (radis.device.vllm_engine_args: eager on CPU)."""
    from radis.device import vllm_cli_args, vllm_dtype, vllm_engine_args

    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
           "--served-model-name", served_model_name, "--host", "127.0.0.1", "--port", str(port),
           "--tensor-parallel-size", str(tensor_parallel_size), "--dtype", vllm_dtype(build),
           "--seed", "0", *vllm_cli_args(vllm_engine_args(tensor_parallel_size, build, in_process=False))]
    if max_model_len:
        cmd += ["--max-model-len", str(max_model_len)]
    return cmd


@contextlib.contextmanager
def vllm_server(model_dir: str | Path, served_model_name: str, *, judge_name: str, log_path: str | Path,
                tensor_parallel_size: int = 1, max_model_len: int | None = None,
                startup_timeout_s: float = 1200.0, api_key: str | None = None) -> Iterator[str]:
    """Serve ``model_dir`` with ``vllm serve`` for the duration of the block; yield its base URL.

    For judges on GPU hosts (``judges.<name>.server: vllm``): continuous batching answers the
    client's concurrent requests together, where the builtin server takes one at a time. The
    startup allowance is longer than the builtin one's: vLLM compiles and captures CUDA graphs.
    With ``api_key`` vLLM answers only requests that carry it: ``VLLM_API_KEY`` in its environment
    (what ``--api-key`` does, without the key on its command line or in its logged arguments). A
    port taken before vLLM binds it is retried on another (:func:`serve_on_free_port`).
    """
    from radis.device import vllm_build, vllm_environment

    _require_model_dir(Path(model_dir))
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            f"judges.{judge_name}.server is 'vllm' but {sys.executable} cannot import vllm: run this job in the "
            f"vLLM environment (envs/setup.sh builds it), or set judges.{judge_name}.server: builtin")
    build = vllm_build()

    def command(port: int) -> list[str]:
        return vllm_command(model_dir, served_model_name, port, tensor_parallel_size=tensor_parallel_size,
                            max_model_len=max_model_len, build=build)

    env = {**os.environ, **vllm_environment(tensor_parallel_size, build, os.environ, in_process=False)}
    env.pop("VLLM_API_KEY", None)
    if api_key:
        env["VLLM_API_KEY"] = api_key
    with serve_on_free_port(command, what=f"vllm serve for judge {judge_name} ({model_dir})", log=Path(log_path),
                            env=env, startup_timeout_s=startup_timeout_s, api_key=api_key,
                            model=served_model_name) as base_url:
        yield base_url


if __name__ == "__main__":
    main()
