"""The streaming batch path's pieces that need no Ray: engine choice, input discovery, the
per-row rules, the summary. The Ray runs themselves are in tests/infra/ray/test_batch_ray.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from tagger.batch import (
    BatchInputError,
    BlockValidationError,
    checked_block,
    choose_engine,
    input_bytes,
    input_files,
    read_sample,
    summarize,
)
from tagger.config import BatchConfig
from tagger.validation import MAX_TITLE_CHARS, check_rows


def test_auto_takes_ray_on_the_ray_orchestrator_or_for_a_large_input():
    assert choose_engine("auto", on_ray=False, input_bytes=10 * 2**20, ray_above_mb=256) == "local"
    assert choose_engine("auto", on_ray=True, input_bytes=0, ray_above_mb=256) == "ray"
    assert choose_engine("auto", on_ray=False, input_bytes=300 * 2**20, ray_above_mb=256) == "ray"
    assert choose_engine("local", on_ray=True, input_bytes=2**40, ray_above_mb=256) == "local"
    assert choose_engine("ray", on_ray=False, input_bytes=0, ray_above_mb=256) == "ray"
    with pytest.raises(ValidationError, match="engine"):
        BatchConfig(engine="spark")
    with pytest.raises(ValidationError, match="Extra inputs"):
        BatchConfig.model_validate({"workers": 2})


def test_inputs_are_found_in_files_and_folders(projects: pd.DataFrame, tmp_path: Path):
    rows = projects.drop(columns=["tag"])
    (tmp_path / "in" / "deep").mkdir(parents=True)
    rows.head(5).to_csv(tmp_path / "in" / "a.csv", index=False)
    rows.tail(5).to_parquet(tmp_path / "in" / "deep" / "b.parquet", index=False)
    (tmp_path / "in" / "notes.txt").write_text("skip me")

    found = input_files(str(tmp_path / "in"))
    assert [Path(f).name for f in found] == ["a.csv", "b.parquet"]
    assert input_bytes(str(tmp_path / "in")) == sum(Path(f).stat().st_size for f in found)
    assert input_bytes("https://example.com/new.csv") == 0
    sample = read_sample(str(tmp_path / "in"), 3)
    assert sample["id"].tolist() == rows["id"].head(3).tolist()
    with pytest.raises(BatchInputError, match="no such file"):
        input_files(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchInputError, match=r"holds no \.csv or \.parquet files"):
        input_files(str(tmp_path / "empty"))


def test_per_row_rules_name_the_rows_that_break_them(projects: pd.DataFrame):
    rows = projects.drop(columns=["tag"]).head(20).reset_index(drop=True)
    assert check_rows(rows) == []
    bad = rows.copy()
    bad.loc[2, "title"] = "t" * (MAX_TITLE_CHARS + 1)
    bad.loc[5, "id"] = bad.loc[4, "id"]
    failures = {f.expectation: f for f in check_rows(bad)}
    assert set(failures) == {
        "expect_column_value_lengths_to_be_between",
        "expect_column_values_to_be_unique",
    }
    assert failures["expect_column_value_lengths_to_be_between"].examples == [bad.loc[2, "id"]]
    assert failures["expect_column_values_to_be_unique"].unexpected_count == 2
    missing = check_rows(rows.drop(columns=["description"]))
    assert "missing columns ['description']" in missing[0].observed

    block = bad.assign(path="/data/in/b.csv")
    with pytest.raises(BlockValidationError, match=r"rows of /data/in/b\.csv failed") as raised:
        checked_block(block)
    assert raised.value.source == "/data/in/b.csv"
    assert "path" not in checked_block(rows.assign(path="/data/a.csv")).columns


def test_summary_over_batches_equals_the_whole_frame():
    frame = pd.DataFrame(
        {"tag": ["a", "b", "a", "a", "c"], "confidence": [0.5, 0.9, 0.7, 0.6, 0.4]}
    )
    whole = summarize([frame])
    parts = summarize([frame.iloc[:2], frame.iloc[2:]])
    assert parts["per_class"] == whole["per_class"] and parts["rows"] == 5
    assert parts["mean_confidence"] == pytest.approx(whole["mean_confidence"])
    assert whole["per_class"] == {"a": 3, "b": 1, "c": 1}
    assert whole["mean_confidence"] == pytest.approx(frame["confidence"].mean())
    assert whole["mean_confidence_per_class"]["a"] == pytest.approx(0.6)
