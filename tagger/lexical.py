"""TF-IDF + logistic regression: the bundle's second, word-level model, scored with numpy alone.

A hybrid bundle mixes its probabilities into the transformer's (`BundleInfo.lexical_weight`):
the two models err on different projects, and this one's answers do not depend on the seed.
scikit-learn fits it; what is kept is its vocabulary (JSON) and its arrays (safetensors), so
nothing is pickled and answering needs neither scikit-learn nor torch. Scoring repeats
scikit-learn's defaults (lower case, `(?u)\\b\\w\\w+\\b` tokens, 1-2 word n-grams, sublinear tf,
smoothed idf, L2 norm, multinomial softmax); the tests hold it to scikit-learn's own answers.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VOCABULARY_FILE = "lexical.json"
WEIGHTS_FILE = "lexical.safetensors"
TOKEN = re.compile(r"(?u)\b\w\w+\b")
NGRAMS = 2
C = 10.0  # inverse regularisation: chosen with the TF-IDF floor of benchmarks.quality


def terms(text: str) -> list[str]:
    tokens = TOKEN.findall(text.lower())
    return [
        " ".join(tokens[start : start + n])
        for n in range(1, NGRAMS + 1)
        for start in range(len(tokens) - n + 1)
    ]


def mix_probabilities(
    model_proba: np.ndarray, lexical_proba: np.ndarray, weight: float
) -> np.ndarray:
    """A hybrid's answer: `weight` of the lexical model's probabilities, the rest the
    transformer's."""
    return (1 - weight) * model_proba + weight * lexical_proba


@dataclass(frozen=True)
class LexicalModel:
    labels: tuple[str, ...]
    vocabulary: dict[str, int]
    idf: np.ndarray  # (terms,)
    coef: np.ndarray  # (labels, terms)
    intercept: np.ndarray  # (labels,)

    @classmethod
    def fit(cls, texts: Sequence[str], tags: Sequence[str], labels: Sequence[str]) -> LexicalModel:
        """Fitted on every labelled row given: it needs no validation set. Classes are balanced
        in the loss, as the floor it was measured as."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = TfidfVectorizer(ngram_range=(1, NGRAMS), sublinear_tf=True)
        features = vectorizer.fit_transform(texts)
        regression = LogisticRegression(C=C, max_iter=2000, class_weight="balanced")
        regression.fit(features, list(tags))
        classes = list(regression.classes_)
        missing = sorted(set(labels) - set(classes))
        if missing:
            raise ValueError(f"no training rows for {missing}: the lexical model needs every tag")
        order = [classes.index(label) for label in labels]
        return cls(
            tuple(labels),
            {term: int(index) for term, index in vectorizer.vocabulary_.items()},
            vectorizer.idf_.astype(np.float64),
            regression.coef_[order].astype(np.float64),
            regression.intercept_[order].astype(np.float64),
        )

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(term indices, L2-normalised tf-idf values) of the text's known terms."""
        counts = Counter(self.vocabulary[t] for t in terms(text) if t in self.vocabulary)
        if not counts:
            return np.empty(0, dtype=np.int64), np.empty(0)
        index = np.fromiter(counts, dtype=np.int64, count=len(counts))
        values = np.array([1.0 + math.log(counts[i]) for i in index]) * self.idf[index]
        return index, values / np.linalg.norm(values)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        logits = np.empty((len(texts), len(self.labels)))
        for row, text in enumerate(texts):
            index, values = self.features(text)
            logits[row] = self.coef[:, index] @ values + self.intercept
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The tag each text scores highest: the model alone, as the benchmarks' floor."""
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=1)]

    def save(self, directory: str | Path) -> None:
        from safetensors.numpy import save_file

        directory = Path(directory)
        terms_by_index = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        (directory / VOCABULARY_FILE).write_text(
            json.dumps({"labels": list(self.labels), "terms": terms_by_index})
        )
        save_file(
            {"idf": self.idf, "coef": self.coef, "intercept": self.intercept},
            directory / WEIGHTS_FILE,
        )

    @classmethod
    def load(cls, directory: str | Path) -> LexicalModel | None:
        """The bundle's lexical model, None when the bundle has none."""
        from safetensors.numpy import load_file

        directory = Path(directory)
        if not (directory / VOCABULARY_FILE).exists():
            return None
        meta = json.loads((directory / VOCABULARY_FILE).read_text())
        arrays = load_file(directory / WEIGHTS_FILE)
        return cls(
            tuple(meta["labels"]),
            {term: index for index, term in enumerate(meta["terms"])},
            arrays["idf"],
            arrays["coef"],
            arrays["intercept"],
        )
