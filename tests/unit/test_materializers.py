"""Materializers round-trip through the real local artifact store of the test stack."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from zenml.client import Client
from zenml.enums import VisualizationType
from zenml.io import fileio

from materializers import (
    ClassifierMaterializer,
    EvaluationReportMaterializer,
    PredictionSetMaterializer,
    ValidationReportMaterializer,
)
from tagger.batch import PARTS_DIR, PredictionSet
from tagger.data import LABELS, texts_of
from tagger.evaluation import EvaluationReport, score_predictions
from tagger.model import TextClassifier
from tagger.validation import ValidationReport, validate

pytestmark = pytest.mark.usefixtures("zenml_stack")


def _materializer(cls):
    """A materializer on a fresh artifact URI, created first as ZenML does before `save`."""
    store = Client().active_stack.artifact_store
    uri = os.path.join(store.path, "materializer-tests", uuid.uuid4().hex)
    fileio.makedirs(uri)
    return cls(uri=uri, artifact_store=store)


def _visualized_html(materializer, data) -> str:
    visualizations = materializer.save_visualizations(data)
    assert list(visualizations.values()) == [VisualizationType.HTML]
    (uri,) = visualizations
    assert uri.startswith(materializer.uri)
    return Path(uri).read_text()


def test_classifier_round_trip(tiny_model_dir: Path, projects: pd.DataFrame):
    classifier = TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=32)
    materializer = _materializer(ClassifierMaterializer)
    materializer.save(classifier)
    stored = {p.name for p in Path(materializer.uri, "bundle").iterdir()}
    assert {"model.safetensors", "tokenizer.json", "tagger.json"} <= stored
    assert not any(n.endswith((".pkl", ".bin", ".pt")) for n in stored)

    loaded = materializer.load(TextClassifier)
    texts = texts_of(projects.head(12))
    np.testing.assert_allclose(
        loaded.predict_proba(texts), classifier.predict_proba(texts), atol=1e-6
    )

    html = _visualized_html(materializer, classifier)
    assert "computer-vision" in html and "num_parameters" in html
    metadata = materializer.extract_metadata(classifier)
    assert metadata["labels"] == list(LABELS)
    assert metadata["num_parameters"] == sum(p.numel() for p in classifier.model.parameters())


def test_a_seed_ensemble_round_trips_with_every_member(
    tiny_model_dir: Path, projects: pd.DataFrame
):
    import torch

    members = []
    for seed in (1, 2):  # two fresh heads: different answers
        torch.manual_seed(seed)
        members.append(TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=32))
    ensemble = TextClassifier.averaging(members)
    materializer = _materializer(ClassifierMaterializer)
    materializer.save(ensemble)
    assert Path(materializer.uri, "bundle", "members", "1", "model.safetensors").exists()
    assert materializer.extract_metadata(ensemble)["seed_ensemble_members"] == 2

    loaded = materializer.load(TextClassifier)
    texts = texts_of(projects.head(12))
    assert loaded.info.members == 2
    np.testing.assert_allclose(
        loaded.predict_proba(texts), ensemble.predict_proba(texts), atol=1e-6
    )


def test_validation_report_round_trip(projects: pd.DataFrame):
    bad = projects.copy()
    bad.loc[0, "tag"] = "robotics"
    report = validate(bad)
    materializer = _materializer(ValidationReportMaterializer)
    materializer.save(report)
    assert json.loads(Path(materializer.uri, "report.json").read_text())["success"] is False
    assert materializer.load(ValidationReport) == report
    html = _visualized_html(materializer, report)
    assert "FAILED" in html and "robotics" in html
    assert materializer.extract_metadata(report)["failed_expectations"] == [
        f.describe() for f in report.failures
    ]


def test_evaluation_report_round_trip(projects: pd.DataFrame):
    sample = projects.head(40)
    predictions = ["natural-language-processing"] * len(sample)
    report = score_predictions(sample, predictions, LABELS)
    materializer = _materializer(EvaluationReportMaterializer)
    materializer.save(report)
    assert materializer.load(EvaluationReport) == report
    html = _visualized_html(materializer, report)
    assert "Confusion matrix" in html and "rgba(37,99,235" in html
    assert materializer.extract_metadata(report)["f1"] == round(report.overall.f1, 4)


def test_prediction_set_round_trip_reads_lazily(tmp_path: Path):
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(30)],
            "tag": ["mlops"] * 10 + ["computer-vision"] * 20,
            "confidence": np.linspace(0.3, 0.9, 30, dtype=np.float32),
        }
    )
    parts = tmp_path / "written" / PARTS_DIR
    parts.mkdir(parents=True)
    frame.iloc[:12].to_parquet(parts / "a.parquet", index=False)
    frame.iloc[12:].to_parquet(parts / "b.parquet", index=False)
    materializer = _materializer(PredictionSetMaterializer)
    materializer.save(PredictionSet(str(tmp_path / "written")))
    assert sorted(p.name for p in Path(materializer.uri, PARTS_DIR).iterdir()) == [
        "a.parquet",
        "b.parquet",
    ]

    loaded = materializer.load(PredictionSet)
    assert loaded.path == materializer.uri and len(loaded) == 30
    assert [len(b) for b in loaded.iter_batches(batch_size=8)] == [8, 4, 8, 8, 2]
    pd.testing.assert_frame_equal(loaded.to_pandas(), frame)
    assert materializer.extract_metadata(loaded) == {"rows": 30, "files": 2}
    html = _visualized_html(materializer, loaded)
    assert "30 predictions in 2 parquet files" in html and "computer-vision" in html
    # saved where it already lies (the Ray path writes into the artifact's URI): nothing copied
    materializer.save(loaded)
    assert len(loaded.files()) == 2
