import pandas as pd
import pytest

from tagger.data import split, texts_of
from tagger.training import TrainConfig, length_bucketed_batches, train, train_on_frames


def test_config_rejects_unknown_parameters():
    with pytest.raises(ValueError, match="unknown training parameters: \\['learning_rat'\\]"):
        TrainConfig.from_dict({"learning_rat": 0.1})
    assert TrainConfig.from_dict({"labels": ["a", "b"]}).labels == ("a", "b")


def test_bucketed_batches_cover_every_sample_once():
    import random

    lengths = [random.Random(i).randint(1, 60) for i in range(103)]
    batches = length_bucketed_batches(lengths, batch_size=8, rng=random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(103))
    assert max(len(b) for b in batches) == 8


def test_training_reduces_loss_and_learns(projects: pd.DataFrame, tiny_params: dict):
    train_df, val_df, _ = split(projects, val_size=0.2, test_size=0.0, seed=3)
    seen = []
    result = train_on_frames(
        TrainConfig.from_dict(tiny_params),
        train_df,
        val_df,
        on_epoch_end=lambda epoch, metrics: seen.append((epoch, metrics)),
    )
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.8
    assert [e for e, _ in seen] == list(range(1, len(result.history) + 1))
    assert result.history[result.best_epoch - 1]["val_f1"] > 0.5
    assert result.samples_per_second > 0


def test_early_stopping_restores_the_best_epoch(projects: pd.DataFrame, tiny_params: dict):
    train_df, val_df, _ = split(projects, val_size=0.2, test_size=0.0, seed=3)
    params = {**tiny_params, "learning_rate": 0.05, "epochs": 6, "patience": 1}
    result = train_on_frames(TrainConfig.from_dict(params), train_df, val_df)
    best = min(result.history, key=lambda h: h["val_loss"])
    assert result.best_epoch == best["epoch"]
    assert len(result.history) <= result.best_epoch + 1
    preds = result.classifier.predict(texts_of(val_df))
    accuracy = (pd.Series(preds) == val_df["tag"].reset_index(drop=True)).mean()
    assert accuracy == pytest.approx(best["val_accuracy"])


def test_training_rejects_labels_outside_the_label_set(tiny_params: dict):
    with pytest.raises(ValueError, match="labels not in the label set"):
        train(TrainConfig.from_dict(tiny_params), ["a"], ["robotics"], ["b"], ["mlops"])
