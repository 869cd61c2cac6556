"""`make serve`: use the Prefect server in PREFECT_API_URL, or start one on 127.0.0.1, then serve.

Stops cleanly on Ctrl-C / SIGTERM: the serving process first (it pauses its deployments through the
API), then the server it started.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from typing import Callable

HOST = "127.0.0.1"


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def free_port(preferred: int = 4200) -> int:
    with socket.socket() as s:
        if s.connect_ex((HOST, preferred)) != 0:
            return preferred
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the parent dies (even by SIGKILL)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_server(port: int, timeout: float = 120, ui: bool = False, private: bool = False,
                 while_starting: Callable[[], object] | None = None) -> tuple[subprocess.Popen, str]:
    """Start `prefect server start` on loopback and wait until it answers.

    ``private``: a server for this process alone (the CLI's flows), quiet, that dies with it.
    ``while_starting``: work to do in this thread while the server boots (10-25 s), e.g. train the first
    network; the server is stopped if it raises. (Started from this thread: Linux's parent-death signal
    follows the thread that forked the server, so it must be one that lives as long as the process.)"""
    api_url = f"http://{HOST}:{port}/api"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)] + ([] if ui else ["--no-ui"])
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if private else {}
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", NEURONINFO_SERVER_OWNER=str(os.getpid()))
    server = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent if private and sys.platform == "linux" else None, **quiet)
    if while_starting is not None:
        try:
            while_starting()
        except BaseException:
            stop(server)
            raise
    deadline = time.monotonic() + timeout  # after the work beside it: a long first training is not the server's time
    while not healthy(api_url):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            hint = "run `prefect server start` yourself to see why" if private else "see its output above"
            raise SystemExit(f"the Prefect server did not start on {api_url}; {hint}")
        time.sleep(0.5)
    return server, api_url


@contextmanager
def private_server(while_starting: Callable[[], object] | None = None):
    """A Prefect server for this process's flows when PREFECT_API_URL names none: it never outlives this
    process (stopped on exit, and killed by the kernel if this process is killed). ``while_starting`` runs
    while it boots (see ``start_server``)."""
    if os.environ.get("PREFECT_API_URL"):
        if while_starting is not None:
            while_starting()
        yield os.environ["PREFECT_API_URL"]
        return
    server, api_url = start_server(free_port(4300), private=True, while_starting=while_starting)
    os.environ["PREFECT_API_URL"] = api_url
    try:
        yield api_url
    finally:
        _drain_prefect_workers()  # logs and events still queued go out before their server stops
        os.environ.pop("PREFECT_API_URL", None)
        stop(server)


def _drain_prefect_workers(timeout: float = 5) -> None:
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout)
        except Exception:  # noqa: BLE001 - a worker that never started has nothing to send
            pass


def stop(process: subprocess.Popen | None, timeout: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def main(argv: list[str]) -> int:
    server, api_url = None, os.environ.get("PREFECT_API_URL")
    if not api_url or not healthy(api_url):
        server, api_url = start_server(free_port(), ui=True)
        print(f"started a Prefect server: PREFECT_API_URL={api_url}; dashboard: {api_url[:-len('/api')]}", flush=True)
    env = dict(os.environ, PREFECT_API_URL=api_url)
    serving = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", *argv], env=env)
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while not stopping and serving.poll() is None:
            time.sleep(0.5)
    finally:
        stop(serving)  # serve before server: it pauses its deployments through the API
        stop(server)
    return serving.returncode or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
