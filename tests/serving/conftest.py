"""One real Bento, built from a tiny trained bundle and served by `bentoml serve`, for every
serving test module of the session (starting one takes most of a test module's time)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bentoml
import pytest

from serving.package import build_bento, save_model
from stacks.sandbox import ServedBento, serve_bento
from tagger.config import TrainConfig
from tagger.data import split
from tagger.distributed import train_on_frames
from tagger.model import TextClassifier
from tests.helpers import recipe_shape

REQUIREMENTS = ["torch==2.13.0", "transformers==5.23.0", "pandas==3.1.1", "scikit-learn"]
# short, so the test of a body that never arrives does not wait the default 10 s
BODY_TIMEOUT_S = 2


@pytest.fixture(scope="session")
def classifier(projects, tiny_params) -> TextClassifier:
    """The bundle configs/train.yaml's recipe makes (a hybrid; a seed ensemble when it asks for
    one), on the tiny model: the served answers mix every model the bundle holds."""
    train_df, val_df, _ = split(projects, val_size=0.1, test_size=0.2, seed=11)
    config = TrainConfig.model_validate({**tiny_params, **recipe_shape()})
    return train_on_frames(config, train_df, val_df).classifier


@contextmanager
def serve(bento: bentoml.Bento, log: Path) -> Iterator[ServedBento]:
    """`bentoml serve` of `bento` on a free port until the block ends."""
    env = {**os.environ, "TAGGER_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)}
    with serve_bento(str(bento.tag), log, env) as served:
        yield served


@pytest.fixture(scope="session")
def served(classifier: TextClassifier, tmp_path_factory: pytest.TempPathFactory):
    bento = build_bento(save_model(classifier, zenml_version=7), REQUIREMENTS)
    with serve(bento, tmp_path_factory.mktemp("bento") / "serve.log") as served:
        yield served


@pytest.fixture(scope="session")
def server(served: ServedBento) -> str:
    return served.url


@pytest.fixture(scope="session")
def body_timeout_s() -> float:
    return BODY_TIMEOUT_S
