"""Behaviour of a model trained with the default recipe on ../shared's Made-With-ML dataset: the
cases of configs/behavior.yaml (the same suite the training pipeline runs on every candidate)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from project.paths import BEHAVIOR_CONFIG, TRAIN_CONFIG
from tagger.behavior import BehaviorReport, BehaviorSuite, run_suite
from tagger.config import TrainConfig
from tagger.data import read_csv, split
from tagger.distributed import train_on_frames

pytestmark = pytest.mark.slow

SUITE = BehaviorSuite.from_yaml(BEHAVIOR_CONFIG)


@pytest.fixture(scope="module")
def report(shared_dataset: Path) -> BehaviorReport:
    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    train_df, val_df, _ = split(read_csv(shared_dataset), val_size=0.1, test_size=0.0, seed=1234)
    params = TrainConfig.model_validate(config["parameters"]["train_params"])
    return run_suite(train_on_frames(params, train_df, val_df).classifier, SUITE)


@pytest.mark.parametrize(("kind", "case"), [(kind, case) for kind, case, *_ in SUITE.checks()])
def test_case(report: BehaviorReport, kind: str, case: str):
    (result,) = [r for r in report.results if (r.kind, r.case) == (kind, case)]
    assert result.passed, f"{result.text!r}: expected {result.expected}, got {result.predicted}"


def test_the_suite_gates_production(report: BehaviorReport):
    assert not report.blocks_production
    assert report.pass_rates()["minimum_functionality"] == 1.0
