"""Batch prediction over a dataset frame: one row per project, tag, confidence, probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tagger.data import texts_of

if TYPE_CHECKING:  # see tagger/data.py
    import pandas as pd

    from tagger.model import Classifier

FALLBACK_TAG = "other"


def choose_tag(
    labels: Sequence[str], probabilities: Sequence[float], threshold: float
) -> tuple[str, float]:
    """The most likely tag and its probability, or "other" when that is below `threshold`.

    The one rule behind the service, batch inference and `run.py predict`.
    """
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    confidence = float(probabilities[best])
    return (labels[best] if confidence >= threshold else FALLBACK_TAG), confidence


def predict_frame(
    classifier: Classifier, df: pd.DataFrame, threshold: float = 0.0, batch_size: int = 64
) -> pd.DataFrame:
    """Below `threshold` confidence the tag is "other", as the service answers."""
    import pandas as pd

    probs = classifier.predict_proba(texts_of(df), batch_size=batch_size)
    tags = [choose_tag(classifier.labels, row, threshold)[0] for row in probs.tolist()]
    out = pd.DataFrame({"id": df["id"].to_numpy(), "tag": tags, "confidence": probs.max(axis=1)})
    for j, label in enumerate(classifier.labels):
        out[f"p_{label}"] = probs[:, j]
    return out
