"""Batch prediction over a dataset frame: one row per project, tag, confidence, probabilities."""

from __future__ import annotations

import pandas as pd

from tagger.data import texts_of
from tagger.model import TextClassifier

FALLBACK_TAG = "other"


def predict_frame(
    classifier: TextClassifier, df: pd.DataFrame, threshold: float = 0.0, batch_size: int = 64
) -> pd.DataFrame:
    """Below `threshold` confidence the tag is "other", as the service answers."""
    probs = classifier.predict_proba(texts_of(df), batch_size=batch_size)
    best = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    tags = [
        classifier.labels[i] if c >= threshold else FALLBACK_TAG
        for i, c in zip(best, confidence, strict=True)
    ]
    out = pd.DataFrame({"id": df["id"].to_numpy(), "tag": tags, "confidence": confidence})
    for j, label in enumerate(classifier.labels):
        out[f"p_{label}"] = probs[:, j]
    return out
