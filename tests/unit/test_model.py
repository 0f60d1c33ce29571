from pathlib import Path

import numpy as np
import pytest

from tagger.config import DEFAULT_BASE_MODEL
from tagger.data import LABELS
from tagger.model import TextClassifier, resolve_base_model

TEXTS = ["YOLO for object detection. Real-time boxes.", "BERT sentiment", "Kubernetes serving"]


def test_default_base_model_resolves_to_shipped_weights():
    path = Path(resolve_base_model(DEFAULT_BASE_MODEL))
    assert (path / "config.json").exists()
    assert (path / "model.safetensors").exists()
    assert resolve_base_model("bert-base-uncased") == "bert-base-uncased"


def test_label_mapping_is_written_into_the_model(tiny_model_dir: Path):
    classifier = TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=32)
    assert classifier.labels == LABELS
    assert classifier.model.config.id2label == dict(enumerate(LABELS))
    assert classifier.model.config.label2id["mlops"] == 1


def test_bundle_round_trip_predicts_identically(tiny_model_dir: Path, tmp_path: Path):
    classifier = TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=32)
    classifier.save(tmp_path / "bundle")
    files = {p.name for p in (tmp_path / "bundle").iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "tagger.json"} <= files
    assert not any(name.endswith((".bin", ".pkl", ".pt")) for name in files)
    loaded = TextClassifier.load(tmp_path / "bundle")
    assert loaded.info == classifier.info
    np.testing.assert_allclose(
        loaded.predict_proba(TEXTS), classifier.predict_proba(TEXTS), atol=1e-6
    )
    assert loaded.predict(TEXTS) == classifier.predict(TEXTS)


def test_predict_proba_keeps_input_order_across_batches(tiny_model_dir: Path):
    classifier = TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=32)
    texts = [f"{'word ' * (i % 7)}project {i}" for i in range(11)]
    batched = classifier.predict_proba(texts, batch_size=3)
    single = np.stack([classifier.predict_proba([t])[0] for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert batched.sum(axis=1) == pytest.approx(np.ones(len(texts)), abs=1e-5)


def test_predict_project_returns_probabilities_per_tag(tiny_model_dir: Path):
    classifier = TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=32)
    probs = classifier.predict_project("Pose estimation", "keypoints from video")
    assert list(probs) == list(LABELS)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert classifier.predict([]) == []
