"""Evaluation of a classifier on labelled data: overall, per class, slices, confusion matrix."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

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

# `extra` keys of the bootstrap interval of the weighted F1; part of `metrics()` when present
F1_CI_LOW, F1_CI_HIGH = "f1_ci_low", "f1_ci_high"
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0


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
        flat |= {key: self.extra[key] for key in (F1_CI_LOW, F1_CI_HIGH) if key in self.extra}
        return flat


def weighted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Support-weighted F1 of each row of two (resamples, n) arrays of class codes.

    The same figure as sklearn's `f1_score(average="weighted", zero_division=0)`, computed for
    all resamples at once: per class F1 = 2 TP / (support + predicted).
    """
    n = y_true.shape[-1]
    total = np.zeros(y_true.shape[:-1])
    for code in np.union1d(np.unique(y_true), np.unique(y_pred)):
        is_true, is_pred = y_true == code, y_pred == code
        support = is_true.sum(axis=-1)
        both = (is_true & is_pred).sum(axis=-1)
        denominator = support + is_pred.sum(axis=-1)
        f1 = np.divide(2 * both, denominator, out=np.zeros(total.shape), where=denominator > 0)
        total += support * f1
    return total / n


def bootstrap_f1_interval(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = BOOTSTRAP_CONFIDENCE,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the weighted F1: the rows are resampled with replacement.

    A test split of ~150 rows moves the F1 by a point or more with the rows drawn, so two model
    versions whose intervals overlap widely may differ by noise alone. Seeded, so the same
    predictions always give the same interval.
    """
    if not len(y_true):
        return 0.0, 0.0
    _, codes = np.unique(
        np.concatenate([np.asarray(y_true), np.asarray(y_pred)]), return_inverse=True
    )
    true_codes, pred_codes = codes[: len(y_true)], codes[len(y_true) :]
    rows = np.random.default_rng(seed).integers(0, len(y_true), size=(resamples, len(y_true)))
    scores = weighted_f1(true_codes[rows], pred_codes[rows])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return float(low), float(high)


def _scores(y_true: Sequence[str], y_pred: Sequence[str], average: str) -> Scores:
    from sklearn.metrics import precision_recall_fscore_support

    if not len(y_true):
        return Scores(0.0, 0.0, 0.0, 0)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
    return Scores(float(p), float(r), float(f), len(y_true))


def score_predictions(
    df: pd.DataFrame,
    predictions: Sequence[str],
    labels: Sequence[str],
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> EvaluationReport:
    """Score predictions against `df["tag"]` (weighted averages, as Made-With-ML reports), with
    a bootstrap interval of the F1 in `extra` (`resamples=0` leaves it out).

    scikit-learn is imported here, not with the module: reading a stored report (every cached
    rerun's promotion does) should not pay for it."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

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
    extra = {}
    if resamples and len(y_true):
        extra[F1_CI_LOW], extra[F1_CI_HIGH] = bootstrap_f1_interval(y_true, y_pred, resamples)
    return EvaluationReport(
        labels=list(labels),
        overall=_scores(y_true, y_pred, average="weighted"),
        accuracy=float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        per_class=per_class,
        slices=slices,
        confusion=confusion_matrix(y_true, y_pred, labels=list(labels)).tolist(),
        extra=extra,
    )


def evaluate(classifier: TextClassifier, df: pd.DataFrame) -> EvaluationReport:
    return score_predictions(df, classifier.predict(texts_of(df)), classifier.labels)
