"""BentoML service for the project tagger (BentoML's class-based `@bentoml.service` style).

The model is the BentoML model `project-tagger` holding one `TextClassifier` bundle (plain files,
no pickle), and with the onnx backends its ONNX export (and int8 quantization) beside it; the
model's `backend` metadata says which one serves. A Bento pins the models of its rollout plan
(`serving.rollout`): production, and for a shadow or canary rollout the candidate too. Every
/predict answer names the version that answered in its `x-model-version` header; in a shadow
rollout the candidate's answer is recorded beside production's (`answered_by`, `agrees`), never
returned. The classifiers run in the API's own process: `serving.batching.MicroBatcher` merges
concurrent requests into one forward pass.

    POST /predict   {"title": "...", "description": "..."}   or   {"projects": [{...}, ...]}
                    optional "threshold": below it the answer is "other"
    POST /feedback  {"request_id": "...", "tag": "...", "item": 0}: the true tag of an earlier answer
    POST /metadata  model name, version, labels
    GET  /healthz, /readyz, /livez, /metrics (BentoML's own)

`serving.contract.RequestContract` stands in front of the API: a request is answered by the
service only once it is a complete, valid JSON body, so every bad request gets a 4xx with a
one-line reason and the OpenAPI spec at /docs.json describes exactly what is accepted and answered.

Every answer is recorded (`serving.records`): its request id comes from the caller's
`x-request-id` header or is made here, and is returned in the same header; `/feedback` takes it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any, Literal

import bentoml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from starlette.responses import JSONResponse

from serving import bentoml_internals, rollout
from serving.batching import MicroBatcher
from serving.contract import ErrorBody, RequestContract
from serving.memory import HeapTrimmer
from serving.records import (
    FEEDBACK,
    PREDICTIONS,
    FeedbackRecord,
    PredictionRecord,
    Recorder,
    Recording,
    find_prediction,
    now,
)
from tagger.config import ServingBackend
from tagger.data import LABELS, join_text
from tagger.inference import choose_tag
from tagger.onnx_backend import load_classifier

logger = logging.getLogger("bentoml.tagger.rollout")

MODEL_NAME = "project-tagger"
MODEL_CARD_FILE = "model_card.md"
MAX_ITEMS = 64
REQUEST_ID_HEADER = "x-request-id"
# a caller's request id is kept when it is this safe; otherwise the service makes one
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# request ids answered recently, for /feedback without reading the files
RECENT_REQUESTS = 100_000
# One API process per CPU (BentoML counts the container's CPU limit), each running its forward
# passes on one thread: one process's event loop could not parse requests as fast as the model
# answered them (README, Serving). BentoML's own setting overrides the count:
# BENTOML_CONFIG_OPTIONS="services.project_tagger.workers=1".
WORKERS = "cpu_count"
MODEL_THREADS = 1


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


class FeedbackRequest(BaseModel):
    """The true tag of an earlier answer: its request id (the `x-request-id` answered) and, for a
    request with several projects, the project's position in it."""

    model_config = _STRICT

    request_id: str = Field(min_length=1, max_length=128, pattern=f"^{_REQUEST_ID.pattern}$")
    tag: Literal[LABELS]  # type: ignore[valid-type]
    item: int = Field(default=0, ge=0, le=MAX_ITEMS - 1, strict=True)


class FeedbackAnswer(BaseModel):
    request_id: str
    item: int
    tag: str
    predicted: str


def to_prediction(labels: list[str], row: list[float], threshold: float) -> Prediction:
    """One answer: the most likely tag, or "other" when its probability is below `threshold`."""
    tag, confidence = choose_tag(labels, row, threshold)
    probabilities = dict(zip(labels, map(float, row), strict=True))
    return Prediction(tag=tag, confidence=confidence, probabilities=probabilities)


PLAN = rollout.current_plan(MODEL_NAME, Path(__file__).resolve().parent.parent)


def model_backend(model: Any) -> ServingBackend:
    # models saved before there was a choice hold only the torch bundle
    return model.info.metadata.get("backend", "torch")


@bentoml.service(
    name="project_tagger",
    workers=WORKERS,
    traffic={"timeout": 30, "max_concurrency": 256},
)
class TaggerService:
    """The HTTP API and the classifiers behind it, production's and in a rollout the candidate's,
    in one process: concurrent requests to one classifier are merged into one forward pass."""

    model = bentoml.models.BentoModel(PLAN.production)
    if PLAN.candidate is not None:
        candidate = bentoml.models.BentoModel(PLAN.candidate)

    def __init__(self) -> None:
        self.backend = model_backend(self.model)
        self.classifier = load_classifier(self.model.path, self.backend, MODEL_THREADS)
        self.classify = MicroBatcher(self.classifier.predict_proba, MAX_ITEMS, HeapTrimmer())
        self.classify_candidate: MicroBatcher | None = None
        self.candidate_version = None
        if PLAN.candidate is not None:
            candidate = load_classifier(
                self.candidate.path, model_backend(self.candidate), MODEL_THREADS
            )
            self.classify_candidate = MicroBatcher(
                candidate.predict_proba, MAX_ITEMS, HeapTrimmer()
            )
            self.candidate_version = self.candidate.info.labels.get("zenml_version")
        self.info = self._describe()
        self.version = self.info.get("zenml_model_version")
        self.recording = Recording.from_env()
        # the host's name keeps replicas that share a records volume out of each other's files
        writer = f"api-{socket.gethostname()}-{bentoml.server_context.worker_index or 0}"
        self.recorder = Recorder(self.recording, writer)
        self.recent: OrderedDict[str, list[str]] = OrderedDict()
        self._shadows: set[asyncio.Task] = set()

    def _describe(self) -> dict[str, Any]:
        return {
            "model": self.model.tag.name,
            "version": self.model.tag.version,
            "zenml_model_version": self.model.info.labels.get("zenml_version"),
            "labels": list(self.classifier.labels),
            "base_model": self.classifier.info.base_model,
            "lexical_weight": self.classifier.info.lexical_weight,
            "seed_ensemble_members": self.classifier.info.members,
            "backend": self.backend,
            "model_card": self._model_card(),
            "rollout": {
                "strategy": PLAN.strategy,
                "fraction": PLAN.fraction if PLAN.strategy == "canary" else None,
                "candidate_model": str(self.candidate.tag) if PLAN.candidate else None,
                "candidate_zenml_version": self.candidate_version,
            },
        }

    def _model_card(self) -> str | None:
        card = Path(self.model.path) / MODEL_CARD_FILE
        return card.read_text() if card.exists() else None

    @bentoml.api(input_spec=PredictRequest)
    async def predict(
        self, projects: list[Project], threshold: float, ctx: bentoml.Context
    ) -> list[Prediction]:
        started = time.perf_counter()
        given = ctx.request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        ctx.response.headers[REQUEST_ID_HEADER] = request_id
        texts = [join_text(p.title, p.description) for p in projects]
        # a canary's key: the caller's request id, else the texts (a repeated request, same version)
        if rollout.candidate_answers(PLAN, request_id if given == request_id else "\n".join(texts)):
            version, rows = self.candidate_version, await self._candidate(texts)
        else:
            version, rows = self.version, await self.classify(texts)
        answers = [to_prediction(self.info["labels"], row, threshold) for row in rows]
        ctx.response.headers[rollout.VERSION_HEADER] = version or ""
        self._record(
            request_id, projects, answers, threshold, time.perf_counter() - started, version
        )
        if PLAN.strategy == "shadow":
            shadow = asyncio.create_task(self._shadow(request_id, projects, threshold, answers))
            self._shadows.add(shadow)  # held until done: the loop keeps only weak references
            shadow.add_done_callback(self._shadows.discard)
        return answers

    async def _candidate(self, texts: list[str]) -> Any:
        if self.classify_candidate is None:
            raise ValueError("this Bento serves no candidate")
        return await self.classify_candidate(texts)

    async def _shadow(
        self, request_id: str, projects: list[Project], threshold: float, given: list[Prediction]
    ) -> None:
        """The candidate's answers to a request production answered, recorded beside them."""
        started = time.perf_counter()
        texts = [join_text(p.title, p.description) for p in projects]
        try:
            rows = await self._candidate(texts)
        except Exception as exc:  # noqa: BLE001 - the caller has its answer; this is a record
            logger.warning("shadow scoring of request %s failed: %s", request_id, exc)
            return
        answers = [to_prediction(self.info["labels"], row, threshold) for row in rows]
        self._record(
            request_id,
            projects,
            answers,
            threshold,
            time.perf_counter() - started,
            self.candidate_version,
            answered=given,
        )

    @bentoml.api(input_spec=FeedbackRequest)
    async def feedback(self, request_id: str, tag: str, item: int) -> FeedbackAnswer:
        labels = self.info["labels"]
        if tag not in labels:
            return _error(400, "invalid request", f"tag: {tag!r} is not one of {labels}")
        answered = self.recent.get(request_id) or await self._recorded_tags(request_id)
        if answered is None:
            return _error(404, "not found", f"no recorded answer with request_id {request_id!r}")
        if item >= len(answered):
            return _error(
                404,
                "not found",
                f"request {request_id} had {len(answered)} project(s), no item {item}",
            )
        record = FeedbackRecord(request_id=request_id, item=item, tag=tag, time=now())
        self.recorder.write(FEEDBACK, [record])
        return FeedbackAnswer(request_id=request_id, item=item, tag=tag, predicted=answered[item])

    async def _recorded_tags(self, request_id: str) -> list[str] | None:
        """The tags answered to a request another worker served (or a server before a restart),
        from the record files. Its record may still be in that worker's writer queue, so a miss
        is looked up once more."""
        for wait_s in (0.0, 0.2):
            await asyncio.sleep(wait_s)
            records = await asyncio.to_thread(find_prediction, self.recording.directory, request_id)
            if records:
                return [r.tag for r in sorted(records, key=lambda r: r.item)]
        return None

    @bentoml.api(route="/metadata")
    def metadata(self) -> dict[str, Any]:
        return self.info

    def _record(
        self,
        request_id: str,
        projects: list[Project],
        answers: list[Prediction],
        threshold: float,
        latency_s: float,
        version: str | None,
        answered: list[Prediction] | None = None,
    ) -> None:
        """`answered`: the answers the caller got, when these are a shadow's (not returned)."""
        if answered is None:
            self.recent[request_id] = [a.tag for a in answers]
            self.recent.move_to_end(request_id)
            while len(self.recent) > RECENT_REQUESTS:
                self.recent.popitem(last=False)
        at = now()
        self.recorder.write(
            PREDICTIONS,
            [
                PredictionRecord(
                    request_id=request_id,
                    item=i,
                    time=at,
                    source="served",
                    model_version=str(version) if version is not None else None,
                    title_length=len(p.title),
                    description_length=len(p.description),
                    title=p.title,
                    description=p.description,
                    tag=a.tag,
                    confidence=a.confidence,
                    probabilities=a.probabilities,
                    threshold=threshold,
                    latency_ms=latency_s * 1000,
                    answered_by=self.version if answered else None,
                    agrees=answered[i].tag == a.tag if answered else None,
                )
                for i, (p, a) in enumerate(zip(projects, answers, strict=True))
            ],
        )


def _error(status: int, error: str, detail: str) -> Any:
    """A 4xx with the contract's `ErrorBody`, for what only the service can judge."""
    return JSONResponse(ErrorBody(error=error, detail=detail).model_dump(), status_code=status)


bentoml_internals.require_known_bentoml()
TaggerService.add_asgi_middleware(
    RequestContract,
    documented_bodies={"predict": PREDICT_BODY, "feedback": TypeAdapter(FeedbackRequest)},
    documented_answers={"feedback": {"404": "no answer was recorded with this request id"}},
    **bentoml_internals.contract_options(TaggerService),
)
bentoml_internals.answer_as_json(TaggerService)
bentoml_internals.gate_methods(TaggerService)
