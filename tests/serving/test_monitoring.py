"""The continuous-training loop on a real served Bento: recorded traffic -> `run.py monitor` ->
alarms -> feedback -> retraining. One Bento of the production version serves the whole module,
recording into the module's directory; each window is exactly the records one burst of
traffic added there (copied to a directory of its own), so windows never mix."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml
from zenml import Model
from zenml.client import Client
from zenml.enums import ModelStages

from pipelines import training_pipeline
from project import names
from project.paths import MONITOR_CONFIG, TRAIN_CONFIG
from serving.package import build_bento, save_model
from serving.records import FEEDBACK, PREDICTIONS, record_files
from stacks.sandbox import serve_bento
from tests.helpers import NO_BEHAVIOR_CASES, run_cli
from tests.serving.conftest import REQUIREMENTS
from workflows.monitoring import monitor

pytestmark = [pytest.mark.serving, pytest.mark.slow, pytest.mark.usefixtures("zenml_stack")]

MODEL = "project-tagger"


@pytest.fixture(scope="module")
def production(tiny_params: dict) -> int:
    """The session's production version (trained here when no module made one yet)."""
    client = Client()
    try:
        return client.get_model_version(MODEL, ModelStages.PRODUCTION).number
    except KeyError:
        run = training_pipeline.with_options(
            config_path=str(TRAIN_CONFIG),
            model=Model(name=MODEL),
            parameters={"train_params": tiny_params, "behavior_suite": NO_BEHAVIOR_CASES},
        )()
        return run.model_version.number


@pytest.fixture(scope="module")
def recorded(production: int, tmp_path_factory: pytest.TempPathFactory):
    """The production version served by `bentoml serve`, recording into its own directory."""
    version = Client().get_model_version(MODEL, production)
    classifier = version.get_model_artifact(names.CLASSIFIER).load()
    bento = build_bento(save_model(classifier, zenml_version=production), REQUIREMENTS)
    root = tmp_path_factory.mktemp("monitoring")
    env = {**os.environ, "TAGGER_RECORD_DIRECTORY": str(root / "records")}
    with serve_bento(str(bento.tag), root / "serve.log", env) as served:
        yield served.url, root / "records"


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory, tiny_params: dict) -> tuple[Path, Path]:
    """The project's monitor and train configs, with the tiny model and no behavior cases."""
    folder = tmp_path_factory.mktemp("configs")
    monitor_config = yaml.safe_load(MONITOR_CONFIG.read_text())
    monitor_config["retrain"] = {"min_feedback": 20, "redeploy": False}
    train_config = yaml.safe_load(TRAIN_CONFIG.read_text())
    train_config["parameters"]["train_params"] = tiny_params
    train_config["parameters"]["behavior_suite"] = NO_BEHAVIOR_CASES
    paths = folder / "monitor.yaml", folder / "train.yaml"
    paths[0].write_text(yaml.safe_dump(monitor_config))
    paths[1].write_text(yaml.safe_dump(train_config))
    return paths


def _window(records: Path, destination: Path, send: Callable[[], int], feedback: int = 0) -> Path:
    """The records that `send` (returning how many answers it asked for; `feedback` more
    feedback records) adds, alone in `destination`: the bytes each file gained, once the
    server's writer has written them."""
    kinds = (PREDICTIONS, FEEDBACK)
    before = {p: p.stat().st_size for kind in kinds for p in record_files(records, kind)}
    expected = {PREDICTIONS: send(), FEEDBACK: feedback}
    deadline = time.monotonic() + 30
    while True:
        added = {
            p: p.read_bytes()[before.get(p, 0) :]
            for kind in kinds
            for p in record_files(records, kind)
        }
        lines = {
            kind: sum(chunk.count(b"\n") for p, chunk in added.items() if p.parent.name == kind)
            for kind in kinds
        }
        if lines == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert lines == expected
    for path, chunk in added.items():
        target = destination / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(chunk)
    return destination


def _send(url: str, frame: pd.DataFrame, batch: int = 10) -> tuple[int, list[tuple[str, list]]]:
    """Every row of `frame` to /predict in requests of `batch` projects; the answers by id."""
    answered = []
    for start in range(0, len(frame), batch):
        rows = frame.iloc[start : start + batch]
        projects = [
            {"title": t, "description": d}
            for t, d in zip(rows["title"], rows["description"], strict=True)
        ]
        response = requests.post(f"{url}/predict", json={"projects": projects}, timeout=60)
        assert response.status_code == 200, response.text
        answered.append((response.headers["x-request-id"], response.json()))
    return len(frame), answered


def _normal(projects: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return projects.sample(n, random_state=seed)[["title", "description"]].fillna("")


def test_normal_traffic_raises_no_alarm(recorded, projects, configs, tmp_path):
    url, records = recorded
    window = _window(records, tmp_path / "normal", lambda: _send(url, _normal(projects, 60, 1))[0])
    done = run_cli(
        "monitor", "--config", str(configs[0]), "--records-dir", str(window), "--since", "1h"
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "60 answers" in done.stdout and "no alarm" in done.stdout


def test_much_longer_texts_exit_3_naming_the_drifted_metrics(recorded, projects, configs, tmp_path):
    url, records = recorded
    shifted = _normal(projects, 60, 2)
    shifted["description"] = (shifted["description"] + " ") * 8

    window = _window(records, tmp_path / "long", lambda: _send(url, shifted)[0])
    done = run_cli("monitor", "--config", str(configs[0]), "--records-dir", str(window))
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    alarms = [line for line in done.stdout.splitlines() if line.startswith("ALARM ")]
    assert any(line.startswith("ALARM description_length: drift, ks") for line in alarms), alarms


def test_out_of_domain_text_and_a_corrupt_file(recorded, configs, tmp_path):
    url, records = recorded
    dishes = ["apple pie", "lentil soup", "ramen", "paella", "banana bread", "goulash"]
    cooking = pd.DataFrame(
        {
            "title": [f"Grandma's {d} number {i}" for i in range(10) for d in dishes],
            "description": [
                f"Simmer the {d} with garlic, butter and thyme for {i + 20} minutes, then serve warm."
                for i in range(10)
                for d in dishes
            ],
        }
    )
    window = _window(records, tmp_path / "ood", lambda: _send(url, cooking)[0])
    (window / PREDICTIONS / "predictions.broken.jsonl").write_bytes(b"\x80\x81 not a record\n{\n")
    # each API worker writes its own file: cut a line off one that holds records
    good = max(
        (p for p in record_files(window, PREDICTIONS) if ".api-" in p.name),
        key=lambda p: p.stat().st_size,
    )
    good.write_text(good.read_text() + "{this line is cut off\n")

    outcome = monitor(records_dir=str(window), since="1h", config=configs[0])
    report = outcome.report
    assert report.rows == 60  # every good record counted, nothing lost
    skipped = " ".join(report.window["skipped"])
    assert "predictions.broken.jsonl" in skipped and f"1 corrupt line(s) in {good}" in skipped
    drifted = {c.name for c in report.alarms}
    assert {"rare_token_share", "embedding_mean_shift"} <= drifted, outcome.lines()
    assert outcome.exit_code == 3


def test_no_traffic_is_no_data_and_exit_0(production, configs, tmp_path):
    done = run_cli(
        "monitor", "--config", str(configs[0]), "--records-dir", str(tmp_path / "nothing")
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no data" in done.stdout


def test_wrong_answers_lower_live_f1_then_retraining_uses_the_feedback(
    recorded, projects, configs, tmp_path
):
    url, records = recorded
    labels = sorted(projects["tag"].unique())
    fresh = _normal(projects, 40, 3)
    fresh["title"] = [f"{t} (community fork {i})" for i, t in enumerate(fresh["title"])]

    def traffic_and_feedback() -> int:
        count, answered = _send(url, fresh)
        for request_id, answers in answered:
            for item, answer in enumerate(answers):
                wrong = labels[(labels.index(answer["tag"]) + 1) % len(labels)]
                body = {"request_id": request_id, "item": item, "tag": wrong}
                response = requests.post(f"{url}/feedback", json=body, timeout=30)
                assert response.status_code == 200, response.text
        return count

    window = _window(records, tmp_path / "feedback", traffic_and_feedback, feedback=40)
    versions_before = {v.number for v in Client().list_model_versions(MODEL, size=100).items}

    outcome = monitor(
        records_dir=str(window),
        since="1h",
        retrain=True,
        config=configs[0],
        train_config=configs[1],
    )
    live_f1 = next(c for c in outcome.report.checks if c.name == "live_f1")
    assert live_f1.alarm and live_f1.value == 0.0
    assert outcome.exit_code == 3
    assert outcome.retraining is not None, outcome.lines()
    number = outcome.retraining["model_version"]
    assert number not in versions_before
    assert any(m.startswith("retrained on retraining_dataset") for m in outcome.messages)

    # the new version's data is the monitoring run's retraining set: production's data + feedback
    client = Client()
    new = client.get_model_version(MODEL, number)
    dataset_info = new.run_metadata["dataset"]
    assert dataset_info["feedback_rows"] == 40
    assert dataset_info["source"].startswith("retraining:")
    monitoring_run = client.get_pipeline_run(outcome.run_id)
    retraining_set = monitoring_run.steps["build_retraining_set"].outputs[names.RETRAINING_DATASET][
        0
    ]
    training_run = client.get_pipeline_run(outcome.retraining["run_id"])
    inputs = training_run.steps["split_data"].inputs["dataset"]
    assert (inputs[0] if isinstance(inputs, list) else inputs).id == retraining_set.id
    frame = retraining_set.load()
    assert frame["title"].str.contains("community fork").sum() == 40
    assert json.dumps(outcome.lines())  # printable as the CLI prints it
    shutil.rmtree(window)
