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


def start_server(port: int, timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """Start `prefect server start` on loopback and wait until it answers."""
    api_url = f"http://{HOST}:{port}/api"
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port), "--no-ui"])
    deadline = time.monotonic() + timeout
    while not healthy(api_url):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit(f"the Prefect server did not start on {api_url}; see its output above")
        time.sleep(0.5)
    return server, api_url


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
        server, api_url = start_server(free_port())
        print(f"started a Prefect server: PREFECT_API_URL={api_url}", flush=True)
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
