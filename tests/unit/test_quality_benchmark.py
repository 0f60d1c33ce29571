"""benchmarks.quality on the embedded data and the tiny model: folds, cache and summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import quality
from project.paths import DEFAULT_DATASET


def _run(tmp_path: Path, tiny_model_dir: Path, *extra: str) -> dict:
    """Two folds of one seed on 15 rows of each tag: the mechanics, in seconds."""
    from tagger.data import read_csv

    dataset = tmp_path / "sample.csv"
    if not dataset.exists():
        read_csv(DEFAULT_DATASET).groupby("tag").head(15).to_csv(dataset, index=False)
    results = tmp_path / "quality.json"
    argv = [
        "--dataset",
        str(dataset),
        "--base-model",
        str(tiny_model_dir),
        "--folds",
        "2",
        "--seeds",
        "3",
        "--candidates",
        "baseline",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--results",
        str(results),
        *extra,
    ]
    assert quality.main(argv) == 0
    return json.loads(results.read_text())


def test_every_row_is_tested_once_per_seed_and_a_rerun_trains_nothing(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(tmp_path, tiny_model_dir)
    baseline = first["candidates"]["baseline"]
    assert baseline["seeds_complete"] == [3]
    assert baseline["trainings"] == 2
    entries = quality.load_cached(tmp_path / "cache", "baseline", folds=2)[3]
    tested = sorted(row for entry in entries for row in entry["test_rows"])
    assert tested == list(range(first["rows"]))
    assert 0 <= baseline["f1"]["min"] <= baseline["f1"]["mean"] <= baseline["f1"]["max"] <= 1
    assert set(first["tfidf_logreg"]["per_seed"]) == {"3"}

    def no_training(*args, **kwargs):
        raise AssertionError("a cached fold was trained again")

    monkeypatch.setattr("tagger.distributed.train_on_frames", no_training)
    again = _run(tmp_path, tiny_model_dir)
    assert again["candidates"]["baseline"]["f1"] == baseline["f1"]


def test_validation_rows_come_out_of_the_training_folds_only() -> None:
    import pandas as pd

    from tagger.data import read_csv

    df = read_csv(DEFAULT_DATASET)
    rest, test = quality.fold_indices(df["tag"], folds=5, seed=7)[0]
    train, val = quality.split_validation(df, rest, val_size=0.1, seed=7)
    assert len(val) == round(0.1 * len(df))
    assert not set(val) & set(test) and not set(train) & set(test) and not set(train) & set(val)
    assert sorted([*train, *val]) == sorted(rest)
    shares = pd.Series(df["tag"].to_numpy()[val]).value_counts(normalize=True)
    assert (shares - df["tag"].value_counts(normalize=True)).abs().max() < 0.05
