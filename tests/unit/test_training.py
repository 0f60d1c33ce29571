import pandas as pd
import pytest

from tagger.config import TrainConfig
from tagger.data import split, texts_of
from tagger.distributed import train_on_frames
from tagger.training import EarlyStopping, length_bucketed_batches, train


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
        TrainConfig.model_validate(tiny_params),
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
    params = {
        **tiny_params,
        "learning_rate": 0.05,
        "epochs": 6,
        "patience": 1,
        "monitor": "val_loss",
    }
    result = train_on_frames(TrainConfig.model_validate(params), train_df, val_df)
    best = min(result.history, key=lambda h: h["val_loss"])
    assert result.best_epoch == best["epoch"]
    assert len(result.history) <= result.best_epoch + 1
    preds = result.classifier.predict(texts_of(val_df))
    accuracy = (pd.Series(preds) == val_df["tag"].reset_index(drop=True)).mean()
    assert accuracy == pytest.approx(best["val_accuracy"])


def test_training_rejects_labels_outside_the_label_set(tiny_params: dict):
    with pytest.raises(ValueError, match="labels not in the label set"):
        train(TrainConfig.model_validate(tiny_params), ["a"], ["robotics"], ["b"], ["mlops"])


def test_early_stopping_keeps_the_best_epoch_and_waits_patience_epochs():
    import torch

    model = torch.nn.Linear(2, 1)
    stopping = EarlyStopping("val_f1", patience=2)
    scores = [0.5, 0.7, 0.6, 0.65]
    weights = []
    stops = []
    for epoch, score in enumerate(scores, start=1):
        with torch.no_grad():
            model.weight.fill_(epoch)
        weights.append(model.weight.clone())
        stops.append(stopping.update(epoch, {"val_f1": score}, model))
    assert stops == [False, False, False, True]
    assert stopping.best_epoch == 2
    stopping.restore(model)
    assert torch.equal(model.weight, weights[1])
    assert EarlyStopping("val_loss", 1).update(1, {"val_loss": 0.3}, model) is False


def test_early_stopping_can_watch_val_f1(projects: pd.DataFrame, tiny_params: dict):
    train_df, val_df, _ = split(projects, val_size=0.2, test_size=0.0, seed=3)
    params = {**tiny_params, "epochs": 5, "monitor": "val_f1", "head_learning_rate": 1e-2}
    result = train_on_frames(TrainConfig.model_validate(params), train_df, val_df)
    scores = [h["val_f1"] for h in result.history]
    assert result.best_epoch == scores.index(max(scores)) + 1
    preds = result.classifier.predict(texts_of(val_df))
    accuracy = (pd.Series(preds) == val_df["tag"].reset_index(drop=True)).mean()
    assert accuracy == pytest.approx(result.history[result.best_epoch - 1]["val_accuracy"])


def test_head_parameters_get_their_own_learning_rate(tiny_model_dir):
    from tagger.model import TextClassifier
    from tagger.training import parameter_groups

    classifier = TextClassifier.from_base(str(tiny_model_dir), ("a", "b"), max_length=16)
    config = TrainConfig(learning_rate=1e-5, head_learning_rate=1e-3, weight_decay=0.1)
    groups = parameter_groups(classifier.model, config)
    names = {id(p): n for n, p in classifier.model.named_parameters()}
    for group in groups:
        for param in group["params"]:
            name = names[id(param)]
            is_head = name.startswith(("classifier.", "bert.pooler."))
            assert group["lr"] == (1e-3 if is_head else 1e-5), name
            assert group["weight_decay"] == (
                0.0 if name.endswith("bias") or "LayerNorm" in name else 0.1
            )
    assert sum(len(g["params"]) for g in groups) == len(names)
