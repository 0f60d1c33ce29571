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
        "--cache-dir",
        str(tmp_path / "cache"),
        "--results",
        str(results),
        *(extra or ("--candidates", "baseline")),
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


def test_ensembles_and_hybrids_reuse_the_baselines_trainings(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    results = _run(
        tmp_path,
        tiny_model_dir,
        "--candidates",
        "baseline",
        "seed_ensemble_3",
        "hybrid_tfidf_0.5",
        "ema_0.99",
    )
    candidates = results["candidates"]
    baseline_dir = tmp_path / "cache" / "baseline"
    # two folds: one training each for the baseline, two more members each for the ensemble
    assert len(list(baseline_dir.glob("seed3-fold*of2.json"))) == 2
    assert len(list(baseline_dir.glob("seed3-fold*of2-member*.json"))) == 4
    assert not (tmp_path / "cache" / "hybrid_tfidf_0.5").exists()
    assert candidates["seed_ensemble_3"]["trainings"] == 2
    assert candidates["seed_ensemble_3"]["members"] == 3
    ensemble_seconds = candidates["seed_ensemble_3"]["train_seconds_mean"]
    assert ensemble_seconds > candidates["baseline"]["train_seconds_mean"]
    for name in ("seed_ensemble_3", "hybrid_tfidf_0.5", "ema_0.99"):
        assert candidates[name]["seeds_complete"] == [3]
        assert candidates[name]["vs_baseline"]["seeds"] == [3]
    entry = json.loads((baseline_dir / "seed3-fold0of2.json").read_text())
    assert len(entry["probabilities"]) == len(entry["test_rows"])
    assert all(abs(sum(row) - 1) < 1e-4 for row in entry["probabilities"])
    ema = json.loads((tmp_path / "cache" / "ema_0.99" / "seed3-fold0of2.json").read_text())
    assert ema["recipe"]["ema_decay"] == 0.99
    assert ema["probabilities"] != entry["probabilities"]


def test_training_seeds_are_scored_alone_on_the_same_folds(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    argv = ["--candidates", "baseline", "hybrid_tfidf_0.6", "--training-seeds", "2"]
    results = _run(tmp_path, tiny_model_dir, *argv)
    baseline_dir = tmp_path / "cache" / "baseline"
    # the second training seed is a seed ensemble's member 1: a file the ensembles reuse
    assert len(list(baseline_dir.glob("seed3-fold*of2-member1.json"))) == 2
    candidates = results["candidates"]
    spread = candidates["baseline"]["training_seed_spread"]
    scores = spread["f1_by_draw"]["3"]
    assert len(scores) == 2
    assert scores[0] == candidates["baseline"]["per_seed"]["3"]["f1"]
    assert spread["stdev_within_draw"] == pytest.approx(abs(scores[0] - scores[1]) / 2**0.5)
    assert candidates["hybrid_tfidf_0.6"]["training_seed_spread"]["f1_by_draw"].keys() == {"3"}
    rows = quality.spread_rows(results)
    names = [row.cells[0] for row in rows]
    assert names[0] == "baseline" and "hybrid_tfidf_0.6" in names
    assert names[-1].startswith("TF-IDF")
    assert rows[0].cells[1] == "1 (3) x 2"
