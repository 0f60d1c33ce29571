"""Throw-away environments for tests and benchmarks: a ZenML (and BentoML) client with its own
stores, and a Ray head of their own.

No zenml import: set the environment before zenml is imported, or pass it to subprocesses.
The repository path points at an empty folder, so the client neither finds nor rewrites the
project's `.zen/config.yaml`.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from project.paths import PROJECT_ROOT
from project.waiting import port_is_free, wait_for_http, wait_until


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
        if process.poll() is None:
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
    tag: str,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    python: Path | None = None,
) -> Iterator[ServedBento]:
    """`bentoml serve TAG` on a free port, ready (`/readyz`) until the block ends; `python`: the
    interpreter of another environment whose `bentoml` serves it (default: this one's)."""
    port = free_port()
    bentoml = Path(python or sys.executable).with_name("bentoml")
    command = [str(bentoml), "serve", tag, "--port", str(port), "--host", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}"
    env = os.environ.copy() if env is None else env
    with background_server(
        command, f"{url}/readyz", log, f"bentoml serve {tag}", env, cwd, stop_grace_s=60
    ) as process:
        yield ServedBento(url, process.pid, log)


@contextmanager
def start_ray_head(
    log_dir: Path,
    num_cpus: int = 4,
    object_store_mb: int | None = None,
    image: Sequence[Path] | None = None,
) -> Iterator[RayHead]:
    """`ray start --head --block` in its own process group; ended (with its workers) on exit.
    `object_store_mb` caps the shared-memory object store (Ray's default: 30% of the RAM).

    `ray stop` would end every Ray cluster on the machine, so the head is stopped by signal.
    With `image` the head is a stand-in for a remote cluster (`isolated_command`): it sees this
    interpreter's packages and the `image` paths, nothing of the client's files or environment.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    port, dashboard_port, agent_port = free_port(), free_port(), free_port()
    ray = Path(sys.executable).with_name("ray")
    # Ray's fixed defaults (agent 52365, client server 10001) are taken by any other head here
    command = [
        str(ray), "start", "--head", "--block", "--disable-usage-stats",
        f"--port={port}", f"--num-cpus={num_cpus}",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
        f"--dashboard-agent-listen-port={agent_port}", f"--ray-client-server-port={free_port()}",
    ]  # fmt: skip
    if object_store_mb is not None:
        command.append(f"--object-store-memory={object_store_mb * 2**20}")
    env, cwd = None, None
    if image is not None:
        command, env = isolated_command(command, image)
        cwd = Path("/")  # not the client's working directory
    head = RayHead(f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard_port}")
    ready = f"{head.dashboard}/api/version"
    with background_server(
        command, ready, log_dir / "head.log", "ray head", env, cwd, timeout=120
    ) as process:
        # the Jobs API submits through the agent, which comes up after the dashboard
        agent_listens = port_is_free(agent_port)
        wait_until(lambda: not agent_listens(), 120, "the Ray dashboard agent", process)
        yield head


def hidden_paths() -> list[Path]:
    """What a process on a remote cluster node could never read: this checkout, the checkout the
    venv lives in (its editable installs), the temp dir (test stores, configs, servers' files) and
    the home directory (the user's ZenML, MLflow and Ray config)."""
    paths = {PROJECT_ROOT, Path(sys.prefix).parent, Path(tempfile.gettempdir()), Path.home()}
    return sorted(p.resolve() for p in paths)


def isolated_command(command: list[str], image: Sequence[Path]) -> tuple[list[str], dict[str, str]]:
    """`command` in a mount namespace of its own where every `hidden_paths()` entry is an empty
    tmpfs, with this venv (the cluster image's packages) and `image` mounted back at their paths,
    and an environment that names nothing of the client's.

    Needs util-linux `unshare` and user namespaces (`unshare --mount --map-root-user true`).
    """
    venv = Path(sys.prefix).resolve()
    keep = [venv, Path(sys.base_prefix).resolve(), *(Path(p).resolve() for p in image)]
    hide: list[Path] = []
    for path in hidden_paths():
        if not any(path.is_relative_to(outer) for outer in hide):
            hide.append(path)
    lines = ["set -e", "mount -t tmpfs stash /srv"]
    for index, path in enumerate(keep):
        lines += [f"mkdir /srv/{index}", f"mount --bind {shlex.quote(str(path))} /srv/{index}"]
    lines += [f"mount -t tmpfs hidden {shlex.quote(str(path))}" for path in hide]
    for index, path in enumerate(keep):
        target = shlex.quote(str(path))
        lines += [f"mkdir -p {target}", f"mount --bind /srv/{index} {target}"]
    lines.append(f"exec {shlex.join(command)}")
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(Path.home()),
        "LANG": "C.UTF-8",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "ZENML_ANALYTICS_OPT_IN": "false",
        "BENTOML_DO_NOT_TRACK": "true",
    }
    return ["unshare", "--mount", "--map-root-user", "sh", "-c", "\n".join(lines)], env


class SteadyLoad:
    """`concurrency` threads that POST to `url` back to back, each on its own keep-alive
    connection, until the block ends: how many answers were 200 and how many failed (any other
    status, a refused or reset connection), the first few failures' reasons and the span from the
    first failure to the last. A thread whose request failed waits `retry_pause_s` (a client's
    back-off), so a closed port is not hammered by a busy loop.

    What a redeploy under load is judged by: every failure is a request a client lost.
    """

    def __init__(
        self, url: str, bodies: list[dict], concurrency: int = 8, retry_pause_s: float = 0.1
    ) -> None:
        import threading

        self.url, self.bodies, self.concurrency = url, bodies, concurrency
        self.retry_pause_s = retry_pause_s
        self.ok = self.failed = 0
        self.reasons: list[str] = []
        self.failing_since: float | None = None
        self.last_failure: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._worker, args=(i,)) for i in range(concurrency)
        ]

    def _worker(self, offset: int) -> None:
        import requests

        with requests.Session() as session:
            index = offset
            while not self._stop.is_set():
                body = self.bodies[index % len(self.bodies)]
                index += self.concurrency
                try:
                    response = session.post(self.url, json=body, timeout=60)
                    reason = (
                        None
                        if response.status_code == 200
                        else f"{response.status_code}: {response.text[:200]}"
                    )
                except requests.RequestException as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    if reason is None:
                        self.ok += 1
                        continue
                    self.failed += 1
                    self.last_failure = time.monotonic()
                    self.failing_since = self.failing_since or self.last_failure
                    if len(self.reasons) < 5:
                        self.reasons.append(reason)
                self._stop.wait(self.retry_pause_s)

    @property
    def outage_s(self) -> float:
        """From the first failed request to the last (0 when none failed)."""
        if self.failing_since is None or self.last_failure is None:
            return 0.0
        return self.last_failure - self.failing_since

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def write_tiny_bert(directory: Path, texts: list[str], max_positions: int = 128) -> Path:
    """A tiny, randomly initialised BERT with a word-level vocabulary of `texts`: a base model
    for tests and benchmarks that trains in seconds and needs no download."""
    import re

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=max_positions,
    )
    torch.manual_seed(0)
    directory.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
