"""Shared by several test modules: the CLI as a user runs it, the training pipeline's steps."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

TRAINING_STEPS = (
    "load_data",
    "validate_data",
    "split_data",
    "train_model",
    "evaluate_model",
    "record_model_version",
    "promote_model",
)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python run.py ...` in a real process, with this session's (throw-away) environment."""
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )


@dataclass(frozen=True)
class RayHead:
    address: str  # GCS host:port, for ray.init
    dashboard: str  # http://host:port, for the Jobs and state APIs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def start_ray_head(log_dir: Path, num_cpus: int = 4) -> Iterator[RayHead]:
    """`ray start --head --block` in its own process group; ended (with its workers) on exit.

    `ray stop` would end every Ray cluster on the machine, so the head is stopped by signal.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    port, dashboard_port = free_port(), free_port()
    ray = Path(sys.executable).with_name("ray")
    command = [
        str(ray), "start", "--head", "--block", "--disable-usage-stats",
        f"--port={port}", f"--num-cpus={num_cpus}",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
    ]  # fmt: skip
    with (log_dir / "head.log").open("w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    head = RayHead(f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard_port}")
    try:
        _wait_for(f"{head.dashboard}/api/version", process, log_dir / "head.log")
        yield head
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ray head exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"ray head not ready after {timeout}s:\n{log.read_text()[-3000:]}")
