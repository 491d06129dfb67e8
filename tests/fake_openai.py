"""A scripted, fault-injecting OpenAI-compatible server: a real stdlib HTTP server on 127.0.0.1.

Tests of the judge client talk to this over real sockets (no mocked HTTP layer). Each POST takes
the action a ``script`` gives its request, else the next action from a schedule (an HTTP error, a
429 with Retry-After, a slow answer, a malformed body, a well-formed answer that is no judgement:
no content, a refusal, a content filter's stop, a cut-off text, no logprobs) and otherwise answers a completion of its own request: its id is a digest of the request's
messages (:func:`request_id`) and its text echoes the last message (or is ``reply(body)``), so an
answer stored against the wrong request shows. The server counts requests, the most requests in flight at
once, the Authorization headers it saw, the faults it served by kind, and the requests it answered
well (``answered``), so a test can check that every item was judged exactly once.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Action:
    """What to do with one request: answer ``status`` (200 = success) after ``delay_s`` seconds."""

    status: int = 200
    delay_s: float = 0.0
    retry_after: str | None = None
    #: a malformed answer with status 200: ``"not-json"`` (a body that does not parse) or
    #: ``"no-choices"`` (valid JSON without the ``choices`` list)
    malformed: str | None = None
    #: a well-formed 200 answer that judges nothing (:data:`BAD_ANSWERS`): ``"null-content"``,
    #: ``"refusal"`` (no content, a ``refusal``), ``"content-filter"`` (finish_reason content_filter),
    #: ``"length"`` (finish_reason length, the text cut before its ``[[``), ``"no-logprobs"``
    answer: str | None = None
    #: names a fault the server cannot see as one (e.g. "timeout" for a delay past the client's timeout)
    label: str | None = None

    @property
    def fault(self) -> str | None:
        """The kind of fault this action injects (None: a well-formed, timely answer)."""
        return self.label or (str(self.status) if self.status != 200 else self.malformed or self.answer)


BAD_ANSWERS = ("null-content", "refusal", "content-filter", "length", "no-logprobs")
REFUSAL = "I'm sorry, but I can't help with that."


def spoil(payload: dict, answer: str) -> None:
    """Make a good completion ``payload`` the bad answer ``answer`` (:data:`BAD_ANSWERS`), in place."""
    choice = payload["choices"][0]
    message = choice["message"]
    if answer == "null-content":
        message["content"] = None
    elif answer == "refusal":
        message.update(content=None, refusal=REFUSAL)
    elif answer == "content-filter":
        message["content"] = ""
        choice["finish_reason"] = "content_filter"
    elif answer == "length":
        message["content"] = (message["content"] or "").split("[[")[0]
        choice["finish_reason"] = "length"
    elif answer == "no-logprobs":
        choice["logprobs"] = None
    else:
        raise ValueError(f"unknown bad answer {answer!r} (known: {', '.join(BAD_ANSWERS)})")


def logprobs_of(alternatives: dict[str, float]) -> dict:
    """OpenAI's ``choices[0].logprobs`` for a one-token answer: the most likely alternative is the token."""
    tops = [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())}
            for t, p in sorted(alternatives.items(), key=lambda kv: -kv[1])]
    return {"content": [{**tops[0], "top_logprobs": tops}], "refusal": None}


def request_id(body: dict) -> str:
    """The id of the fake's answer to a request: a digest of its messages (the answer names its request)."""
    blob = json.dumps(body.get("messages"), sort_keys=True, ensure_ascii=False)
    return "chatcmpl-fake-" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def echo_completion(body: dict) -> dict:
    last = body["messages"][-1]["content"]
    return {
        "id": request_id(body), "object": "chat.completion", "created": 0, "model": body.get("model", "fake"),
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": f"echo: {last}"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }


class FakeOpenAI:
    """``with FakeOpenAI(schedule, default_delay_s=...) as fake:`` then ``fake.base_url``."""

    def __init__(self, schedule: list[Action] | None = None, default_delay_s: float = 0.0,
                 reply: Callable[[dict], str] | None = None,
                 top_logprobs: Callable[[dict], dict[str, float]] | None = None,
                 script: Callable[[dict], Action | None] | None = None):
        self.schedule = list(schedule or [])
        #: the action for a request, by its body (None: the schedule's next, else the default)
        self.script = script
        self.default_delay_s = default_delay_s
        #: the text of a successful answer (default: "echo: <last message>")
        self.reply = reply
        #: a one-token answer's alternatives and their probabilities (default: no logprobs)
        self.top_logprobs = top_logprobs
        self.requests = 0
        #: bodies of the requests answered with a well-formed completion (200), in order
        self.answered: list[dict] = []
        #: faults served, by kind ("429", "500", "timeout", "not-json", ...)
        self.faults: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth_headers: list[str] = []
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, body: dict) -> Action:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.bodies.append(body)
            action = self.script(body) if self.script is not None else None
            if action is None:
                action = self.schedule.pop(0) if self.schedule else Action(delay_s=self.default_delay_s)
            if action.fault is not None:
                self.faults[action.fault] = self.faults.get(action.fault, 0) + 1
            return action

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.auth_headers.append(self.headers.get("Authorization", ""))
                action = fake._next(body)
                try:
                    time.sleep(action.delay_s)
                    if action.status != 200:
                        payload = {"error": {"message": f"scripted {action.status}", "type": "server_error"}}
                    elif action.malformed == "no-choices":
                        payload = {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
                                   "model": body.get("model", "fake")}
                    else:
                        payload = echo_completion(body)
                        if fake.reply is not None:
                            payload["choices"][0]["message"]["content"] = fake.reply(body)
                        if fake.top_logprobs is not None:
                            logprobs = logprobs_of(fake.top_logprobs(body))
                            payload["choices"][0]["logprobs"] = logprobs
                            payload["choices"][0]["message"]["content"] = logprobs["content"][0]["token"]
                        if action.answer is not None:
                            spoil(payload, action.answer)
                    blob = (b'{"choices": [{"mess' if action.malformed == "not-json"
                            else json.dumps(payload).encode())
                    self.send_response(action.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(blob)))
                    if action.retry_after is not None:
                        self.send_header("Retry-After", action.retry_after)
                    self.end_headers()
                    self.wfile.write(blob)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout) before we answered
                else:
                    if action.fault is None:
                        with fake._lock:
                            fake.answered.append(body)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

        return Handler
