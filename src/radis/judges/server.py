"""A small OpenAI-compatible HTTP server for a local HF causal LM (the embedded default's judge).

Why our own: `transformers serve` (4.57) only streams SSE and returns no logprobs, while our judge
client wants plain JSON and alpaca_eval's weighted annotator needs the first token's
``top_logprobs``; judges scored by log-probabilities (radis.judges.logprobs) also need an assistant
message continued (``continue_final_message``, as vLLM's server takes it). vLLM's server does all
this on GPU hosts; this one covers CPU and tests.
It is stdlib ``http.server`` (no extra packages) with one model and one generation at a time.
A judge with ``server: vllm`` gets ``vllm serve`` instead; radis.judges.serving starts, waits for
and stops both. With :data:`API_KEY_ENV` in its environment it asks every request for that key
(``Authorization: Bearer``; 401 without it).

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
import hmac
import json
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from radis.settings import DecodingParams

DEFAULT_MAX_TOKENS = 512
MAX_TOP_LOGPROBS = 20
#: where the builtin server reads its API key from (unset: no key asked); :func:`local_server` sets it
#: in the server's environment only
API_KEY_ENV = "RADIS_JUDGE_SERVER_API_KEY"
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


if __name__ == "__main__":
    main()
