"""The served API's contract: hostile requests get a 4xx with a reason, never a 5xx or a hang,
and the OpenAPI spec at /docs.json is what the server really does (schemathesis checks it)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.serving, pytest.mark.slow]

JSON = {"content-type": "application/json"}

# method, path, headers, body -> status, a substring of the `detail`
HOSTILE = [
    ("POST", "/predict", {"content-type": "text/plain"}, b"YOLO", 415, "'text/plain'"),
    ("POST", "/predict", {"content-type": "application/xml"}, b"<t>YOLO</t>", 415, "xml"),
    ("POST", "/predict", {"content-type": "multipart/form-data"}, b"--x\r\n", 415, "multipart"),
    (
        "POST",
        "/predict",
        {"content-type": "application/x-www-form-urlencoded"},
        b"title=a",
        415,
        "urlencoded",
    ),
    (
        "POST",
        "/predict",
        {"content-type": "application/vnd.bentoml+pickle"},
        b"\x80\x04N.",
        415,
        "pickle",
    ),
    ("POST", "/metadata", {"content-type": "text/plain"}, b"{}", 415, "send application/json"),
    (
        "POST",
        "/predict",
        JSON,
        b'{"title": "a", "threshold": "0.5"}',
        400,
        "threshold: Input should be a valid number",
    ),
    ("POST", "/predict", JSON, b'{"title": "a", "threshold": true}', 400, "(float_type)"),
    ("POST", "/predict", JSON, b'{"title": "a", "projects": [{"title": "b"}]}', 400, "not both"),
    (
        "POST",
        "/predict",
        JSON,
        b'{"title": "a", "treshold": 0.5}',
        400,
        "treshold: Extra inputs are not permitted",
    ),
    (
        "POST",
        "/predict",
        JSON,
        b'{"projects": [{"title": "a", "tags": []}]}',
        400,
        "projects.0.tags",
    ),
    ("POST", "/predict", JSON, b"", 400, "projects: Field required"),
    ("POST", "/predict", JSON, b"[]", 400, "(model_type)"),
    ("POST", "/predict", JSON, b'{"title": "a"', 400, "(json_invalid)"),
    ("POST", "/predict", JSON, b'{"title": "\xff"}', 400, "(json_invalid)"),
    ("POST", "/predict", JSON, b'{"title": " \\t\\n"}', 400, "string_pattern_mismatch"),
    ("POST", "/metadata", JSON, b"[1]", 400, "(model_type)"),
    ("GET", "/predict", {}, b"", 405, "answers POST"),
    ("PUT", "/metadata", {}, b"", 405, "answers POST"),
    ("DELETE", "/metrics", {}, b"", 405, "/metrics answers GET"),
    ("POST", "/metrics", JSON, b"{}", 405, "/metrics answers GET"),
    ("TRACE", "/metrics", {}, b"", 405, "/metrics answers GET"),
    ("POST", "/readyz", JSON, b"{}", 405, "/readyz answers GET"),
    ("POST", "/predict", {**JSON, "content-length": "99999999"}, None, 413, "at most"),
]


def _raw(url: str, request: bytes, wait: float) -> tuple[bytes, float]:
    """Send bytes as they are (a lying Content-Length too) and read until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer, time.monotonic() - started


@pytest.mark.parametrize(("method", "path", "headers", "body", "status", "reason"), HOSTILE)
def test_hostile_requests_get_a_4xx_with_the_reason(
    served, method, path, headers, body, status, reason
):
    if body is None:  # a Content-Length that no client library would send
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = f"{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{head}\r\n"
        answer, _ = _raw(served.url, request.encode(), wait=10)
        assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
        answer_body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    else:
        response = requests.request(
            method, f"{served.url}{path}", headers=headers, data=body, timeout=30
        )
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        answer_body = response.json()
        if status == 405:
            assert response.headers["allow"] in ("POST", "GET, HEAD")
    assert set(answer_body) == {"error", "detail"}
    assert isinstance(answer_body["detail"], str)
    assert reason in answer_body["detail"]


def test_a_body_that_never_arrives_is_cut_off(served, body_timeout_s: float):
    request = (
        b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b'content-length: 100\r\n\r\n{"title": '
    )
    answer, took = _raw(served.url, request, wait=body_timeout_s + 20)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert f"not complete after {body_timeout_s:g}s (10 bytes read)".encode() in answer
    assert body_timeout_s <= took < body_timeout_s + 5


def test_json_with_a_charset_or_without_a_content_type_is_served(served):
    body = b'{"title": "YOLO for drones"}'
    for headers in ({"content-type": "Application/JSON; charset=utf-8"}, {}):
        response = requests.post(f"{served.url}/predict", data=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()[0]["tag"]


def test_a_rejection_is_one_warning_line_not_a_traceback(served):
    marker = "contract-log-marker"
    response = requests.post(f"{served.url}/predict", json={"title": "a", marker: 1}, timeout=30)
    assert response.status_code == 400
    time.sleep(0.5)  # the log is written by the server process
    lines = [line for line in served.log.read_text().splitlines() if marker in line]
    assert len(lines) == 1
    assert "[WARNING]" in lines[0] and "POST /predict -> 400 invalid request" in lines[0]
    log = served.log.read_text()
    assert "Traceback" not in log and "[ERROR]" not in log


def test_the_spec_says_what_the_server_answers(served):
    spec = requests.get(f"{served.url}/docs.json", timeout=30).json()
    predict = spec["paths"]["/predict"]["post"]
    assert predict["requestBody"]["required"] is True
    variants = predict["requestBody"]["content"]["application/json"]["schema"]["anyOf"]
    assert [v["$ref"].rsplit("/", 1)[1] for v in variants] == [
        "OneProjectRequest",
        "ProjectsRequest",
    ]
    schemas = spec["components"]["schemas"]
    assert schemas["ProjectsRequest"]["additionalProperties"] is False
    assert schemas["ErrorBody"]["properties"]["detail"]["type"] == "string"
    for status in ("400", "408", "413", "415"):
        assert predict["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }


def test_schemathesis_finds_nothing(served, tmp_path: Path):
    """Every check schemathesis has, on every operation in the spec, seeded and bounded."""
    result = subprocess.run(
        [
            Path(sys.executable).parent / "st",
            "run",
            f"{served.url}/docs.json",
            "--checks=all",
            "--seed=1",
            "--max-examples=100",
            "--workers=1",
            "--generation-database=none",
            "--no-color",
            "--request-timeout=30",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert result.returncode == 0 and counts, output[-5000:]
    generated, passed = map(int, counts.groups())
    assert generated == passed >= 300, output[-2000:]
    assert "Tested: 7" in output  # /predict, /feedback, /metadata and BentoML's four GET endpoints
