"""Bentos built with the onnx backends, served by `bentoml serve`: the float export answers as the
torch bundle, the int8 one as its own file does in process, and a failed check builds nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from serving.package import build_bento, save_model
from serving.service import MAX_ITEMS
from tagger.data import join_text, split
from tagger.onnx_backend import (
    INT8_FILE,
    INT8_MAX_F1_DROP,
    ONNX_FILE,
    PARITY_TOLERANCE,
    ParityError,
    QuantizationError,
    load_classifier,
)
from tests.serving.conftest import REQUIREMENTS, serve

pytestmark = [pytest.mark.serving, pytest.mark.slow]


@pytest.fixture(scope="module")
def test_df(projects) -> pd.DataFrame:
    """The test split of the rows the session's classifier trained on (conftest's split)."""
    return split(projects, val_size=0.1, test_size=0.2, seed=11)[2]


@pytest.fixture(scope="module")
def test_projects(test_df) -> list[dict[str, str]]:
    return [
        {"title": t, "description": d}
        for t, d in zip(test_df["title"], test_df["description"].fillna(""), strict=True)
    ]


def _served_probabilities(url: str, chunk: list[dict], labels: list[str]) -> np.ndarray:
    response = requests.post(f"{url}/predict", json={"projects": chunk}, timeout=60)
    assert response.status_code == 200, response.text
    return np.array([[a["probabilities"][label] for label in labels] for a in response.json()])


@pytest.fixture(scope="module")
def onnx_model(classifier):
    return save_model(classifier, zenml_version=8, backend="onnx")


@pytest.fixture(scope="module")
def onnx_server(onnx_model, tmp_path_factory) -> str:
    bento = build_bento(onnx_model, [*REQUIREMENTS, "onnxruntime==1.31.1"])
    with serve(bento, tmp_path_factory.mktemp("bento-onnx") / "serve.log") as served:
        yield served.url


def test_the_model_holds_the_checked_export_beside_the_bundle(onnx_model):
    files = {p.name for p in Path(onnx_model.path).iterdir()}
    assert {ONNX_FILE, "model.safetensors", "tagger.json"} <= files
    assert onnx_model.info.labels["backend"] == "onnx"
    parity = onnx_model.info.metadata["onnx_parity"]
    assert parity["argmax_mismatches"] == 0 and parity["max_abs_diff"] <= PARITY_TOLERANCE


def test_served_onnx_answers_equal_the_torch_bundle_in_process(
    onnx_server, classifier, test_projects
):
    for start in range(0, len(test_projects), MAX_ITEMS):
        chunk = test_projects[start : start + MAX_ITEMS]
        texts = [join_text(p["title"], p["description"]) for p in chunk]
        expected = classifier.predict_proba(texts)
        served = _served_probabilities(onnx_server, chunk, list(classifier.labels))
        assert (served.argmax(axis=1) == expected.argmax(axis=1)).all()
        assert np.abs(served - expected).max() <= PARITY_TOLERANCE


def test_metadata_names_the_backend_and_the_bundles_shape(onnx_server, classifier):
    info = requests.post(f"{onnx_server}/metadata", json={}, timeout=30).json()
    assert info["backend"] == "onnx" and info["zenml_model_version"] == "8"
    assert info["lexical_weight"] == classifier.info.lexical_weight
    assert info["seed_ensemble_members"] == classifier.info.members


@pytest.fixture(scope="module")
def int8_model(classifier, test_df):
    return save_model(classifier, zenml_version=10, backend="onnx-int8", labelled=test_df)


@pytest.fixture(scope="module")
def int8_server(int8_model, tmp_path_factory) -> str:
    bento = build_bento(int8_model, [*REQUIREMENTS, "onnxruntime==1.31.1"])
    with serve(bento, tmp_path_factory.mktemp("bento-int8") / "serve.log") as served:
        yield served.url


def test_the_int8_model_holds_both_exports_and_its_f1_check(int8_model, test_df):
    path = Path(int8_model.path)
    assert {ONNX_FILE, INT8_FILE, "model.safetensors"} <= {p.name for p in path.iterdir()}
    assert (path / INT8_FILE).stat().st_size < (path / ONNX_FILE).stat().st_size / 2
    check = int8_model.info.metadata["int8_check"]
    assert check["rows"] == len(test_df)
    assert check["f1_float"] - check["f1_int8"] <= INT8_MAX_F1_DROP


def test_served_int8_answers_equal_its_file_in_process(int8_server, int8_model, test_projects):
    """Each request is one batch on the server and in process, so the activations' int8 scales
    are the same and so are the answers; the torch bundle's may differ by tenths."""
    int8 = load_classifier(int8_model.path, "onnx-int8")
    for start in range(0, len(test_projects), MAX_ITEMS):
        chunk = test_projects[start : start + MAX_ITEMS]
        expected = int8.predict_proba([join_text(p["title"], p["description"]) for p in chunk])
        served = _served_probabilities(int8_server, chunk, list(int8.labels))
        assert np.abs(served - expected).max() <= PARITY_TOLERANCE
    info = requests.post(f"{int8_server}/metadata", json={}, timeout=30).json()
    assert info["backend"] == "onnx-int8" and info["zenml_model_version"] == "10"


def test_an_export_that_fails_the_check_leaves_no_model(classifier, test_df, monkeypatch):
    import bentoml

    from tagger import onnx_backend

    before = {m.tag for m in bentoml.models.list("project-tagger")}
    monkeypatch.setattr(onnx_backend, "PARITY_TOLERANCE", -1.0)
    with pytest.raises(ParityError, match="max probability difference"):
        save_model(classifier, zenml_version=9, backend="onnx", labelled=test_df.head(1))
    assert {m.tag for m in bentoml.models.list("project-tagger")} == before


def test_an_int8_model_that_loses_f1_leaves_no_model(classifier, test_df, monkeypatch):
    import bentoml

    from tagger import onnx_backend

    before = {m.tag for m in bentoml.models.list("project-tagger")}
    monkeypatch.setattr(onnx_backend, "INT8_MAX_F1_DROP", -1.0)
    with pytest.raises(QuantizationError, match="serve the onnx backend"):
        save_model(classifier, zenml_version=11, backend="onnx-int8", labelled=test_df)
    assert {m.tag for m in bentoml.models.list("project-tagger")} == before
