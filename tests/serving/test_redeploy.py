"""A redeploy under steady load through the stack's BentoML model deployer (local stack, throw-away
store): real Bento servers, real HTTP at concurrency 8, and not one request lost."""

from __future__ import annotations

import pytest
import requests

from project.paths import PROJECT_ROOT
from serving import deployer
from serving.package import build_bento, save_model
from serving.smoke import check_answers
from stacks.sandbox import SteadyLoad, free_port
from tests.serving.conftest import REQUIREMENTS

pytestmark = [pytest.mark.serving, pytest.mark.slow, pytest.mark.usefixtures("zenml_stack")]


def _metadata(url: str) -> dict:
    return requests.post(f"{url}/metadata", json={}, timeout=30).json()


def test_a_redeploy_under_load_loses_no_request(classifier, projects):
    first = build_bento(save_model(classifier, zenml_version=1), REQUIREMENTS)
    # built before the first serves: each Bento serves the models it pinned, not the newest
    second = build_bento(save_model(classifier, zenml_version=2), REQUIREMENTS)
    port = free_port()
    checked: list[str] = []

    def start(bento, version: int) -> str:
        def check(url: str) -> None:
            checked.append(url)
            check_answers(url, {str(version): classifier})

        return deployer.start_server(bento, port, 180, version, str(PROJECT_ROOT), {}, check)

    try:
        url = start(first, 1)
        assert _metadata(url)["zenml_model_version"] == "1"
        bodies = [
            {"title": t, "description": d}
            for t, d in zip(projects["title"], projects["description"].fillna(""), strict=True)
        ]
        with SteadyLoad(f"{url}/predict", bodies, concurrency=8) as load:
            assert start(second, 2) == url
            during = load.ok
        assert load.failed == 0, load.reasons
        assert during > 0 and load.ok > during
        assert _metadata(url)["zenml_model_version"] == "2"
        # each server was smoke-tested on its own port before it took traffic
        assert len(checked) == 2 and url not in checked

        records = deployer.servers()
        assert len(records) == 1 and records[0].is_running
        assert records[0].config.bento_tag == str(second.tag)
        lines = deployer.describe_servers()
        assert lines[0] == f"front  {url}  -> {checked[1]}"
        assert " live " in lines[1] and str(second.tag) in lines[1]
    finally:
        removed = deployer.remove_servers()
    assert removed == 1
    assert deployer.fronts() == [] and deployer.servers() == []
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
