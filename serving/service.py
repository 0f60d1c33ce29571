"""BentoML service for the project tagger (BentoML's class-based `@bentoml.service` style).

The model is the BentoML model `project-tagger` holding one `TextClassifier` bundle (plain files,
no pickle). A Bento pins the version that was latest when it was built and carries only that one.

    POST /predict   {"title": "...", "description": "..."}   or   {"projects": [{...}, ...]}
                    optional "threshold": below it the answer is "other"
    POST /metadata  model name, version, labels
    GET  /healthz, /readyz, /livez, /metrics (BentoML's own)

`RequestContract` stands in front of the API: a request is answered by the service only once it
is a complete, valid JSON body, so every bad request gets a 4xx with a one-line reason and the
OpenAPI spec at /docs.json describes exactly what is accepted and answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

import bentoml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from tagger.data import join_text
from tagger.inference import choose_tag
from tagger.model import TextClassifier

MODEL_NAME = "project-tagger"
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
        self.classifier = TextClassifier.load(self.model.path)

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
        }


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


# --- the HTTP contract ----------------------------------------------------------------------

logger = logging.getLogger("bentoml.tagger.contract")

MAX_BODY_BYTES = 4 * 1024 * 1024  # 64 projects of 5,300 characters, JSON-escaped, fit
# a client that promises a body it does not send is cut off after this long (408)
BODY_TIMEOUT_S = float(os.environ.get("TAGGER_BODY_TIMEOUT_S", "10"))
JSON_TYPE = "application/json"
INFRA_PATHS = ("/healthz", "/livez", "/readyz", "/metrics")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ErrorBody(BaseModel):
    """Every 4xx the contract answers: a short error and a one-line reason."""

    error: str
    detail: str


class _RejectedError(Exception):
    def __init__(self, status: int, error: str, detail: str, close: bool = False) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status, self.error, self.detail, self.close = status, error, detail, close


class _ClientGoneError(Exception):
    pass


def describe_errors(exc: ValidationError) -> str:
    """pydantic's error list as one line: where, what, and the rule's name (`string_too_short`)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(map(str, error["loc"])) or "body"
        parts.append(f"{where}: {error['msg']} ({error['type']})")
    return "; ".join(parts)


class RequestContract:
    """Pure ASGI middleware in front of the service's API routes.

    BentoML 1.3 answers 500 to a content type it has no serde for, a list as the 400 `detail`
    where its spec says string, logs a traceback per bad request and waits on a body that never
    comes. Here a request reaches BentoML only as a complete JSON body that its input model
    accepts; everything else is answered with `ErrorBody`, and logged as one WARNING line.
    """

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        inputs: dict[str, type[BaseModel]],
        documented_bodies: dict[str, TypeAdapter],
        spec: Callable[[], dict[str, Any]],
        body_timeout_s: float = BODY_TIMEOUT_S,
    ) -> None:
        self.app = app
        self.inputs = inputs
        self.documented_bodies = documented_bodies
        self.spec = spec
        self.body_timeout_s = body_timeout_s
        self._openapi: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        try:
            if path == "/docs.json" and method in ("GET", "HEAD"):
                await _answer(send, 200, self.openapi(), method == "HEAD")
            elif path in self.inputs:
                await self._api(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        except _RejectedError as rejected:
            await _reject(send, scope, rejected, allow="POST")
        except _ClientGoneError:
            logger.warning("%s %s: the client went away before sending its body", method, path)

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            raise _RejectedError(405, "method not allowed", f"{scope['path']} answers POST only")
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        content_type = _header(scope, b"content-type")
        media_type = content_type.split(";")[0].strip().lower()
        if media_type not in ("", JSON_TYPE):
            raise _RejectedError(
                415,
                "unsupported media type",
                f"content-type {content_type!r} is not accepted; send {JSON_TYPE}",
            )
        length = _header(scope, b"content-length")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise _RejectedError(413, "body too large", f"{length} bytes, at most {MAX_BODY_BYTES}")
        body = await self._read_body(receive)
        try:
            self.inputs[scope["path"]].model_validate_json(body or b"{}")
        except ValidationError as exc:
            raise _RejectedError(400, "invalid request", describe_errors(exc)) from exc
        # BentoML picks its parser by the exact content type: give it the one it knows
        scope = {**scope, "headers": [*headers, (b"content-type", JSON_TYPE.encode())]}
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _ClientGoneError
                    chunks.append(message.get("body", b""))
                    size += len(chunks[-1])
                    if size > MAX_BODY_BYTES:
                        raise _RejectedError(413, "body too large", f"over {MAX_BODY_BYTES} bytes")
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError as exc:
            raise _RejectedError(
                408,
                "request timeout",
                f"the body was not complete after {self.body_timeout_s:g}s ({size} bytes read)",
                close=True,
            ) from exc

    def openapi(self) -> bytes:
        if self._openapi is None:
            self._openapi = json.dumps(self._document(self.spec())).encode()
        return self._openapi

    def _document(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The generated spec, corrected to what this middleware and the models really do."""
        ref = "#/components/schemas/{model}"
        schemas = spec["components"]["schemas"]
        schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template=ref)
        error = {"content": {JSON_TYPE: {"schema": {"$ref": ref.format(model="ErrorBody")}}}}
        answers = {
            "400": "the body is not valid JSON or not a valid request",
            "408": "the body did not arrive in time",
            "413": "the body is too large",
            "415": "the content type is not application/json",
        }
        for path in self.inputs:
            operation = spec["paths"][path]["post"]
            for status, description in answers.items():
                operation["responses"][status] = {"description": description, **error}
            name = operation["x-bentoml-name"]
            if name in self.documented_bodies:
                body = self.documented_bodies[name].json_schema(ref_template=ref)
                schemas.update(body.pop("$defs", {}))
                operation["requestBody"] = {
                    "required": True,
                    "content": {JSON_TYPE: {"schema": body}},
                }
        return spec


class MethodGate:
    """BentoML's infrastructure endpoints answer GET only: any other method gets a 405.

    Its metrics middleware answers /metrics to every method before any middleware added with
    `add_asgi_middleware` sees the request, so this one wraps the whole application.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] in INFRA_PATHS
            and scope["method"] not in ("GET", "HEAD")
        ):
            rejected = _RejectedError(405, "method not allowed", f"{scope['path']} answers GET")
            await _reject(send, scope, rejected, allow="GET, HEAD")
            return
        await self.app(scope, receive, send)


async def _reject(send: Send, scope: Scope, rejected: _RejectedError, allow: str) -> None:
    logger.warning("%s %s -> %s", scope["method"], scope["path"], rejected)
    headers = [(b"connection", b"close")] if rejected.close else []
    if rejected.status == 405:
        headers.append((b"allow", allow.encode()))
    body = ErrorBody(error=rejected.error, detail=rejected.detail).model_dump_json()
    await _answer(send, rejected.status, body.encode(), False, headers)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, then whatever the connection says next (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _answer(
    send: Send, status: int, body: bytes, head: bool, headers: list | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", JSON_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


# --- BentoML 1.3 specifics: the API routes, their input models, the spec, the outermost app --


def _require_bentoml_1_3() -> None:
    if not bentoml.__version__.startswith("1.3."):
        raise RuntimeError(
            f"serving.service's HTTP contract is written for BentoML 1.3.x, found"
            f" {bentoml.__version__}: check how it routes and parses requests, builds its"
            " OpenAPI spec and its ASGI app (Service.apis, APIMethod.input_spec,"
            " Service.openapi_spec, Service.to_asgi)"
        )


def _contract_options(service: Any) -> dict[str, Any]:
    """RequestContract's view of a service, from attributes BentoML 1.3 does not document."""
    routes = {"/" + api.route.lstrip("/"): api for api in service.apis.values()}
    return {
        "inputs": {route: api.input_spec for route, api in routes.items()},
        "spec": lambda: json.loads(json.dumps(service.openapi_spec.asdict())),
    }


def _gate_methods(service: Any) -> None:
    """Make `service.to_asgi()` return its app wrapped in MethodGate.

    BentoML offers no hook outside its own middlewares; swapping the instance's class for a
    subclass with the same (empty) slots changes that one method of this one service.
    """

    class GatedService(type(service)):
        __slots__ = ()

        def to_asgi(self, is_main: bool = True) -> Any:
            return MethodGate(super().to_asgi(is_main))

    service.__class__ = GatedService


_require_bentoml_1_3()
TaggerService.add_asgi_middleware(
    RequestContract, documented_bodies={"predict": PREDICT_BODY}, **_contract_options(TaggerService)
)
_gate_methods(TaggerService)
