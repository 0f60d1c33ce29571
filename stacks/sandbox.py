"""Throw-away environments for tests and benchmarks: a ZenML (and BentoML) client with its own
stores, and a Ray head of their own.

No zenml import: set the environment before zenml is imported, or pass it to subprocesses.
The repository path points at an empty folder, so the client neither finds nor rewrites the
project's `.zen/config.yaml`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from project.waiting import wait_for_http


def throwaway_env(root: Path) -> dict[str, str]:
    (root / "repo").mkdir(parents=True, exist_ok=True)
    return {
        "ZENML_CONFIG_PATH": str(root / "zenml-config"),
        "ZENML_REPOSITORY_PATH": str(root / "repo"),
        "TAGGER_ARTIFACT_ROOT": str(root / "artifacts"),
        "BENTOML_HOME": str(root / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_AUTO_OPEN_DASHBOARD": "false",
        "ZENML_ENABLE_REPO_INIT_WARNINGS": "false",
        "TOKENIZERS_PARALLELISM": "false",
    }


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
        try:
            wait_for_http(f"{head.dashboard}/api/version", 120, process, "ray head")
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n{(log_dir / 'head.log').read_text()[-3000:]}") from exc
        yield head
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
