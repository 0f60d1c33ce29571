"""The one door to BentoML's undocumented API (the service's routes, input models, OpenAPI spec
and outermost ASGI app), written for BentoML 1.3 and 1.4 (the pin is 1.3.22; the serving tier
also passes on 1.4.40) and refusing any other version clearly."""

from __future__ import annotations

import json
from typing import Any

import bentoml

from serving.contract import MethodGate

KNOWN_VERSIONS = ("1.3.", "1.4.")


def require_known_bentoml() -> None:
    if not bentoml.__version__.startswith(KNOWN_VERSIONS):
        raise RuntimeError(
            f"serving.service's HTTP contract is written for BentoML 1.3.x and 1.4.x, found"
            f" {bentoml.__version__}: check how it routes and parses requests, builds its"
            " OpenAPI spec and its ASGI app (Service.apis, APIMethod.input_spec,"
            " Service.openapi_spec, Service.to_asgi)"
        )


def contract_options(service: Any) -> dict[str, Any]:
    """RequestContract's view of a service, from attributes BentoML does not document."""
    routes = {"/" + api.route.lstrip("/"): api for api in service.apis.values()}
    return {
        "inputs": {route: api.input_spec for route, api in routes.items()},
        "spec": lambda: json.loads(json.dumps(service.openapi_spec.asdict())),
    }


def gate_methods(service: Any) -> None:
    """Make `service.to_asgi()` return its app wrapped in MethodGate.

    BentoML offers no hook outside its own middlewares; swapping the instance's class for a
    subclass with the same (empty) slots changes that one method of this one service.
    """

    class GatedService(type(service)):
        __slots__ = ()

        def to_asgi(self, is_main: bool = True) -> Any:
            return MethodGate(super().to_asgi(is_main))

    service.__class__ = GatedService


def answer_as_json(service: Any) -> None:
    """Name the media type of every JSON answer up front.

    BentoML (1.3 and 1.4) otherwise works it out per request by building the answer type's JSON
    schema, which cost about a sixth of the API's CPU time per /predict (README, Serving).
    """
    for api in service.apis.values():
        output = api.output_spec
        if output.media_type is None and output.mime_type() == "application/json":
            output.media_type = "application/json"
