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
def background_server(
    command: list,
    ready_url: str,
    log: Path,
    what: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
    stop_grace_s: float = 10,
) -> Iterator[subprocess.Popen]:
    """A server in its own process group, its output in `log` (a file, never an unread pipe that
    would fill up and block it), from the moment `ready_url` answers 200 until the block ends;
    then the group gets SIGTERM, and SIGKILL after `stop_grace_s`.

    Not ready in `timeout`, or exited first: a RuntimeError naming `what`, with the log's end.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        try:
            wait_for_http(ready_url, timeout, process, what)
        except (RuntimeError, TimeoutError) as exc:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{exc}\n{tail}") from exc
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=stop_grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass(frozen=True)
class ServedBento:
    url: str  # http://127.0.0.1:PORT
    pid: int  # of `bentoml serve`, the parent of its workers
    log: Path  # the server's stdout and stderr


@contextmanager
def serve_bento(
    tag: str, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[ServedBento]:
    """`bentoml serve TAG` on a free port, ready (`/readyz`) until the block ends."""
    port = free_port()
    bentoml = Path(sys.executable).with_name("bentoml")
    command = [str(bentoml), "serve", tag, "--port", str(port), "--host", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}"
    env = os.environ.copy() if env is None else env
    with background_server(
        command, f"{url}/readyz", log, f"bentoml serve {tag}", env, cwd, stop_grace_s=60
    ) as process:
        yield ServedBento(url, process.pid, log)


@contextmanager
def start_ray_head(
    log_dir: Path, num_cpus: int = 4, object_store_mb: int | None = None
) -> Iterator[RayHead]:
    """`ray start --head --block` in its own process group; ended (with its workers) on exit.
    `object_store_mb` caps the shared-memory object store (Ray's default: 30% of the RAM).

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
    if object_store_mb is not None:
        command.append(f"--object-store-memory={object_store_mb * 2**20}")
    head = RayHead(f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard_port}")
    ready = f"{head.dashboard}/api/version"
    with background_server(command, ready, log_dir / "head.log", "ray head", timeout=120):
        yield head
