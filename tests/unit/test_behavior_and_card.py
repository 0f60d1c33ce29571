"""The behavioral suite as data, its report, and the model card: run on a real (tiny) model and
stored through their materializers."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from zenml.client import Client
from zenml.enums import VisualizationType
from zenml.io import fileio

from materializers import BehaviorReportMaterializer, ModelCardMaterializer
from project.paths import BEHAVIOR_CONFIG
from tagger import model_card
from tagger.behavior import MINIMUM_FUNCTIONALITY, BehaviorReport, BehaviorSuite, run_suite
from tagger.data import LABELS
from tagger.evaluation import score_predictions
from tagger.model import TextClassifier

pytestmark = pytest.mark.usefixtures("zenml_stack")


@pytest.fixture(scope="module")
def untrained(tiny_model_dir: Path) -> TextClassifier:
    return TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=32)


def _materializer(cls):
    store = Client().active_stack.artifact_store
    uri = os.path.join(store.path, "behavior-tests", uuid.uuid4().hex)  # noqa: PTH118
    fileio.makedirs(uri)
    return cls(uri=uri, artifact_store=store)


def test_the_shipped_suite_reads_and_expands_every_case():
    suite = BehaviorSuite.from_yaml(BEHAVIOR_CONFIG)
    checks = suite.checks()
    kinds = {kind for kind, *_ in checks}
    assert kinds == {"minimum_functionality", "invariance", "directional"}
    invariance = [c for c in checks if c[0] == "invariance"]
    assert len(invariance) == sum(len(case.fills) for case in suite.invariance)
    assert all("{fill}" not in description for *_, description, _ in checks)


def test_a_bad_case_is_refused_when_read():
    with pytest.raises(ValueError, match="fills"):
        BehaviorSuite.model_validate(
            {"invariance": [{"name": "x", "title": "t", "description": "{fill}", "tag": "mlops"}]}
        )


def test_the_report_says_what_failed_and_round_trips(untrained: TextClassifier):
    title = "Object detection for drones"
    said = untrained.predict([title])[0]
    other = next(label for label in LABELS if label != said)
    suite = BehaviorSuite.model_validate(
        {
            MINIMUM_FUNCTIONALITY: [
                {"name": "as-said", "title": title, "tag": said},
                {"name": "as-other", "title": title, "tag": other},
            ]
        }
    )
    report = run_suite(untrained, suite)
    assert [r.case for r in report.failures()] == ["as-other"]
    assert report.blocks_production and report.pass_rates() == {MINIMUM_FUNCTIONALITY: 0.5}

    materializer = _materializer(BehaviorReportMaterializer)
    materializer.save(report)
    assert materializer.load(BehaviorReport) == report
    (uri,) = materializer.save_visualizations(report)
    html = Path(uri).read_text()
    assert "BLOCKS PRODUCTION" in html and "as-other" in html
    assert materializer.extract_metadata(report)["blocks_production"] is True


def test_a_case_for_a_tag_the_model_lacks_is_an_error(untrained: TextClassifier):
    suite = BehaviorSuite.model_validate(
        {MINIMUM_FUNCTIONALITY: [{"name": "r", "title": "Robot arm", "tag": "robotics"}]}
    )
    with pytest.raises(ValueError, match=r"tags the model does not have: \['robotics'\]"):
        run_suite(untrained, suite)


def test_the_model_card_holds_every_section_and_shows_as_markdown(untrained, projects):
    sample = projects.head(40)
    evaluation = score_predictions(sample, sample["tag"].tolist(), LABELS)
    behavior = run_suite(untrained, BehaviorSuite.from_yaml(BEHAVIOR_CONFIG))
    decision = {
        "stage": "staging",
        "reason": "does not beat production",
        "metric": "f1",
        "primary": "candidate test split",
        "sets": [{"name": "candidate test split", "rows": 40, "candidate": 1.0, "production": 0.9}],
    }
    card = model_card.render(
        "project-tagger",
        3,
        {
            "source": "data/projects.csv",
            "fingerprint": "abc123",
            "rows": 40,
            "tag_counts": {"mlops": 5},
        },
        {
            "base_model": "tiny",
            "best_epoch": 2,
            "epochs_run": 4,
            "params": {"learning_rate": 0.005, "lexical_weight": 0.3, "seed_ensemble": 2},
        },
        evaluation,
        behavior,
        decision,
    )
    text = card.markdown
    assert text.startswith("# Model card: project-tagger version 3")
    assert "`abc123`" in text and "mlops 5" in text
    assert "| candidate test split (primary) | 40 | 1.0000 | 0.9000 |" in text
    assert "**staging**: does not beat production" in text
    assert "A hybrid: 0.3 of every answer comes from TF-IDF" in text
    assert "A seed ensemble: the probabilities of 2 trainings" in text
    assert "## Known limits" in text

    materializer = _materializer(ModelCardMaterializer)
    materializer.save(card)
    assert materializer.load(model_card.ModelCard) == card
    assert list(materializer.save_visualizations(card).values()) == [VisualizationType.MARKDOWN]
