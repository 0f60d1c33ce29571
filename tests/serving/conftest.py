"""One real Bento, built from a tiny trained bundle and served by `bentoml serve`, for every
serving test module of the session (starting one takes most of a test module's time)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bentoml
import pytest

from project.waiting import wait_for_http
from serving.package import build_bento, save_model
from stacks.sandbox import free_port
from tagger.config import TrainConfig
from tagger.data import split
from tagger.distributed import train_on_frames
from tagger.model import TextClassifier

BIN = Path(sys.executable).parent
REQUIREMENTS = ["torch==2.13.0", "transformers==5.23.0", "pandas==3.1.1", "scikit-learn"]
# short, so the test of a body that never arrives does not wait the default 10 s
BODY_TIMEOUT_S = 2


@dataclass(frozen=True)
class Served:
    url: str
    log: Path  # the server's stdout and stderr


@pytest.fixture(scope="session")
def classifier(projects, tiny_params) -> TextClassifier:
    train_df, val_df, _ = split(projects, val_size=0.1, test_size=0.2, seed=11)
    return train_on_frames(TrainConfig.model_validate(tiny_params), train_df, val_df).classifier


@contextmanager
def serve(bento: bentoml.Bento, log: Path) -> Iterator[Served]:
    """`bentoml serve` of `bento` on a free port until the block ends."""
    port = free_port()
    # the server logs every request: a file, never an unread pipe that would fill up and block it
    process = subprocess.Popen(
        [BIN / "bentoml", "serve", str(bento.tag), "--port", str(port), "--host", "127.0.0.1"],
        env={**os.environ, "TAGGER_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(f"{url}/readyz", 180, process)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"{exc}: {log.read_text()[-3000:]}")
        yield Served(url, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


@pytest.fixture(scope="session")
def served(classifier: TextClassifier, tmp_path_factory: pytest.TempPathFactory):
    bento = build_bento(save_model(classifier, zenml_version=7), REQUIREMENTS)
    with serve(bento, tmp_path_factory.mktemp("bento") / "serve.log") as served:
        yield served


@pytest.fixture(scope="session")
def server(served: Served) -> str:
    return served.url


@pytest.fixture(scope="session")
def body_timeout_s() -> float:
    return BODY_TIMEOUT_S
