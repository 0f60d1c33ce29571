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
    ValidationReportMaterializer,
)
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
