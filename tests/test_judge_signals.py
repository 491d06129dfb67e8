"""A judge job stops on SIGTERM (issue 26 item 5): SLURM's preemption and time-limit signal, or
Snakemake stopping its jobs.

The real ``radis judge`` command (as workflow/rules/general.smk's rule judge_general runs it) in a
child process judges against tests/fake_openai.py made slow (every answer takes a minute), through
our judge client (MT-Bench, and AlpacaEval's annotator from alpaca_eval), or against the builtin
server on a tiny model. SIGTERM must stop it within seconds with status 143: the queued calls are
never sent, the judge key is at no time in a file under TMPDIR, and no served judge is left
running, not even after a SIGKILL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from radis.io import write_json, write_jsonl

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "workflow/resources/demo"
KEY_ENV = "RADIS_SIGTERM_TEST_KEY"
SENTINEL = "sk-radis-sigterm-sentinel-3b9e41"
#: every answer of the fake judge takes this long: a job that waits for its calls cannot stop in time
SLOW_S = 60.0
CONCURRENCY = 2
N_ITEMS = 20
#: how soon after SIGTERM the job must have exited
STOP_WITHIN_S = 10.0
#: the most a job may take to start and send its first calls (imports on a busy 2-core machine)
START_WITHIN_S = 180.0


def _mtbench(eval_dir: Path, data_dir: Path) -> int:
    """N_ITEMS two-turn writing questions (FastChat's single-v1 prompts need no reference answer);
    returns the number of judge requests."""
    shutil.copytree(DEMO / "mt_bench", data_dir / "mt_bench")
    write_jsonl(eval_dir / "mtbench.responses.jsonl", [
        {"question_id": 1000 + i, "category": "writing", "turns": [f"Write poem {i}.", f"Shorten poem {i}."],
         "answers": [f"Poem {i}.", f"Short poem {i}."], "n_tokens": [3, 3], "finished": [True, True]}
        for i in range(N_ITEMS)])
    return 2 * N_ITEMS


def _alpacaeval(eval_dir: Path, data_dir: Path) -> int:
    """N_ITEMS instructions with a reference output each; returns the number of judge requests."""
    reference = [{"dataset": "test", "instruction": f"Write poem {i}.", "output": f"Reference poem {i}.",
                  "generator": "text_davinci_003"} for i in range(N_ITEMS)]
    write_json(data_dir / "alpaca_eval/results/text_davinci_003/model_outputs.json", reference)
    write_jsonl(eval_dir / "alpacaeval.responses.jsonl",
                [{**r, "output": f"Poem {i}.", "generator": "model"} for i, r in enumerate(reference)])
    return N_ITEMS


BENCHMARKS: dict[str, tuple[Callable[[Path, Path], int], dict]] = {
    "mtbench": (_mtbench, {"judge_max_tokens": 16}),
    "alpacaeval": (_alpacaeval, {"annotator": "weighted_alpaca_eval_gpt4_turbo"}),
}


def _command(eval_dir: Path, data_dir: Path, cache: Path, judged: dict,
             judge_models: tuple[str, ...] = ()) -> list[str]:
    settings = {"device": "cpu", "judged": judged}
    return [sys.executable, "-m", "radis", "judge", "--eval-dir", str(eval_dir), "--data-dir", str(data_dir),
            "--cache-dir", str(cache), "--backbone", "b", "--method", "m", "--judge-model", *judge_models,
            "--settings", json.dumps(settings)]


def _environment(tmp: Path) -> dict[str, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    return {**os.environ, KEY_ENV: SENTINEL, "TMPDIR": str(tmp), "HF_HUB_OFFLINE": "1",
            "OPENAI_MAX_CONCURRENCY": str(CONCURRENCY)}


def _holding(root: Path, secret: str) -> list[str]:
    """The files under ``root`` whose bytes contain ``secret``."""
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and secret.encode() in path.read_bytes():
                found.append(str(path))
        except OSError:  # removed while we looked
            continue
    return found


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"


def _wait_until(condition: Callable[[], bool], proc: subprocess.Popen, log: Path, what: str,
                every: Callable[[], None] = lambda: None) -> None:
    deadline = time.monotonic() + START_WITHIN_S
    while not condition():
        every()
        if proc.poll() is not None:
            pytest.fail(f"the judge job exited ({proc.returncode}) before {what}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} after {START_WITHIN_S:.0f} s:\n{_tail(log)}")
        time.sleep(0.1)


def _signal_and_wait(proc: subprocess.Popen, signum: int = signal.SIGTERM) -> tuple[int | None, float]:
    """Send ``signum``; the exit status (None: still running after 3× the allowance, then killed)
    and how long the job took to exit."""
    proc.send_signal(signum)
    sent = time.monotonic()
    try:
        code = proc.wait(timeout=3 * STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = None
    return code, time.monotonic() - sent


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux: /proc/PID/task/*/children)."""
    found, todo = set(), [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            todo += [c for c in children if c not in found]
            found.update(children)
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its new parent, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.parametrize("benchmark", list(BENCHMARKS))
def test_sigterm_stops_a_judge_job_within_seconds_and_sends_no_queued_call(tmp_path, benchmark):
    make, section = BENCHMARKS[benchmark]
    eval_dir, data_dir, tmp = tmp_path / "eval", tmp_path / "data", tmp_path / "tmp"
    n_requests = make(eval_dir, data_dir)
    env, log = _environment(tmp), tmp_path / "job.log"
    key_files: list[str] = []
    with FakeOpenAI(default_delay_s=SLOW_S) as fake:
        judge = {"model": "fake-judge", "base_url": fake.base_url, "api_key_env": KEY_ENV,
                 "max_concurrency": CONCURRENCY, "max_retries": 0, "timeout_s": 10 * SLOW_S}
        judged = {benchmark: {"judge_name": "fake", "judge": judge, "section": section,
                              "responses": benchmark}}
        with open(log, "wb") as out:
            proc = subprocess.Popen(_command(eval_dir, data_dir, tmp_path / "cache", judged), env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        try:
            # the key is never in a file under TMPDIR, while the calls are made either
            _wait_until(lambda: fake.requests >= CONCURRENCY, proc, log, f"{CONCURRENCY} calls in flight",
                        every=lambda: key_files.extend(_holding(tmp, SENTINEL)))
            time.sleep(0.5)
            key_files += _holding(tmp, SENTINEL)
            code, took = _signal_and_wait(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        time.sleep(1.0)  # a call the job still sent on its way out would have arrived by now
        sent = fake.requests
    problems = []  # all of them at once
    if code != 143:
        problems.append(f"exit status {code} (None: still running {3 * STOP_WITHIN_S:.0f} s after SIGTERM)")
    if took >= STOP_WITHIN_S:
        problems.append(f"the job took {took:.1f} s to stop")
    if not sent <= CONCURRENCY < n_requests:
        problems.append(f"{sent} calls sent of {n_requests} queued")
    if key_files:
        problems.append(f"the judge key was written to {sorted(set(key_files))}")
    if _holding(tmp, SENTINEL) or list(tmp.glob("radis-*")):
        problems.append(f"left in TMPDIR: {sorted(map(str, tmp.rglob('*')))}")
    if SENTINEL in log.read_text(errors="replace"):
        problems.append("the judge key is in the job's log")
    assert not problems, "\n".join(problems) + f"\n{_tail(log)}"
    print(f"{benchmark}: stopped {took:.1f} s after SIGTERM with 143; {sent} of {n_requests} calls sent")


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory) -> Path:
    from tiny_lm import build_tiny_lm

    return build_tiny_lm(tmp_path_factory.mktemp("judge") / "tiny")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_served_judge_outlives_its_job(tmp_path, tiny_judge, signum):
    """The builtin server of a served judge stops with the job: on SIGTERM before the job exits
    (143), and on SIGKILL, which runs no cleanup at all, because the server is told of its job's
    death (Linux: PR_SET_PDEATHSIG)."""
    eval_dir, data_dir, tmp = tmp_path / "eval", tmp_path / "data", tmp_path / "tmp"
    _mtbench(eval_dir, data_dir)
    judge = {"serve": "tiny", "model": "tiny", "api_key_env": None, "server": "builtin", "max_concurrency": 1}
    judged = {"mtbench": {"judge_name": "served", "judge": judge, "section": {"judge_max_tokens": 64},
                          "responses": "mtbench"}}
    server_log, log = eval_dir / "judge.work/served-server.log", tmp_path / "job.log"
    with open(log, "wb") as out:
        cmd = _command(eval_dir, data_dir, tmp_path / "cache", judged, (f"tiny={tiny_judge}",))
        proc = subprocess.Popen(cmd, env=_environment(tmp), stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until(lambda: server_log.exists() and "POST /v1/chat/completions" in server_log.read_text(),
                    proc, log, "judge call answered by the served judge")
        children = _descendants(proc.pid)
        assert children, "the served judge runs below the job"
        code, took = _signal_and_wait(proc, signum)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + STOP_WITHIN_S
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [c for c in children if _alive(c)]
    for pid in left:  # leave nothing behind for the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"served judge process(es) {left} outlived the job"
    if signum == signal.SIGTERM:
        assert code == 143 and took < STOP_WITHIN_S, f"exit status {code} after {took:.1f} s:\n{_tail(log)}"
