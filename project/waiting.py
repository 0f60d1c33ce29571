"""One way to wait for something to come up (a server, a Ray head) or to go away (a port)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    process: subprocess.Popen | None = None,
    interval: float = 0.5,
) -> None:
    """Poll `condition` until it holds; give up early when `process`, the thing awaited, exits."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with code {process.returncode}")
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def answers_ok(url: str) -> Callable[[], bool]:
    """True once `url` answers 200 (BentoML's `/readyz`, Ray's `/api/version`)."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    return check


def port_is_free(port: int, host: str = "127.0.0.1") -> Callable[[], bool]:
    def check() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex((host, port)) != 0

    return check


def wait_for_http(
    url: str, timeout: float, process: subprocess.Popen | None = None, what: str = ""
) -> None:
    wait_until(answers_ok(url), timeout, what or url, process, interval=1.0)
