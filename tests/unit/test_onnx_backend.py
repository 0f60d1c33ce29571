"""The ONNX Runtime backend answers as the torch bundle it was exported from."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tagger import onnx_backend
from tagger.config import TrainConfig
from tagger.data import split, texts_of
from tagger.distributed import train_on_frames
from tagger.inference import predict_frame
from tagger.model import TextClassifier
from tagger.onnx_backend import (
    ONNX_FILE,
    PARITY_TOLERANCE,
    OnnxClassifier,
    ParityError,
    export_checked,
    load_classifier,
)


@pytest.fixture(scope="module")
def frames(projects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return split(projects, val_size=0.1, test_size=0.2, seed=1234)


@pytest.fixture(scope="module")
def trained(frames, tiny_params: dict) -> TextClassifier:
    train_df, val_df, _ = frames
    # a few epochs: enough for answers that are far from uniform and differ between rows
    config = TrainConfig.model_validate({**tiny_params, "epochs": 4})
    return train_on_frames(config, train_df, val_df).classifier


@pytest.fixture(scope="module")
def exported(trained: TextClassifier, frames, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("onnx") / "bundle"
    export_checked(trained, directory, texts_of(frames[2]))
    return directory


def test_onnx_gives_the_same_tags_and_probabilities_on_the_test_split(
    trained: TextClassifier, exported: Path, frames
):
    texts = texts_of(frames[2])
    onnx = OnnxClassifier.load(exported)
    expected, actual = trained.predict_proba(texts), onnx.predict_proba(texts)
    assert onnx.labels == trained.labels
    assert onnx.predict(texts) == trained.predict(texts)
    assert np.abs(expected - actual).max() <= PARITY_TOLERANCE
    # a trained model, not a uniform one: the check compares answers that mean something
    assert len(set(trained.predict(texts))) > 1


def test_the_onnx_file_ships_beside_the_bundle_without_pickles(exported: Path):
    files = {p.name for p in exported.iterdir()}
    assert {ONNX_FILE, "model.safetensors", "tokenizer.json", "tagger.json"} <= files
    assert not any(name.endswith((".bin", ".pkl", ".pt")) for name in files)


def test_the_tokenizers_library_encodes_as_the_bundles_tokenizer(
    trained: TextClassifier, exported: Path, frames
):
    """Answering without transformers: the same ids, masks and types, padded and cut alike."""
    texts = [*texts_of(frames[2])[:40], "word " * 500, ""]
    onnx = OnnxClassifier.load(exported)
    expected = trained.encode(texts)
    actual = onnx.encode(texts)
    assert set(actual) == set(expected)
    for name, column in actual.items():
        assert np.array_equal(column, expected[name].numpy()), name
    assert actual["input_ids"].shape[1] == trained.info.max_length


def test_batches_of_any_size_answer_in_input_order(exported: Path, frames):
    texts = texts_of(frames[2])[:23]
    onnx = OnnxClassifier.load(exported)
    single = np.stack([onnx.predict_proba([t])[0] for t in texts])
    np.testing.assert_allclose(onnx.predict_proba(texts, batch_size=5), single, atol=1e-5)
    assert onnx.predict([]) == []


def test_batch_inference_runs_on_either_backend(exported: Path, frames):
    df = frames[2]
    torch_frame = predict_frame(load_classifier(exported, "torch"), df)
    onnx_frame = predict_frame(load_classifier(exported, "onnx"), df)
    assert onnx_frame["tag"].tolist() == torch_frame["tag"].tolist()
    assert np.abs(onnx_frame["confidence"] - torch_frame["confidence"]).max() <= PARITY_TOLERANCE


def test_an_export_that_answers_differently_fails_the_check(
    trained: TextClassifier, tiny_model_dir: Path, frames, tmp_path: Path, monkeypatch
):
    other = TextClassifier.from_base(str(tiny_model_dir), trained.labels, max_length=64)
    other.save(tmp_path / "other")
    real_export = onnx_backend.export_onnx
    monkeypatch.setattr(
        onnx_backend,
        "export_onnx",
        lambda directory: real_export(tmp_path / "other", Path(directory) / ONNX_FILE),
    )
    with pytest.raises(ParityError, match="different tags"):
        export_checked(trained, tmp_path / "bundle", texts_of(frames[2]))
