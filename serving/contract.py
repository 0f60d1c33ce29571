"""The HTTP contract in front of the tagger's API, as plain ASGI middleware.

BentoML 1.3 answers 500 to a content type it has no serde for, a list as the 400 `detail`
where its spec says string, logs a traceback per bad request and waits on a body that never
comes. `RequestContract` lets a request reach BentoML only as a complete JSON body that the
API's input model accepts; everything else gets a 4xx with an `ErrorBody` and one WARNING line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from tagger.config import describe_errors

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
        documented_answers: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.app = app
        self.inputs = inputs
        self.documented_bodies = documented_bodies
        # 4xx an API answers itself (with an ErrorBody), by API name: {"404": "why"}
        self.documented_answers = documented_answers or {}
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
            raise _RejectedError(400, "invalid request", describe_errors(exc, "; ")) from exc
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
            name = operation["x-bentoml-name"]
            for status, description in {**answers, **self.documented_answers.get(name, {})}.items():
                operation["responses"][status] = {"description": description, **error}
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
