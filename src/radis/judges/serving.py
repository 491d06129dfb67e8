"""Served judges: a judging job starts its judge model's server (the builtin one,
radis.judges.server, or ``vllm serve``), waits until it answers, and stops it, whatever ends the job.

A served judge is private to the job that starts it (radis.evaluate.general.judge_endpoint): it
listens on 127.0.0.1 only and asks for a random key of that job (``Authorization: Bearer``; 401
without it), which reaches the server through its environment (radis.judges.server.API_KEY_ENV,
vLLM's ``VLLM_API_KEY``), never its command line, which every user of the node can read and vLLM
logs. Readiness means the server answering is the one started: it serves the judge's model name and
takes this key and no other (:func:`_identify`); another server on the port (it took the port
between its choice and the bind, or shares it: vLLM binds with SO_REUSEPORT) is never joined, the
server is started again on another port (:func:`serve_on_free_port`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from radis.io import free_port
from radis.settings import ConfigError

from radis.judges.server import API_KEY_ENV

#: servers :func:`serve_on_free_port` starts, each on a newly chosen port, before it gives up
PORT_ATTEMPTS = 3
#: more looks at a server found ready, each on a new connection: a port that vLLM's SO_REUSEPORT
#: bind shares with another server spreads connections over both
CONFIRM_PROBES = 3
#: how a server says it could not bind its port (Python's OSError, uvicorn, vLLM)
_ADDRESS_IN_USE = re.compile(r"address already in use|errno 98|eaddrinuse|port \d+ is (?:already )?in use", re.I)


class PortTaken(RuntimeError):
    """Another server answers on the port chosen for ours, or ours could not bind it."""


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
