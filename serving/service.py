"""BentoML service for the project tagger (BentoML's class-based `@bentoml.service` style).

The model is the BentoML model `project-tagger` holding one `TextClassifier` bundle (plain files,
no pickle), and with the onnx backend its ONNX export beside it; the model's `backend` metadata
says which one serves. A Bento pins the version that was latest when it was built and carries only
that one.

    POST /predict   {"title": "...", "description": "..."}   or   {"projects": [{...}, ...]}
                    optional "threshold": below it the answer is "other"
    POST /metadata  model name, version, labels
    GET  /healthz, /readyz, /livez, /metrics (BentoML's own)

`serving.contract.RequestContract` stands in front of the API: a request is answered by the
service only once it is a complete, valid JSON body, so every bad request gets a 4xx with a
one-line reason and the OpenAPI spec at /docs.json describes exactly what is accepted and answered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import bentoml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from serving import bentoml_internals
from serving.contract import RequestContract
from tagger.data import join_text
from tagger.inference import choose_tag
from tagger.onnx_backend import load_classifier

MODEL_NAME = "project-tagger"
MODEL_CARD_FILE = "model_card.md"
MAX_ITEMS = 64
# BentoML's batcher refuses requests (503) it expects to finish later than this: on 2 CPU cores a
# batch of 64 takes a few hundred ms, so the bound is set well above what a queue of them needs.
MAX_LATENCY_MS = 5000


# numbers only: "0.5" and true are refused, not coerced
Threshold = Annotated[float, Field(default=0.0, ge=0.0, le=1.0, strict=True)]
# unknown fields are refused, so a typo (`treshold`) is an error, not a silent default
_STRICT = ConfigDict(extra="forbid")
# not blank: one character other than ASCII whitespace; regex engines disagree on what else `\S`
# excludes (\x1f, \ufeff), and the spec's pattern must mean the same to every client
_NOT_BLANK = r"[^\x09-\x0d ]"


class Project(BaseModel):
    model_config = _STRICT

    title: str = Field(min_length=1, max_length=300, pattern=_NOT_BLANK)
    description: str = Field(default="", max_length=5000)


class Prediction(BaseModel):
    tag: str
    confidence: float
    probabilities: dict[str, float]


class OneProjectRequest(Project):
    """The short form of a request: one project's fields at the top level."""

    threshold: Threshold


class ProjectsRequest(BaseModel):
    """The list form of a request."""

    model_config = _STRICT

    projects: list[Project] = Field(min_length=1, max_length=MAX_ITEMS)
    threshold: Threshold


# what /predict accepts, as documented in the OpenAPI spec; PredictRequest validates the same
PREDICT_BODY = TypeAdapter(OneProjectRequest | ProjectsRequest)


class PredictRequest(ProjectsRequest):
    """Either form of a request, as the list form the API function takes."""

    @model_validator(mode="before")
    @classmethod
    def _single_project(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "title" not in data:
            return data
        if "projects" in data:
            raise ValueError("give either 'title' (one project) or 'projects' (a list), not both")
        single = {k: data[k] for k in ("title", "description") if k in data}
        rest = {k: v for k, v in data.items() if k not in single}
        return {**rest, "projects": [single]}


def to_prediction(labels: list[str], row: list[float], threshold: float) -> Prediction:
    """One answer: the most likely tag, or "other" when its probability is below `threshold`."""
    tag, confidence = choose_tag(labels, row, threshold)
    probabilities = dict(zip(labels, map(float, row), strict=True))
    return Prediction(tag=tag, confidence=confidence, probabilities=probabilities)


@bentoml.service(name="tagger_model", workers=1, traffic={"timeout": 30})
class TaggerModel:
    """The classifier behind the API: concurrent requests are merged into one forward pass."""

    model = bentoml.models.BentoModel(f"{MODEL_NAME}:latest")

    def __init__(self) -> None:
        # models saved before there was a choice hold only the torch bundle
        self.backend = self.model.info.metadata.get("backend", "torch")
        self.classifier = load_classifier(self.model.path, self.backend)

    @bentoml.api(batchable=True, max_batch_size=MAX_ITEMS, max_latency_ms=MAX_LATENCY_MS)
    def classify(self, texts: list[str]) -> list[list[float]]:
        return self.classifier.predict_proba(texts, batch_size=MAX_ITEMS).tolist()

    @bentoml.api
    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model.tag.name,
            "version": self.model.tag.version,
            "zenml_model_version": self.model.info.labels.get("zenml_version"),
            "labels": list(self.classifier.labels),
            "base_model": self.classifier.info.base_model,
            "backend": self.backend,
            "model_card": self._model_card(),
        }

    def _model_card(self) -> str | None:
        card = Path(self.model.path) / MODEL_CARD_FILE
        return card.read_text() if card.exists() else None


@bentoml.service(name="project_tagger", workers=1, traffic={"timeout": 30, "max_concurrency": 256})
class TaggerService:
    """The HTTP API: validates input, asks the model service, applies the threshold."""

    tagger = bentoml.depends(TaggerModel)

    def __init__(self) -> None:
        self.info = self.tagger.describe()

    @bentoml.api(input_spec=PredictRequest)
    async def predict(self, projects: list[Project], threshold: float) -> list[Prediction]:
        texts = [join_text(p.title, p.description) for p in projects]
        rows = await self.tagger.to_async.classify(texts)
        return [to_prediction(self.info["labels"], row, threshold) for row in rows]

    @bentoml.api(route="/metadata")
    def metadata(self) -> dict[str, Any]:
        return self.info


bentoml_internals.require_bentoml_1_3()
TaggerService.add_asgi_middleware(
    RequestContract,
    documented_bodies={"predict": PREDICT_BODY},
    **bentoml_internals.contract_options(TaggerService),
)
bentoml_internals.gate_methods(TaggerService)
