"""The promotion report the open-source dashboard opens from a run's DAG: stored as JSON, shown as
HTML with the decision, the scores per evaluation set and the versions with their stages."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from zenml.client import Client
from zenml.enums import VisualizationType
from zenml.io import fileio

from materializers import PromotionReport, PromotionReportMaterializer

pytestmark = pytest.mark.usefixtures("zenml_stack")

STAGING = PromotionReport(
    model="project-tagger",
    candidate=3,
    previous_production=2,
    decision={
        "stage": "staging",
        "reason": "failed floors on production's test split",
        "metric": "f1",
        "candidate_score": 0.91,
        "production_score": 0.88,
        "failed_floors": ["production's test split: f1_mlops 0.412 < 0.5"],
        "primary": "candidate test split",
        "sets": [
            {"name": "candidate test split", "rows": 98, "candidate": 0.91, "production": 0.88},
            {"name": "production's test split", "rows": 97, "candidate": 0.79, "production": 0.9},
        ],
        "failed_behavior": ["minimum_functionality/yolo"],
    },
    versions=[
        {
            "number": n,
            "stage": stage,
            "created": f"2026-11-0{n}T10:00:00",
            "f1": f1,
            "accuracy": f1,
            "mlflow_run_id": f"run{n}",
        }
        for n, stage, f1 in [(1, "archived", 0.8), (2, "production", 0.88), (3, "staging", 0.91)]
    ],
)


def test_the_promotion_report_round_trips_and_shows_the_registry():
    store = Client().active_stack.artifact_store
    uri = str(Path(store.path) / "promotion-report-tests" / uuid.uuid4().hex)
    fileio.makedirs(uri)
    materializer = PromotionReportMaterializer(uri=uri, artifact_store=store)
    materializer.save(STAGING)
    assert materializer.load(PromotionReport) == STAGING
    assert materializer.extract_metadata(STAGING) == {
        "stage": "staging",
        "candidate": 3,
        "previous_production": 2,
    }

    ((path, kind),) = materializer.save_visualizations(STAGING).items()
    assert kind == VisualizationType.HTML
    html = Path(path).read_text()
    assert "Promotion of project-tagger version 3" in html
    assert "production before it: <b>version 2</b>" in html
    assert "<span class='bad'>staging</span>: failed floors on production&#x27;s test split" in html
    assert "<td class='l'>candidate test split <b>(primary)</b></td><td>98</td>" in html
    assert "<td>0.7900</td><td>0.9000</td><td>-0.1100</td>" in html
    assert "<li>production&#x27;s test split: f1_mlops 0.412 &lt; 0.5</li>" in html
    assert "<li>minimum_functionality/yolo</li>" in html
    assert "<td class='l'>2</td><td>production</td>" in html
    assert "<td class='l'><b>3 (this run)</b></td><td>staging</td>" in html
