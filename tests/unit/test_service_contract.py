"""The /predict request models against the JSON schema the OpenAPI spec publishes for them."""

from __future__ import annotations

import jsonschema
import pytest
from pydantic import ValidationError

from serving import bentoml_internals
from serving.service import MAX_ITEMS, PREDICT_BODY, PredictRequest
from tagger.config import describe_errors

BODIES = [
    {"title": "YOLO"},
    {"title": "YOLO", "description": "boxes", "threshold": 0.5},
    {"title": "YOLO", "threshold": 1},
    {"projects": [{"title": "a"}, {"title": "b", "description": ""}]},
    {"projects": [{"title": "a"}] * MAX_ITEMS, "threshold": 0},
    {"title": "\x1f"},
    {},
    [],
    "YOLO",
    None,
    {"title": ""},
    {"title": " \t\r\n"},
    {"title": "a" * 301},
    {"title": "a", "description": "d" * 5001},
    {"title": 3},
    {"title": "a", "threshold": "0.5"},
    {"title": "a", "threshold": True},
    {"title": "a", "threshold": 1.5},
    {"title": "a", "threshold": None},
    {"title": "a", "projects": [{"title": "b"}]},
    {"title": "a", "treshold": 0.5},
    {"description": "no title"},
    {"projects": []},
    {"projects": [{"title": "a"}] * (MAX_ITEMS + 1)},
    {"projects": [{"title": "a", "tag": "mlops"}]},
    {"projects": [{"description": "no title"}]},
]


@pytest.fixture(scope="module")
def documented():
    schema = PREDICT_BODY.json_schema()
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_the_model_accepts_exactly_what_the_spec_documents(documented, body):
    try:
        PredictRequest.model_validate(body)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == documented.is_valid(body)


def test_a_single_project_becomes_a_list_of_one():
    request = PredictRequest.model_validate({"title": "YOLO", "threshold": 0.25})
    assert [p.title for p in request.projects] == ["YOLO"] and request.threshold == 0.25


def test_validation_errors_read_as_one_line():
    with pytest.raises(ValidationError) as caught:
        PredictRequest.model_validate({"projects": [{"title": ""}], "threshold": "1"})
    assert describe_errors(caught.value, "; ") == (
        "projects.0.title: String should have at least 1 character (string_too_short); "
        "threshold: Input should be a valid number (float_type)"
    )


def test_another_bentoml_version_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(bentoml_internals.bentoml, "__version__", "1.5.0")
    with pytest.raises(
        RuntimeError, match=r"written for BentoML 1\.3\.x and 1\.4\.x, found 1\.5\.0"
    ):
        bentoml_internals.require_known_bentoml()
