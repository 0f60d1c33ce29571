"""The local ZenML server and dashboard: a real server in a throw-away config, a real training run
against it, checked through the REST API and in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from project.paths import PROJECT_ROOT, TRAIN_CONFIG
from stacks.sandbox import free_port, throwaway_env
from tests.helpers import NO_BEHAVIOR_CASES, TRAINING_STEPS

pytestmark = [pytest.mark.dashboard, pytest.mark.slow]


BIN = Path(sys.executable).parent
MODEL = "dashboard-test"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,1000",
    "--virtual-time-budget=25000",
]


@pytest.fixture(scope="module")
def server(session_dir: Path):
    """`zenml login --local` in its own config: the test session's store is left alone."""
    env = {**os.environ, **throwaway_env(session_dir / "dashboard")}
    port = free_port()
    subprocess.run(
        [BIN / "zenml", "login", "--local", "--port", str(port)],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    try:
        yield f"http://127.0.0.1:{port}", env
    finally:
        subprocess.run(
            [BIN / "zenml", "logout", "--local"], env=env, capture_output=True, timeout=120
        )


@pytest.fixture(scope="module")
def trained(server, tiny_params: dict, session_dir: Path) -> dict:
    """`python run.py train` as a user runs it, connected to the server."""
    _, env = server
    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    config["model"]["name"] = MODEL
    config["parameters"]["train_params"] = tiny_params
    config["parameters"]["behavior_suite"] = NO_BEHAVIOR_CASES
    config_path = session_dir / "dashboard" / "train.yaml"
    config_path.write_text(yaml.safe_dump(config))
    results = session_dir / "dashboard" / "results.json"
    for command in (
        [sys.executable, "-m", "stacks.register", "--activate", "local"],
        [
            sys.executable,
            "run.py",
            "train",
            "--config",
            str(config_path),
            "--results-fp",
            str(results),
        ],
    ):
        done = subprocess.run(
            command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(results.read_text())


def _get(url: str, path: str, **params) -> dict:
    response = requests.get(f"{url}/api/v1{path}", params=params, timeout=30)
    response.raise_for_status()
    return response.json()


def test_run_and_steps_are_on_the_server(server, trained):
    url, _ = server
    run = _get(url, f"/runs/{trained['run_id']}")
    assert run["body"]["status"] == "completed"
    steps = _get(url, "/steps", pipeline_run_id=trained["run_id"], size=50)["items"]
    assert {s["name"]: s["body"]["status"] for s in steps} == dict.fromkeys(
        TRAINING_STEPS, "completed"
    )


def test_model_version_links_every_artifact_with_visualizations(server, trained):
    url, _ = server
    versions = _get(url, "/model_versions", model=MODEL, size=10)["items"]
    (version,) = [v for v in versions if v["body"]["number"] == trained["model_version"]]
    assert version["body"]["stage"] == trained["stage"]
    metadata = _get(url, f"/model_versions/{version['id']}", hydrate=True)["metadata"][
        "run_metadata"
    ]
    assert {"dataset", "training", "metrics", "mlflow_run_id", "promotion"} <= set(metadata)

    linked = _get(url, "/artifact_versions", model_version_id=version["id"], size=50)["items"]
    by_name = {a["body"]["artifact"]["name"]: a for a in linked}
    assert {
        "dataset",
        "validation_report",
        "train_set",
        "test_set",
        "classifier",
        "evaluation_report",
    } <= set(by_name)
    assert by_name["classifier"]["body"]["type"] == "ModelArtifact"
    for name in ("validation_report", "classifier", "evaluation_report"):
        shown = _get(url, f"/artifact_versions/{by_name[name]['id']}/visualize", index=0)
        assert shown["type"] == "html" and "<table>" in shown["value"], name
    assert (
        "Confusion matrix"
        in _get(url, f"/artifact_versions/{by_name['evaluation_report']['id']}/visualize", index=0)[
            "value"
        ]
    )


def test_dashboard_renders_the_run_page(server, trained, tmp_path: Path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    url, _ = server
    # skip the first-visit onboarding form, as a user would by filling it in
    requests.put(
        f"{url}/api/v1/current-user",
        json={"email_opted_in": False, "user_metadata": {"finished_onboarding_survey": True}},
        timeout=30,
    ).raise_for_status()
    page = f"{url}/projects/default/runs/{trained['run_id']}"
    browser = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chrome'}"]
    screenshot = tmp_path / "run-page.png"
    subprocess.run([*browser, f"--screenshot={screenshot}", page], capture_output=True, timeout=120)
    dom = subprocess.run(
        [*browser, "--dump-dom", page], capture_output=True, text=True, timeout=120
    ).stdout
    assert trained["run_name"] in dom
    assert "Run Insights" in dom and "completed" in dom
    assert screenshot.stat().st_size > 10_000
