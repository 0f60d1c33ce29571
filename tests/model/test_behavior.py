"""Behaviour of a model trained with the default recipe on ../shared's Made-With-ML dataset.

Invariance (wording that should not matter), directional (wording that should flip the tag)
and minimum functionality (one-liners any tagger must get right), in Made-With-ML's spirit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from project.paths import TRAIN_CONFIG
from tagger.config import TrainConfig
from tagger.data import join_text, read_csv, split
from tagger.distributed import train_on_frames
from tagger.model import TextClassifier

pytestmark = [pytest.mark.behavior, pytest.mark.slow]


@pytest.fixture(scope="module")
def classifier(shared_dataset: Path) -> TextClassifier:
    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    train_df, val_df, _ = split(read_csv(shared_dataset), val_size=0.1, test_size=0.0, seed=1234)
    params = TrainConfig.model_validate(config["parameters"]["train_params"])
    return train_on_frames(params, train_df, val_df).classifier


def _tag(classifier: TextClassifier, title: str, description: str = "") -> str:
    return classifier.predict([join_text(title, description)])[0]


@pytest.mark.parametrize(
    ("title", "description", "tag"),
    [
        ("Real-time object detection", "YOLO boxes on traffic camera images.", "computer-vision"),
        ("Image segmentation with U-Net", "Pixel masks for medical scans.", "computer-vision"),
        (
            "Sentiment analysis with BERT",
            "Classify tweets as positive or negative.",
            "natural-language-processing",
        ),
        (
            "Machine translation",
            "A transformer that translates English sentences to German.",
            "natural-language-processing",
        ),
        (
            "Serving models on Kubernetes",
            "Deploy, monitor and scale ML models in production with Docker.",
            "mlops",
        ),
        (
            "Experiment tracking and model registry",
            "Version models and data and deploy them with CI/CD pipelines.",
            "mlops",
        ),
    ],
)
def test_minimum_functionality(classifier: TextClassifier, title: str, description: str, tag: str):
    assert _tag(classifier, title, description) == tag


@pytest.mark.parametrize("verb", ["uses", "applies", "leverages", "relies on"])
def test_invariance_to_the_verb(classifier: TextClassifier, verb: str):
    text = (
        f"This project {verb} transformers to summarize long news articles into short paragraphs."
    )
    assert _tag(classifier, "Abstractive summarization", text) == "natural-language-processing"


@pytest.mark.parametrize(
    ("text_version", "image_version"),
    [
        (
            "Classifying the sentiment of product reviews written in English.",
            "Classifying the defects in photos of products taken by a camera.",
        ),
        (
            "Generating answers to questions about documents and paragraphs of text.",
            "Generating depth maps from single RGB images and video frames.",
        ),
    ],
)
def test_direction_text_vs_image(classifier: TextClassifier, text_version: str, image_version: str):
    assert _tag(classifier, "Deep learning project", text_version) == "natural-language-processing"
    assert _tag(classifier, "Deep learning project", image_version) == "computer-vision"
