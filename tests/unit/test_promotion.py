"""Promotion: the rule as a pure function, then real model versions in a throw-away store with
the MLflow registry checked after every move."""

from __future__ import annotations

import uuid

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from zenml import Model, link_artifact_to_model, save_artifact
from zenml.client import Client
from zenml.enums import ArtifactType

from registry.promotion import apply, judge, promote_by_hand, rollback, score
from registry.stages import (
    RegistryError,
    check_invariants,
    configure_mlflow,
    get_version,
    list_versions,
    set_stage,
)
from tagger.data import LABELS, split
from tagger.evaluation import EvaluationReport, score_predictions
from tagger.model import TextClassifier
from tagger.promotion import PRODUCTION, STAGING, PromotionPolicy, decide
from tagger.training import TrainConfig, train_on_frames

POLICY = PromotionPolicy(metric="f1", margin=0.01, min_f1=0.5, min_class_f1=0.1)


# -- the rule -------------------------------------------------------------------------------


def _report(projects: pd.DataFrame, right: int) -> EvaluationReport:
    """A report where the first `right` of 40 rows are predicted correctly, the rest as 'other'."""
    sample = projects.head(40)
    predictions = sample["tag"].tolist()[:right] + ["other"] * (40 - right)
    return score_predictions(sample, predictions, LABELS)


def test_no_production_and_floors_met_goes_to_production(projects):
    decision = decide(_report(projects, 36), None, POLICY)
    assert decision.stage == PRODUCTION and decision.production_score is None
    assert "no production version" in decision.reason


def test_better_by_more_than_the_margin_goes_to_production(projects):
    decision = decide(_report(projects, 38), _report(projects, 34), POLICY)
    assert decision.stage == PRODUCTION
    assert decision.candidate_score > decision.production_score + POLICY.margin


@pytest.mark.parametrize("right", [36, 30])
def test_equal_or_worse_goes_to_staging(projects, right):
    decision = decide(_report(projects, right), _report(projects, 36), POLICY)
    assert decision.stage == STAGING
    assert "does not beat production" in decision.reason


def test_better_but_within_the_margin_goes_to_staging(projects):
    wide = PromotionPolicy(margin=0.5, min_f1=0.0, min_class_f1=0.0)
    assert decide(_report(projects, 38), _report(projects, 34), wide).stage == STAGING


def test_below_the_floors_goes_to_staging_and_says_which(projects):
    strict = PromotionPolicy(min_f1=0.99, min_class_f1=0.0)
    decision = decide(_report(projects, 36), None, strict)
    assert decision.stage == STAGING
    assert decision.failed_floors == [f"f1 {decision.candidate_score:.3f} < 0.99"]


def test_unknown_metric_is_an_error(projects):
    with pytest.raises(ValueError, match="unknown promotion metric 'auc'"):
        decide(_report(projects, 36), None, PromotionPolicy(metric="auc"))


# -- real versions in a throw-away store ----------------------------------------------------


@pytest.fixture(scope="module")
def data(projects):
    return split(projects, val_size=0.1, test_size=0.2, seed=11)


@pytest.fixture(scope="module")
def good(data, tiny_params) -> TextClassifier:
    train_df, val_df, _ = data
    return train_on_frames(TrainConfig.from_dict(tiny_params), train_df, val_df).classifier


@pytest.fixture(scope="module")
def weak(tiny_model_dir) -> TextClassifier:
    return TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=64)


@pytest.fixture
def model_name(zenml_stack) -> str:
    return f"promo-{uuid.uuid4().hex[:8]}"


def _version(model_name: str, classifier: TextClassifier, test_set: pd.DataFrame):
    """A real model version with its classifier and test set linked, as a training run leaves it."""
    client = Client()
    if not client.list_models(name=model_name).items:
        client.create_model(model_name)
    version = client.create_model_version(model_name)
    model = Model(name=model_name, version=version.number)
    artifacts = [
        save_artifact(classifier, name="classifier", artifact_type=ArtifactType.MODEL),
        save_artifact(test_set, name="test_set", artifact_type=ArtifactType.DATA),
    ]
    for artifact in artifacts:
        link_artifact_to_model(artifact, model=model)
    return get_version(model_name, version.number)


def _aliases(model_name: str) -> dict[str, int]:
    aliases = configure_mlflow().get_registered_model(model_name).aliases
    return {alias: int(version) for alias, version in aliases.items()}


def _stage(model_name: str, number: int) -> str | None:
    return get_version(model_name, number).stage


def test_versions_move_through_stages_in_both_registries(model_name, good, weak, data):
    _, _, test_set = data
    v1 = _version(model_name, good, test_set)
    decision, production = judge(model_name, score(v1, test_set), test_set, POLICY)
    assert production is None and decision.stage == PRODUCTION
    apply(v1, decision.stage, decision, production, "automatic")
    assert _stage(model_name, 1) == "production"
    assert _aliases(model_name) == {"production": 1}

    v2 = _version(model_name, weak, test_set)
    decision, production = judge(model_name, score(v2, test_set), test_set, POLICY)
    assert production.number == 1 and decision.stage == STAGING
    assert decision.production_score > decision.candidate_score
    apply(v2, decision.stage, decision, production, "automatic")
    assert (_stage(model_name, 1), _stage(model_name, 2)) == ("production", "staging")
    assert _aliases(model_name) == {"production": 1, "staging": 2}

    v3 = _version(model_name, good, test_set)
    decision, _ = judge(model_name, score(v3, test_set), test_set, POLICY)
    assert decision.stage == STAGING and decision.candidate_score == decision.production_score

    promoted = get_version(model_name, 2).run_metadata["promotion"]
    assert promoted["stage"] == "staging" and promoted["previous_production"] == 1
    assert promoted["decision"]["production_score"] == pytest.approx(decision.production_score)
    rows = {row.number: row for row in list_versions(model_name)}
    assert rows[1].stage == "production" and rows[2].stage == "staging" and rows[3].stage == "-"
    assert check_invariants(model_name) == []


def test_manual_promotion_refuses_a_worse_version_unless_forced(model_name, good, weak, data):
    _, _, test_set = data
    v1 = _version(model_name, good, test_set)
    apply(v1, PRODUCTION, None, None, "manual")
    _version(model_name, weak, test_set)

    with pytest.raises(
        RegistryError, match="refusing to promote version 2 over production version 1"
    ):
        promote_by_hand(model_name, 2, "production", force=False, policy=POLICY)
    assert _stage(model_name, 1) == "production" and _aliases(model_name) == {"production": 1}

    promote_by_hand(model_name, 2, "production", force=True, policy=POLICY)
    assert (_stage(model_name, 1), _stage(model_name, 2)) == ("archived", "production")
    assert _aliases(model_name) == {"production": 2}

    restored = rollback(model_name)
    assert restored.number == 1
    assert (_stage(model_name, 1), _stage(model_name, 2)) == ("production", "archived")
    assert _aliases(model_name) == {"production": 1}
    assert check_invariants(model_name) == []


def test_bad_requests_get_clear_errors(model_name, good, data):
    _, _, test_set = data
    with pytest.raises(RegistryError, match="no production version to roll back"):
        rollback(model_name)
    v1 = _version(model_name, good, test_set)
    with pytest.raises(RegistryError, match="has no version 7"):
        promote_by_hand(model_name, 7, "production", force=False, policy=POLICY)
    with pytest.raises(RegistryError, match="unknown stage 'prod'"):
        set_stage(v1, "prod")
    with pytest.raises(RegistryError, match="no model named 'nope-"):
        list_versions(f"nope-{model_name}")
    apply(v1, PRODUCTION, None, None, "manual")
    with pytest.raises(RegistryError, match="replaced no earlier version"):
        rollback(model_name)


def test_a_failed_zenml_update_leaves_mlflow_as_it_was(model_name, good, data, monkeypatch):
    _, _, test_set = data
    v1, v2 = (_version(model_name, good, test_set) for _ in range(2))
    apply(v1, PRODUCTION, None, None, "manual")

    def broken(*args, **kwargs):
        raise ConnectionError("ZenML server went away")

    monkeypatch.setattr(Client, "update_model_version", broken)
    with pytest.raises(ConnectionError):
        set_stage(v2, PRODUCTION)
    with pytest.raises(ConnectionError):
        set_stage(v2, STAGING)
    monkeypatch.undo()
    assert (_stage(model_name, 1), _stage(model_name, 2)) == ("production", None)
    assert _aliases(model_name) == {"production": 1}
    mlflow.set_tracking_uri(Client().active_stack.experiment_tracker.get_tracking_uri())
    assert int(MlflowClient().get_model_version_by_alias(model_name, "production").version) == 1
    assert check_invariants(model_name) == []
