"""A seed ensemble is one bundle: its trainings' probabilities averaged, on every backend."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tagger.config import TrainConfig
from tagger.data import split, texts_of
from tagger.distributed import train_on_frames
from tagger.model import MEMBERS_DIR, TextClassifier
from tagger.onnx_backend import PARITY_TOLERANCE, OnnxClassifier, export_checked
from tagger.training import TrainResult


@pytest.fixture(scope="module")
def frames(projects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return split(projects, val_size=0.1, test_size=0.2, seed=1234)


@pytest.fixture(scope="module")
def recipe(tiny_params: dict) -> dict:
    return {**tiny_params, "epochs": 3, "lexical_weight": 0.6, "seed": 5}


@pytest.fixture(scope="module")
def ensemble(frames, recipe: dict) -> TrainResult:
    config = TrainConfig.model_validate({**recipe, "seed_ensemble": 2})
    return train_on_frames(config, frames[0], frames[1])


def _alone(classifier: TextClassifier, model) -> TextClassifier:
    return TextClassifier(model, classifier.tokenizer, classifier.info, classifier.lexical)


def test_the_bundle_averages_its_trainings_before_the_lexical_mix(ensemble: TrainResult, frames):
    classifier, texts = ensemble.classifier, texts_of(frames[2])
    assert classifier.info.members == 2 and len(classifier.models) == 2
    assert [m["seed"] for m in ensemble.members] == [5, 1005]
    first, second = (_alone(classifier, model).model_proba(texts) for model in classifier.models)
    assert np.abs(first - second).max() > 1e-3  # two trainings, not one twice
    np.testing.assert_allclose(classifier.model_proba(texts), (first + second) / 2, atol=1e-6)
    lexical = classifier.lexical.predict_proba(texts)
    mixed = 0.4 * (first + second) / 2 + 0.6 * lexical
    np.testing.assert_allclose(classifier.predict_proba(texts), mixed, atol=1e-6)


def test_its_first_training_is_the_single_model_of_the_same_seed(
    ensemble: TrainResult, frames, recipe: dict
):
    single = train_on_frames(TrainConfig.model_validate(recipe), frames[0], frames[1])
    texts = texts_of(frames[2])
    alone = _alone(ensemble.classifier, ensemble.classifier.model)
    np.testing.assert_allclose(
        alone.model_proba(texts), single.classifier.model_proba(texts), atol=1e-5
    )
    assert single.classifier.info.members == 1 and single.members[0]["seed"] == 5


def test_saved_and_loaded_it_answers_the_same(ensemble: TrainResult, frames, tmp_path: Path):
    ensemble.classifier.save(tmp_path)
    assert (tmp_path / MEMBERS_DIR / "1" / "model.safetensors").exists()
    loaded = TextClassifier.load(tmp_path)
    texts = texts_of(frames[2])
    assert loaded.info == ensemble.classifier.info
    np.testing.assert_allclose(
        loaded.predict_proba(texts), ensemble.classifier.predict_proba(texts), atol=1e-6
    )


def test_one_onnx_graph_answers_as_the_torch_ensemble(
    ensemble: TrainResult, frames, tmp_path: Path
):
    texts = texts_of(frames[2])
    parity = export_checked(ensemble.classifier, tmp_path, texts)
    assert parity.holds and parity.rows == len(texts)
    onnx = OnnxClassifier.load(tmp_path)
    assert onnx.info.members == 2
    expected = ensemble.classifier.predict_proba(texts)
    assert np.abs(onnx.predict_proba(texts) - expected).max() <= PARITY_TOLERANCE
    assert onnx.predict(texts) == ensemble.classifier.predict(texts)


def test_monitoring_reads_the_ensembles_answer_and_the_first_models_view(
    ensemble: TrainResult, frames
):
    texts = texts_of(frames[2])[:20]
    proba, embeddings = ensemble.classifier.proba_and_embeddings(texts)
    np.testing.assert_allclose(proba, ensemble.classifier.predict_proba(texts), atol=1e-6)
    assert embeddings.shape == (len(texts), ensemble.classifier.model.config.hidden_size)
