"""A Bento built with the onnx backend, served by `bentoml serve`, answers as the torch bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import requests

from serving.package import build_bento, save_model
from serving.service import MAX_ITEMS
from tagger.data import join_text, split
from tagger.onnx_backend import ONNX_FILE, PARITY_TOLERANCE, ParityError
from tests.serving.conftest import REQUIREMENTS, serve

pytestmark = [pytest.mark.serving, pytest.mark.slow]


@pytest.fixture(scope="module")
def test_projects(projects) -> list[dict[str, str]]:
    _, _, test_df = split(projects, val_size=0.1, test_size=0.2, seed=11)
    return [
        {"title": t, "description": d}
        for t, d in zip(test_df["title"], test_df["description"].fillna(""), strict=True)
    ]


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
        response = requests.post(f"{onnx_server}/predict", json={"projects": chunk}, timeout=60)
        assert response.status_code == 200, response.text
        texts = [join_text(p["title"], p["description"]) for p in chunk]
        expected = classifier.predict_proba(texts)
        served = np.array(
            [[a["probabilities"][label] for label in classifier.labels] for a in response.json()]
        )
        assert [a["tag"] for a in response.json()] == classifier.predict(texts)
        assert np.abs(served - expected).max() <= PARITY_TOLERANCE


def test_metadata_names_the_backend(onnx_server):
    info = requests.post(f"{onnx_server}/metadata", json={}, timeout=30).json()
    assert info["backend"] == "onnx" and info["zenml_model_version"] == "8"


def test_an_export_that_fails_the_check_leaves_no_model(classifier, monkeypatch):
    import bentoml

    from tagger import onnx_backend

    before = {m.tag for m in bentoml.models.list("project-tagger")}
    monkeypatch.setattr(onnx_backend, "PARITY_TOLERANCE", -1.0)
    with pytest.raises(ParityError, match="max probability difference"):
        save_model(classifier, zenml_version=9, backend="onnx", texts=["YOLO boxes"])
    assert {m.tag for m in bentoml.models.list("project-tagger")} == before
