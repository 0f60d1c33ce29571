"""The local ZenML server and dashboard as an open-source user sees them: a real server in a
throw-away config and a real training run against it, checked through the REST API, in headless
Chromium driven over the DevTools protocol, and in the MLflow UI's REST API.

The open-source dashboard shows a run's DAG and opens each artifact's visualization from it; its
model and artifact pages are ZenML Pro, so the registry state is checked where a user without
Pro finds it: the promotion report on the run page, and MLflow's registered model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from project import names
from project.paths import PROJECT_ROOT, TRAIN_CONFIG
from stacks.sandbox import background_server, free_port, throwaway_env
from tests.dashboard.cdp import Page, chromium
from tests.helpers import NO_BEHAVIOR_CASES, TRAINING_STEPS

pytestmark = [pytest.mark.dashboard, pytest.mark.slow]


BIN = Path(sys.executable).parent
MODEL = "dashboard-test"
ARTIFACTS = (
    names.DATASET,
    names.VALIDATION_REPORT,
    names.TRAIN_SET,
    names.VAL_SET,
    names.TEST_SET,
    names.CLASSIFIER,
    names.EVALUATION_REPORT,
    names.BEHAVIOR_REPORT,
    names.RECORDED_KEYS,
    names.STAGE,
    names.PROMOTION_REPORT,
    names.MODEL_CARD,
)


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
    """The server's API has the model version and its links; only its dashboard page is Pro."""
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
        "promotion_report",
        "model_card",
    } <= set(by_name)
    assert by_name["classifier"]["body"]["type"] == "ModelArtifact"
    for name in ("validation_report", "classifier", "evaluation_report", "promotion_report"):
        shown = _get(url, f"/artifact_versions/{by_name[name]['id']}/visualize", index=0)
        assert shown["type"] == "html" and "<table>" in shown["value"], name
    assert (
        "Confusion matrix"
        in _get(url, f"/artifact_versions/{by_name['evaluation_report']['id']}/visualize", index=0)[
            "value"
        ]
    )


@pytest.fixture
def page(server, trained, tmp_path: Path) -> Iterator[Page]:
    """A fresh headless Chromium on the run's page, past the first-visit onboarding form."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (`make chromium` installs it)")
    url, _ = server
    requests.put(
        f"{url}/api/v1/current-user",
        json={"email_opted_in": False, "user_metadata": {"finished_onboarding_survey": True}},
        timeout=30,
    ).raise_for_status()
    with chromium(executable, tmp_path / "chrome") as tab:
        tab.goto(f"{url}/projects/default/runs/{trained['run_id']}")
        yield tab


_NODE_LABELS = (
    "[...document.querySelectorAll('.react-flow__node-{kind}')]"
    ".map(e => e.innerText.trim().split('\\n')[0])"
)


def _node(label: str) -> str:
    return (
        "[...document.querySelectorAll('.react-flow__node')]"
        f".find(e => e.innerText.trim().split('\\n')[0] === {json.dumps(label)})"
    )


def _in_sheet(selector: str, text: str) -> str:
    return (
        f"[...document.querySelectorAll('[role=dialog] {selector}')]"
        f".find(e => e.innerText.trim() === {json.dumps(text)})"
    )


def _drawn_nodes(page: Page, timeout: float) -> dict[str, list[str]]:
    """The labels of the DAG's step and artifact nodes, once every one expected is drawn."""
    deadline = time.monotonic() + timeout
    while True:
        drawn = {k: page.evaluate(_NODE_LABELS.format(kind=k)) for k in ("step", "artifact")}
        if set(TRAINING_STEPS) <= set(drawn["step"]) and set(ARTIFACTS) <= set(drawn["artifact"]):
            return drawn
        assert time.monotonic() < deadline, f"the DAG was not drawn in {timeout:.0f} s: {drawn}"
        time.sleep(0.5)


def test_the_run_page_draws_every_step_and_artifact(page: Page, trained, tmp_path: Path):
    drawn = _drawn_nodes(page, timeout=60)
    assert sorted(drawn["step"]) == sorted(TRAINING_STEPS)
    assert sorted(drawn["artifact"]) == sorted(ARTIFACTS)
    text = page.wait_for_text([trained["run_name"], "Run Insights", "completed"], timeout=30)
    assert "Calculating DAG Visualization" not in text
    assert page.screenshot(tmp_path / "run-page.png").stat().st_size > 30_000


def _open_visualization(page: Page, artifact: str, needles: list[str], shot: Path) -> str:
    """Artifact node -> its sheet -> Visualization (-> Load Preview, asked for HTML), as a user
    clicks; the text shown once every needle is in it. HTML views live in a sandboxed frame."""
    page.click(_node(artifact), f"the {artifact} node")
    page.click(_in_sheet("[role=tab]", "Visualization"), f"{artifact}'s Visualization tab")
    load_preview = _in_sheet("button", "Load Preview")
    deadline = time.monotonic() + 30
    while True:
        if page.evaluate(f"!!({load_preview})"):
            page.click(load_preview, "Load Preview")
        sheet = page.evaluate("document.querySelector('[role=dialog]')?.innerText ?? ''")
        shown = "\n".join([sheet, *page.frame_texts()])
        if all(needle in shown for needle in needles):
            break
        missing = [n for n in needles if n not in shown]
        assert time.monotonic() < deadline, f"{artifact}: {missing} not shown in 30 s: {shown}"
        time.sleep(0.5)
    page.screenshot(shot)
    page.press_escape()
    page.wait_for("!document.querySelector('[role=dialog]')", 10, f"{artifact}'s sheet closing")
    return shown


def test_the_reports_open_from_the_dag(page: Page, trained, tmp_path: Path):
    version, stage = trained["model_version"], trained["stage"]
    evaluation = _open_visualization(
        page,
        names.EVALUATION_REPORT,
        ["Confusion matrix", f"weighted F1 {trained['metrics']['f1']:.3f}"],
        tmp_path / "evaluation-report.png",
    )
    assert "Per class" in evaluation and "natural-language-processing" in evaluation

    promotion = _open_visualization(
        page,
        names.PROMOTION_REPORT,
        [f"Promotion of {MODEL} version {version}", "Model versions after this promotion"],
        tmp_path / "promotion-report.png",
    )
    assert f"Decision: {stage}:" in promotion
    assert "production before it: none" in promotion  # the first version of the model
    assert "candidate test split (primary)" in promotion
    assert f"{version} (this run)\t{stage}\t" in promotion

    card = _open_visualization(
        page,
        names.MODEL_CARD,
        [f"Model card: {MODEL} version {version}", "Intended use", "Known limits"],
        tmp_path / "model-card.png",
    )
    assert stage in card.split("Promotion", 1)[1]
    for shot in ("evaluation-report", "promotion-report", "model-card"):
        assert (tmp_path / f"{shot}.png").stat().st_size > 30_000


def test_model_and_artifact_pages_are_zenml_pro(page: Page, server):
    """What the README tells open-source users: these pages are upsells, the run page is not."""
    url, _ = server
    for section, command in (("models", "zenml model list"), ("artifacts", "zenml artifact list")):
        page.goto(f"{url}/projects/default/{section}")
        text = page.wait_for_text(["ZenML Pro", command], timeout=30)
        assert MODEL not in text, section


@pytest.fixture
def mlflow_ui(server, trained, tmp_path: Path) -> Iterator[str]:
    """The MLflow UI on the backend the training run wrote to, as the README starts it."""
    _, env = server
    backend = Path(env["TAGGER_ARTIFACT_ROOT"]) / "mlflow.db"
    assert backend.exists(), f"the local stack's MLflow store is not at {backend}"
    port = free_port()
    command = [
        BIN / "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{backend}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    # its background job runner is for MLflow's GenAI features: two processes fewer to start;
    # uvicorn stops at once, the mlflow CLI around it can linger for seconds after
    with background_server(
        command,
        f"{url}/health",
        tmp_path / "mlflow.log",
        "the MLflow UI",
        env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        cwd=tmp_path,
        timeout=90,
        stop_grace_s=3,
    ):
        yield url


def test_the_mlflow_ui_has_the_registered_model_and_its_production_alias(mlflow_ui, trained):
    assert trained["stage"] == "production"  # the model's first version
    api = f"{mlflow_ui}/api/2.0/mlflow/registered-models"
    model = requests.get(f"{api}/get", params={"name": MODEL}, timeout=30)
    model.raise_for_status()
    registered = model.json()["registered_model"]
    assert registered["name"] == MODEL

    alias = requests.get(f"{api}/alias", params={"name": MODEL, "alias": "production"}, timeout=30)
    alias.raise_for_status()
    production = alias.json()["model_version"]
    assert "production" in production["aliases"]
    assert {"key": "zenml_version", "value": str(trained["model_version"])} in production["tags"]
    assert {"alias": "production", "version": production["version"]} in registered["aliases"]
