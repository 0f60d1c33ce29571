"""Promotion: the rule as a pure function, then real model versions in a throw-away store with
the MLflow registry checked after every move."""

from __future__ import annotations

import uuid
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from sklearn.metrics import f1_score
from zenml import Model, link_artifact_to_model, log_metadata, save_artifact
from zenml.client import Client
from zenml.enums import ArtifactType

from materializers import ClassifierMaterializer, HashedDataFrameMaterializer
from registry import history
from registry.promotion import apply, judge, promote_by_hand, rollback
from registry.stages import (
    RegistryError,
    check_invariants,
    configure_mlflow,
    get_version,
    list_versions,
    set_stage,
)
from serving.records import (
    FEEDBACK,
    PREDICTIONS,
    FeedbackRecord,
    PredictionRecord,
    Recorder,
    Recording,
    now,
)
from tagger.behavior import MINIMUM_FUNCTIONALITY, BehaviorReport, CheckResult
from tagger.config import PromotionPolicy, TrainConfig
from tagger.data import LABELS, split, texts_of
from tagger.distributed import train_on_frames
from tagger.evaluation import EvaluationReport, evaluate, score_predictions
from tagger.model import TextClassifier
from tagger.promotion import PRODUCTION, STAGING, Comparison, OnlineEvidence, decide

POLICY = PromotionPolicy(metric="f1", margin=0.01, min_f1=0.5, min_class_f1=0.1)


# -- the rule -------------------------------------------------------------------------------


def _report(projects: pd.DataFrame, right: int) -> EvaluationReport:
    """A report where the first `right` of 40 rows are predicted correctly, the rest as 'other'."""
    sample = projects.head(40)
    predictions = sample["tag"].tolist()[:right] + ["other"] * (40 - right)
    return score_predictions(sample, predictions, LABELS)


def _decide(candidate, production, policy=POLICY, **kwargs):
    return decide([Comparison("test split", candidate, production, 40)], policy, **kwargs)


def test_no_production_and_floors_met_goes_to_production(projects):
    decision = _decide(_report(projects, 36), None)
    assert decision.stage == PRODUCTION and decision.production_score is None
    assert "no production version" in decision.reason


def test_better_by_more_than_the_margin_goes_to_production(projects):
    decision = _decide(_report(projects, 38), _report(projects, 34))
    assert decision.stage == PRODUCTION
    assert decision.candidate_score > decision.production_score + POLICY.margin


@pytest.mark.parametrize("right", [36, 30])
def test_equal_or_worse_goes_to_staging(projects, right):
    decision = _decide(_report(projects, right), _report(projects, 36))
    assert decision.stage == STAGING
    assert "does not beat production" in decision.reason


def test_better_but_within_the_margin_goes_to_staging(projects):
    wide = PromotionPolicy(margin=0.5, min_f1=0.0, min_class_f1=0.0)
    assert _decide(_report(projects, 38), _report(projects, 34), wide).stage == STAGING


def test_below_the_floors_goes_to_staging_and_says_which(projects):
    strict = PromotionPolicy(min_f1=0.99, min_class_f1=0.0)
    decision = _decide(_report(projects, 36), None, strict)
    assert decision.stage == STAGING
    assert decision.failed_floors == [f"test split: f1 {decision.candidate_score:.3f} < 0.99"]


def test_unknown_metric_is_an_error(projects):
    with pytest.raises(ValueError, match="unknown promotion metric 'auc'"):
        _decide(_report(projects, 36), None, PromotionPolicy(metric="auc"))


def test_a_drop_beyond_the_tolerance_on_another_set_keeps_staging(projects):
    sets = [
        Comparison("candidate test split", _report(projects, 39), _report(projects, 34), 40),
        Comparison("pinned hard.csv", _report(projects, 30), _report(projects, 36), 40),
    ]
    decision = decide(sets, POLICY)
    assert decision.stage == STAGING
    assert "worse than production beyond the tolerance on pinned hard.csv" in decision.reason
    loose = PromotionPolicy(margin=0.01, min_f1=0.5, min_class_f1=0.1, tolerance=0.5)
    assert decide(sets, loose).stage == PRODUCTION
    assert [row["name"] for row in decide(sets, loose).sets] == [s.name for s in sets]


def test_the_floors_hold_on_every_set(projects):
    sets = [
        Comparison("candidate test split", _report(projects, 39), None, 40),
        Comparison("pinned hard.csv", _report(projects, 10), None, 40),
    ]
    decision = decide(sets, POLICY)
    assert decision.stage == STAGING
    assert any(f.startswith("pinned hard.csv: f1") for f in decision.failed_floors)


def test_a_failed_minimum_functionality_case_keeps_the_candidate_out(projects):
    behavior = BehaviorReport(
        [
            CheckResult(
                MINIMUM_FUNCTIONALITY, "yolo", "YOLO for drones", "computer-vision", "mlops", 0.9
            ),
            CheckResult("invariance", "verb[uses]", "...", "mlops", "mlops", 0.8),
        ]
    )
    decision = _decide(_report(projects, 39), None, behavior=behavior)
    assert decision.stage == STAGING
    assert "yolo (expected computer-vision, got mlops)" in decision.reason
    assert decision.failed_behavior == ["yolo (expected computer-vision, got mlops)"]


def _arm(labelled: int, live_f1: float | None) -> dict:
    """A row of `rollout_status` (workflows.rollout), as online evidence carries it."""
    return {
        "requests_answered": 30,
        "requests_shadowed": 0,
        "projects_scored": 30,
        "mean_confidence": 0.8,
        "agreement": None,
        "feedback": labelled,
        "live_accuracy": live_f1,
        "live_f1": live_f1,
    }


def _online(candidate: dict | None, production: dict | None) -> OnlineEvidence:
    return OnlineEvidence("records", 2, 1, candidate, production)


ONLINE = POLICY.model_copy(update={"min_online_labelled": 20, "online_tolerance": 0.05})


def test_a_live_f1_below_production_s_keeps_an_offline_winner_out(projects):
    better = (_report(projects, 38), _report(projects, 34))
    decision = _decide(*better, ONLINE, online=_online(_arm(25, 0.70), _arm(40, 0.80)))
    assert decision.stage == STAGING and decision.online_refused
    assert decision.reason.startswith("refused on online evidence: live F1 0.7000 of v2 on 25")
    assert "production v1's 0.8000 on 40: worse by more than 0.05" in decision.reason
    assert "(offline: f1 " in decision.reason  # what the offline sets said stays in the record
    assert decision.to_dict()["online"]["candidate"]["live_f1"] == 0.70

    within = _decide(*better, ONLINE, online=_online(_arm(25, 0.76), _arm(40, 0.80)))
    assert within.stage == PRODUCTION and not within.online_refused
    assert "online: live F1 0.7600 of v2" in within.reason and "not worse by more" in within.reason

    shown = ONLINE.model_copy(update={"online_evidence": "show"})
    decision = _decide(*better, shown, online=_online(_arm(25, 0.70), _arm(40, 0.80)))
    assert decision.stage == PRODUCTION and "shown only: online_evidence is show" in decision.reason


def test_too_little_feedback_is_shown_but_not_used(projects):
    better = (_report(projects, 38), _report(projects, 34))
    decision = _decide(*better, ONLINE, online=_online(_arm(19, 0.10), None))
    assert decision.stage == PRODUCTION
    assert (
        "online: live scores not used: candidate v2 has 19, production v1 has 0 labelled "
        "answer(s), fewer than min_online_labelled 20"
    ) in decision.reason
    table = decision.table()
    assert table[2] == "online evidence (served records in records)"
    assert table[4].split() == [
        "candidate",
        "2",
        "30",
        "0",
        "-",
        "0.8000",
        "19",
        "0.1000",
        "0.1000",
    ]
    assert table[5].split() == ["production", "1", "no", "served", "request", "recorded"]


def test_online_evidence_does_not_rescue_an_offline_loser(projects):
    worse = (_report(projects, 30), _report(projects, 36))
    decision = _decide(*worse, ONLINE, online=_online(_arm(25, 0.99), _arm(40, 0.50)))
    assert decision.stage == STAGING and not decision.online_refused
    assert "does not beat production" in decision.reason


# -- real versions in a throw-away store ----------------------------------------------------


@pytest.fixture(scope="module")
def data(projects):
    return split(projects, val_size=0.1, test_size=0.2, seed=11)


@pytest.fixture(scope="module")
def good(data, tiny_params) -> TextClassifier:
    train_df, val_df, _ = data
    return train_on_frames(TrainConfig.model_validate(tiny_params), train_df, val_df).classifier


@pytest.fixture(scope="module")
def weak(tiny_model_dir) -> TextClassifier:
    return TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=64)


@pytest.fixture
def model_name(zenml_stack) -> str:
    return f"promo-{uuid.uuid4().hex[:8]}"


def _version(
    model_name: str, classifier: TextClassifier, test_set: pd.DataFrame, trained_on: str = "A"
):
    """A real model version with its classifier and test set linked, as a training run leaves it."""
    client = Client()
    if not client.list_models(name=model_name).items:
        client.create_model(model_name)
    version = client.create_model_version(model_name)
    model = Model(name=model_name, version=version.number)
    artifacts = [
        save_artifact(
            classifier,
            name="classifier",
            artifact_type=ArtifactType.MODEL,
            materializer=ClassifierMaterializer,
        ),
        save_artifact(
            test_set,
            name="test_set",
            artifact_type=ArtifactType.DATA,
            materializer=HashedDataFrameMaterializer,
        ),
    ]
    for artifact in artifacts:
        link_artifact_to_model(artifact, model=model)
    log_metadata({"dataset": {"fingerprint": trained_on}}, model_version_id=version.id)
    return get_version(model_name, version.number)


def _judge(model_name, version, test_set, trained_on="A", policy=POLICY):
    classifier = version.get_model_artifact("classifier").load()
    report = evaluate(classifier, test_set)
    return judge(model_name, lambda: classifier, report, test_set, trained_on, policy)


def _aliases(model_name: str) -> dict[str, int]:
    aliases = configure_mlflow().get_registered_model(model_name).aliases
    return {alias: int(version) for alias, version in aliases.items()}


def _stage(model_name: str, number: int) -> str | None:
    return get_version(model_name, number).stage


def test_versions_move_through_stages_in_both_registries(model_name, good, weak, data):
    _, _, test_set = data
    v1 = _version(model_name, good, test_set)
    decision, production = _judge(model_name, v1, test_set)
    assert production is None and decision.stage == PRODUCTION
    apply(v1, decision.stage, decision, production, "automatic")
    assert _stage(model_name, 1) == "production"
    assert _aliases(model_name) == {"production": 1}

    v2 = _version(model_name, weak, test_set)
    decision, production = _judge(model_name, v2, test_set)
    assert production.number == 1 and decision.stage == STAGING
    assert decision.production_score > decision.candidate_score
    apply(v2, decision.stage, decision, production, "automatic")
    assert (_stage(model_name, 1), _stage(model_name, 2)) == ("production", "staging")
    assert _aliases(model_name) == {"production": 1, "staging": 2}

    v3 = _version(model_name, good, test_set)
    decision, _ = _judge(model_name, v3, test_set)
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


def _shadow_rollout(directory: Path, requests: int, production_right: int, candidate_right: int):
    """A shadow rollout of v2 beside production v1 as the served Bento records it, then the true
    tags reported for every answer; each version answers its first `*_right` requests right.

    Returns the true tags and each version's answers."""
    truth = [LABELS[i % len(LABELS)] for i in range(requests)]

    def answers(right: int) -> list[str]:
        return [t if i < right else LABELS[(i + 1) % len(LABELS)] for i, t in enumerate(truth)]

    tags = {"1": answers(production_right), "2": answers(candidate_right)}

    def record(i: int, version: str) -> PredictionRecord:
        shadow = version == "2"
        return PredictionRecord(
            request_id=f"req-{i}",
            time=now(),
            model_version=version,
            title_length=20,
            description_length=40,
            title=f"project {i}",
            description="a project",
            tag=tags[version][i],
            confidence=0.6 if shadow else 0.9,
            probabilities={label: 0.25 for label in LABELS},
            answered_by="1" if shadow else None,
            agrees=tags["2"][i] == tags["1"][i] if shadow else None,
        )

    recorder = Recorder(Recording(directory=directory), "api-0")
    for i in range(requests):
        recorder.write(PREDICTIONS, [record(i, "1")])
        recorder.write(PREDICTIONS, [record(i, "2")])
    recorder.write(
        FEEDBACK,
        [FeedbackRecord(request_id=f"req-{i}", tag=truth[i], time=now()) for i in range(requests)],
    )
    recorder.flush()
    return truth, tags


def test_promote_shows_online_evidence_and_refuses_a_live_loser(
    model_name, good, weak, data, tmp_path
):
    """`run.py promote` (workflows.versions.promote) on real versions and real request records:
    v2 beats production v1 offline, but its shadowed answers scored worse on the feedback."""
    from workflows.versions import promote
    from workflows.versions import rollback as rollback_cli

    _, _, test_set = data
    config = tmp_path / "train.yaml"
    policy = {
        "min_f1": 0.5,
        "min_class_f1": 0.1,
        "min_online_labelled": 20,
        "online_tolerance": 0.05,
    }
    config.write_text(
        yaml.safe_dump({"model": {"name": model_name}, "parameters": {"promotion_policy": policy}})
    )
    v1 = _version(model_name, weak, test_set)
    apply(v1, PRODUCTION, None, None, "manual")
    _version(model_name, good, test_set)

    worse = tmp_path / "worse-records"
    truth, tags = _shadow_rollout(worse, requests=24, production_right=24, candidate_right=12)
    with pytest.raises(RegistryError) as refused:
        promote(2, "production", config=config, records=worse)
    message = str(refused.value)
    live = {v: f1_score(truth, tags[v], average="weighted", zero_division=0) for v in tags}
    assert (
        f"refusing to promote version 2 over production version 1: refused on online evidence: "
        f"live F1 {live['2']:.4f} of v2 on 24 labelled answers vs production v1's "
        f"{live['1']:.4f} on 24: worse by more than 0.05 (offline: f1 "
    ) in message
    lines = message.splitlines()
    assert f"online evidence (served records in {worse})" in lines
    accuracy = {"1": 1.0, "2": 0.5}
    candidate_row = next(row for row in map(str.split, lines) if row[:2] == ["candidate", "2"])
    production_row = next(row for row in map(str.split, lines) if row[:2] == ["production", "1"])
    assert candidate_row == [
        "candidate",
        "2",
        "0",
        "24",
        "0.5000",
        "0.6000",
        "24",
        f"{accuracy['2']:.4f}",
        f"{live['2']:.4f}",
    ]
    assert production_row == [
        "production",
        "1",
        "24",
        "0",
        "-",
        "0.9000",
        "24",
        f"{accuracy['1']:.4f}",
        f"{live['1']:.4f}",
    ]
    assert _stage(model_name, 1) == "production" and _stage(model_name, 2) is None

    forced = promote(2, "production", force=True, config=config, records=worse)
    assert forced.splitlines()[0] == f"{model_name} version 2 is now production"
    assert f"online evidence (served records in {worse})" in forced
    last = history(model_name)[-1]
    assert (last["version"], last["to_stage"], last["trigger"]) == (2, "production", "forced")
    assert last["reason"].startswith("refused on online evidence: live F1")
    recorded = get_version(model_name, 2).run_metadata["promotion"]["decision"]
    assert recorded["online_refused"] is True
    assert recorded["online"]["candidate"]["feedback"] == 24
    assert recorded["online"]["production"]["live_f1"] == pytest.approx(live["1"], abs=1e-4)

    rollback_cli(config)
    better = tmp_path / "better-records"
    truth, tags = _shadow_rollout(better, requests=24, production_right=18, candidate_right=24)
    accepted = promote(2, "production", config=config, records=better)
    assert accepted.splitlines()[0] == f"{model_name} version 2 is now production"
    assert "; online: live F1 1.0000 of v2 on 24 labelled answers" in accepted
    assert "not worse by more than 0.05" in accepted
    assert history(model_name)[-1]["trigger"] == "manual"
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


def test_a_candidate_from_other_data_is_judged_on_production_s_test_split(
    model_name, good, weak, data
):
    """The issue's scenario: production trained on real data; a candidate trained on other,
    easier data scores perfectly on its own split, and must not replace production."""
    _, _, test_set = data
    v1 = _version(model_name, good, test_set, trained_on="real")
    apply(v1, PRODUCTION, None, None, "automatic")
    easy = test_set.assign(tag=weak.predict(texts_of(test_set)))  # labels the candidate agrees with
    v2 = _version(model_name, weak, easy, trained_on="easy")
    decision, production = _judge(model_name, v2, easy, trained_on="easy")

    assert production.number == 1 and decision.stage == STAGING
    own = next(row for row in decision.sets if row["name"] == "candidate test split")
    assert own["candidate"] == pytest.approx(1.0) and own["candidate"] > own["production"]
    assert decision.primary == "production v1 test split"
    assert "trained on other data than production v1" in decision.reason
    assert "production v1 test split: f1" in decision.reason  # the candidate fails its floors
    assert decision.table()[1].startswith("production v1 test split (primary)")


def test_pinned_evaluation_sets_are_scored_too(model_name, good, data, tmp_path):
    from registry.evaluation_sets import load_evaluation_set, register_evaluation_set

    _, _, test_set = data
    path = tmp_path / "pinned.csv"
    test_set.head(60).to_csv(path, index=False)
    assert register_evaluation_set(str(path), f"{model_name}-pinned") == 1
    assert len(load_evaluation_set(f"{model_name}-pinned")) == 60
    v1 = _version(model_name, good, test_set)
    policy = POLICY.model_copy(update={"evaluation_sets": (f"{model_name}-pinned", str(path))})
    decision, _ = _judge(model_name, v1, test_set, policy=policy)
    names = [row["name"] for row in decision.sets]
    assert names == ["candidate test split", f"pinned {model_name}-pinned", f"pinned {path}"]
    assert all(row["rows"] == 60 for row in decision.sets[1:])
    with pytest.raises(RegistryError, match="neither a registered artifact nor a readable CSV"):
        load_evaluation_set(str(tmp_path / "missing.csv"))
