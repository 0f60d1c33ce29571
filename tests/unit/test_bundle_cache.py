"""`registry.bundle_cache`: the local copy `run.py predict --title` loads is always the artifact
the version selector names in the store now, also after a stage change made behind the project's
back (ZenML's own client), and it answers exactly as the artifact loaded through ZenML."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
import torch
from zenml import Model, link_artifact_to_model, save_artifact
from zenml.client import Client
from zenml.enums import ArtifactType

from materializers import ClassifierMaterializer
from project import names
from registry.bundle_cache import cached_bundle, classifier_bundle
from tagger.data import LABELS, texts_of
from tagger.model import TextClassifier
from tagger.onnx_backend import PARITY_TOLERANCE, OnnxClassifier, load_classifier


@pytest.fixture(scope="module")
def model(zenml_stack, tiny_model_dir) -> str:
    """A model with two versions whose (untrained, differently seeded) classifiers differ."""
    name = f"tagger-cache-{uuid.uuid4().hex[:8]}"
    Client().create_model(name)
    for seed in (1, 2):
        torch.manual_seed(seed)
        classifier = TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=64)
        artifact = save_artifact(
            classifier,
            name=names.CLASSIFIER,
            artifact_type=ArtifactType.MODEL,
            materializer=ClassifierMaterializer,
        )
        version = Client().create_model_version(name)
        link_artifact_to_model(artifact, model=Model(name=name, version=version.number))
    return name


def _probabilities(classifier: TextClassifier, projects: pd.DataFrame) -> np.ndarray:
    return classifier.predict_proba(texts_of(projects.head(20)))


def _through_zenml(model: str, version: str | int) -> TextClassifier:
    return Client().get_model_version(model, version).get_model_artifact(names.CLASSIFIER).load()


def test_the_copy_follows_the_stage_and_answers_as_the_artifact(model: str, projects: pd.DataFrame):
    client = Client()
    client.update_model_version(model, 1, stage="production")
    assert cached_bundle(model, "production") is None  # nothing copied yet: ZenML is asked

    first = classifier_bundle(model, "production")
    assert cached_bundle(model, "production") == first == cached_bundle(model, "1")
    assert np.array_equal(
        _probabilities(TextClassifier.load(first), projects),
        _probabilities(_through_zenml(model, 1), projects),
    )

    # the copy answers on ONNX Runtime (predict --title), as the artifact does
    onnx = load_classifier(first, "onnx")
    assert isinstance(onnx, OnnxClassifier)
    texts = texts_of(projects.head(20))
    through_zenml = _through_zenml(model, 1)
    assert onnx.predict(texts) == through_zenml.predict(texts)
    assert np.abs(onnx.predict_proba(texts) - through_zenml.predict_proba(texts)).max() <= (
        PARITY_TOLERANCE
    )

    client.update_model_version(model, 2, stage="production", force=True)
    assert cached_bundle(model, "production") is None  # never version 1's copy
    second = classifier_bundle(model, "production")
    assert second != first and cached_bundle(model, "production") == second
    assert cached_bundle(model, 1) == first
    assert np.array_equal(
        _probabilities(TextClassifier.load(second), projects),
        _probabilities(_through_zenml(model, 2), projects),
    )
    assert not np.array_equal(
        _probabilities(TextClassifier.load(first), projects),
        _probabilities(TextClassifier.load(second), projects),
    )

    assert cached_bundle(model, "latest") is None  # a selector the store read does not resolve
    assert cached_bundle("no-such-model", "production") is None
