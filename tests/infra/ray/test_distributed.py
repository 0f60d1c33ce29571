"""Ray Train on a real local Ray head: the training loop data-parallel over two workers."""

from __future__ import annotations

import pandas as pd
import pytest

from tagger.config import Scaling, TrainConfig, TuneConfig
from tagger.data import split, texts_of
from tagger.distributed import train_on_frames
from tagger.model import TextClassifier
from tagger.training import share_batches

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_shares_are_disjoint_and_equal_in_length():
    batches = [[i] for i in range(11)]
    shares = [share_batches(batches, rank, 2) for rank in range(2)]
    assert len(shares[0]) == len(shares[1]) == 5
    assert not {b[0] for b in shares[0]} & {b[0] for b in shares[1]}


def test_scaling_rejects_unknown_keys_and_decides_when_to_use_ray():
    with pytest.raises(ValueError, match="workers\n  Extra inputs are not permitted"):
        Scaling.model_validate({"workers": 2})
    assert not Scaling().distributed
    assert Scaling(num_workers=2).distributed and Scaling(use_ray=True).distributed


def test_two_workers_train_the_same_kind_of_result(
    projects: pd.DataFrame, tiny_params: dict, ray_head, monkeypatch
):
    monkeypatch.setenv("RAY_ADDRESS", ray_head.address)
    train_df, val_df, _ = split(projects, val_size=0.2, test_size=0.0, seed=3)
    config = TrainConfig.model_validate({**tiny_params, "epochs": 6, "patience": 6})
    epochs: list[int] = []

    result = train_on_frames(
        config,
        train_df,
        val_df,
        on_epoch_end=lambda epoch, _: epochs.append(epoch),
        scaling=Scaling(num_workers=2),
    )
    local = train_on_frames(config, train_df, val_df)

    assert isinstance(result.classifier, TextClassifier)
    assert epochs == list(range(1, 7)) and len(result.history) == len(local.history)
    assert set(result.history[0]) == set(local.history[0])
    best = result.history[result.best_epoch - 1]
    predictions = result.classifier.predict(texts_of(val_df))
    accuracy = (pd.Series(predictions) == val_df["tag"].reset_index(drop=True)).mean()
    assert accuracy == pytest.approx(best["val_accuracy"]), "the bundle is the restored best epoch"
    assert best["val_f1"] > 0.5
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_a_two_trial_search_starts_from_the_known_good_config(
    projects: pd.DataFrame, tiny_params: dict, ray_head, monkeypatch
):
    from tagger.tuning import tune_hyperparameters

    monkeypatch.setenv("RAY_ADDRESS", ray_head.address)
    train_df, val_df, _ = split(projects, val_size=0.2, test_size=0.0, seed=3)
    base = TrainConfig.model_validate({**tiny_params, "epochs": 3})
    space = {"learning_rate": {"loguniform": [1e-4, 1e-2]}, "batch_size": {"choice": [8, 16]}}
    result = tune_hyperparameters(
        base,
        texts_of(train_df),
        train_df["tag"].tolist(),
        texts_of(val_df),
        val_df["tag"].tolist(),
        TuneConfig(num_runs=2, max_concurrent=2, grace_period=1, space=space),
    )
    assert len(result.trials) == 2 and len(result.histories) == 2
    known_good = result.trials[result.trials["learning_rate"] == base.learning_rate]
    assert len(known_good) == 1, result.trials
    assert result.best_score == result.trials["val_f1"].max()
    TrainConfig.model_validate(result.best_params)  # a whole, valid training config
    assert all(1 <= len(h) <= 3 for h in result.histories.values())


def test_tune_config_rejects_what_it_cannot_search():
    with pytest.raises(ValueError, match="unknown training parameters"):
        TuneConfig(space={"learnig_rate": {"uniform": [0, 1]}})
    with pytest.raises(ValueError, match="'loguniform', 'uniform' or 'choice'"):
        TuneConfig(space={"dropout": {"normal": [0, 1]}})
    with pytest.raises(ValueError, match=r"uniform takes \[low, high\]"):
        TuneConfig(space={"dropout": {"uniform": [0.1]}})
