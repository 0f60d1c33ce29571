"""The lexical model scores as scikit-learn does, and a hybrid bundle answers the same on every
backend and after a round trip."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.config import TrainConfig
from tagger.data import LABELS, split, texts_of
from tagger.distributed import train_on_frames
from tagger.lexical import VOCABULARY_FILE, WEIGHTS_FILE, LexicalModel, mix_probabilities
from tagger.model import TextClassifier
from tagger.onnx_backend import OnnxClassifier, export_checked


@pytest.fixture(scope="module")
def frames(projects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return split(projects, val_size=0.1, test_size=0.2, seed=1234)


@pytest.fixture(scope="module")
def lexical(frames) -> LexicalModel:
    train_df = frames[0]
    return LexicalModel.fit(texts_of(train_df), train_df["tag"], LABELS)


def _sklearn_probabilities(frames, texts: list[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train_df = frames[0]
    reference = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced"),
    ).fit(texts_of(train_df), train_df["tag"])
    classes = list(reference.classes_)
    return reference.predict_proba(texts)[:, [classes.index(label) for label in LABELS]]


def test_numpy_scoring_matches_scikit_learn_on_the_test_split(lexical: LexicalModel, frames):
    texts = texts_of(frames[2])
    expected = _sklearn_probabilities(frames, texts)
    actual = lexical.predict_proba(texts)
    assert np.abs(actual - expected).max() < 1e-6
    assert (actual.argmax(1) == expected.argmax(1)).all()


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gets_a_distribution(lexical: LexicalModel, text: str):
    (row,) = lexical.predict_proba([text])
    assert row.shape == (len(LABELS),) and np.isfinite(row).all()
    assert abs(float(row.sum()) - 1) < 1e-5


def test_a_tag_without_rows_is_refused(frames):
    train_df = frames[0]
    no_mlops = train_df[train_df["tag"] != "mlops"]
    with pytest.raises(ValueError, match="mlops"):
        LexicalModel.fit(texts_of(no_mlops), no_mlops["tag"], LABELS)


@pytest.fixture(scope="module")
def hybrid(frames, tiny_params: dict) -> TextClassifier:
    config = TrainConfig.model_validate({**tiny_params, "epochs": 2, "lexical_weight": 0.3})
    return train_on_frames(config, frames[0], frames[1]).classifier


def test_training_with_a_lexical_weight_makes_a_hybrid(hybrid: TextClassifier, frames):
    texts = texts_of(frames[2])
    assert hybrid.info.lexical_weight == 0.3 and hybrid.lexical is not None
    expected = mix_probabilities(
        hybrid.model_proba(texts), hybrid.lexical.predict_proba(texts), 0.3
    )
    np.testing.assert_allclose(hybrid.predict_proba(texts), expected, atol=1e-6)
    assert not np.allclose(hybrid.predict_proba(texts), hybrid.model_proba(texts))


def test_a_hybrid_bundle_answers_the_same_loaded_and_on_onnx(
    hybrid: TextClassifier, frames, tmp_path: Path
):
    texts = texts_of(frames[2])
    export_checked(hybrid, tmp_path, texts)  # raises unless the ONNX answers agree
    files = {p.name for p in tmp_path.iterdir()}
    assert {VOCABULARY_FILE, WEIGHTS_FILE} <= files
    assert not any(name.endswith((".pkl", ".joblib", ".bin")) for name in files)
    expected = hybrid.predict_proba(texts)
    for loaded in (TextClassifier.load(tmp_path), OnnxClassifier.load(tmp_path)):
        assert loaded.info == hybrid.info
        assert np.abs(loaded.predict_proba(texts) - expected).max() <= 1e-4
        assert loaded.predict(texts) == hybrid.predict(texts)
