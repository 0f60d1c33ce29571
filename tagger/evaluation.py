"""Evaluation of a classifier on labelled data: overall, per class, slices, confusion matrix."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from tagger.data import texts_of
from tagger.model import TextClassifier

_LLM_WORDS = re.compile(
    r"\b(?:llms?|large language models?|transformers?|gpt[-\w]*|bert|llama)\b", re.I
)


def _is_llm_nlp(df: pd.DataFrame) -> pd.Series:
    text = df["title"].fillna("") + " " + df["description"].fillna("")
    return (df["tag"] == "natural-language-processing") & text.str.contains(_LLM_WORDS)


def _is_short_text(df: pd.DataFrame, max_words: int = 8) -> pd.Series:
    return pd.Series(texts_of(df), index=df.index).str.split().str.len() <= max_words


SLICES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "llm_nlp": _is_llm_nlp,
    "short_text": _is_short_text,
}


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    num_samples: int


@dataclass
class EvaluationReport:
    labels: list[str]
    overall: Scores
    accuracy: float
    per_class: dict[str, Scores]
    slices: dict[str, Scores]
    confusion: list[list[int]]
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EvaluationReport:
        return cls(
            labels=list(data["labels"]),
            overall=Scores(**data["overall"]),
            accuracy=float(data["accuracy"]),
            per_class={k: Scores(**v) for k, v in data["per_class"].items()},
            slices={k: Scores(**v) for k, v in data["slices"].items()},
            confusion=[list(map(int, row)) for row in data["confusion"]],
            extra=dict(data.get("extra", {})),
        )

    def metrics(self) -> dict[str, float]:
        """Flat name -> value view, for MLflow, model-version metadata and results files.

        Empty slices are left out: an F1 of 0 over no samples would read as a failure.
        """
        flat = {
            "f1": self.overall.f1,
            "precision": self.overall.precision,
            "recall": self.overall.recall,
            "accuracy": self.accuracy,
        }
        flat |= {f"f1_{label}": scores.f1 for label, scores in self.per_class.items()}
        flat |= {
            f"f1_slice_{name}": scores.f1
            for name, scores in self.slices.items()
            if scores.num_samples
        }
        return flat


def _scores(y_true: Sequence[str], y_pred: Sequence[str], average: str) -> Scores:
    if not len(y_true):
        return Scores(0.0, 0.0, 0.0, 0)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
    return Scores(float(p), float(r), float(f), len(y_true))


def score_predictions(
    df: pd.DataFrame, predictions: Sequence[str], labels: Sequence[str]
) -> EvaluationReport:
    """Score predictions against `df["tag"]` (weighted averages, as Made-With-ML reports)."""
    y_true = df["tag"].to_numpy()
    y_pred = np.asarray(predictions)
    p, r, f, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(labels), zero_division=0
    )
    per_class = {
        label: Scores(float(p[i]), float(r[i]), float(f[i]), int(support[i]))
        for i, label in enumerate(labels)
    }
    slices = {}
    for name, selects in SLICES.items():
        mask = selects(df).to_numpy()
        slices[name] = _scores(y_true[mask], y_pred[mask], average="micro")
    return EvaluationReport(
        labels=list(labels),
        overall=_scores(y_true, y_pred, average="weighted"),
        accuracy=float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        per_class=per_class,
        slices=slices,
        confusion=confusion_matrix(y_true, y_pred, labels=list(labels)).tolist(),
    )


def evaluate(classifier: TextClassifier, df: pd.DataFrame) -> EvaluationReport:
    return score_predictions(df, classifier.predict(texts_of(df)), classifier.labels)
