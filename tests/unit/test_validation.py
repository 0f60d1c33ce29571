from pathlib import Path

import pandas as pd
import pytest

from tagger.data import LABELS, read_csv, split
from tagger.validation import (
    MIN_ROWS_CHECK,
    MIN_ROWS_PER_LABEL,
    DataValidationError,
    ValidationReport,
    min_rows_for_split,
    validate,
)

PRESENCE_CHECK = "expect_column_distinct_values_to_contain_set"


def _failed(report: ValidationReport) -> dict[tuple[str, str], object]:
    return {(f.expectation, f.column): f for f in report.failures}


def test_suite_passes_on_the_embedded_dataset(projects: pd.DataFrame):
    report = validate(projects)
    assert report.success, report.summary()
    assert report.row_count == len(projects)
    assert len(report.results) == 11


def test_suite_passes_on_the_shared_dataset(shared_dataset: Path):
    report = validate(read_csv(shared_dataset))
    assert report.success, report.summary()


def test_missing_column_is_named(projects: pd.DataFrame):
    report = validate(projects.drop(columns=["created_on"]))
    failed = _failed(report)
    assert ("expect_table_columns_to_match_set", "") in failed
    assert "created_on" not in failed[("expect_table_columns_to_match_set", "")].observed
    assert "expect_table_columns_to_match_set" in report.summary()


def test_unknown_tag_is_listed_with_examples(projects: pd.DataFrame):
    bad = projects.copy()
    bad.loc[[3, 9], "tag"] = "robotics"
    failure = _failed(validate(bad))[("expect_column_values_to_be_in_set", "tag")]
    assert failure.unexpected_count == 2
    assert failure.examples == ["robotics", "robotics"]


def test_duplicates_fail_on_id_and_on_title_description(projects: pd.DataFrame):
    bad = pd.concat([projects, projects.iloc[[0]]], ignore_index=True)
    failed = _failed(validate(bad))
    assert failed[("expect_column_values_to_be_unique", "id")].unexpected_count == 2
    assert ("expect_compound_columns_to_be_unique", "title,description") in failed


def test_nulls_and_length_bounds(projects: pd.DataFrame):
    bad = projects.copy()
    bad.loc[0, "title"] = None
    bad.loc[1, "tag"] = None
    bad.loc[2, "description"] = "x" * 6000
    failed = _failed(validate(bad))
    assert ("expect_column_values_to_not_be_null", "title") in failed
    assert ("expect_column_values_to_not_be_null", "tag") in failed
    assert ("expect_column_value_lengths_to_be_between", "description") in failed


def test_header_only_file_fails_the_row_count(tmp_path: Path):
    path = tmp_path / "empty.csv"
    path.write_text("id,created_on,title,description,tag\n")
    report = validate(read_csv(path))
    assert ("expect_table_row_count_to_be_between", "") in _failed(report)


def test_a_non_dataset_csv_fails_with_every_column_expectation(tmp_path: Path):
    path = tmp_path / "other.csv"
    path.write_text("name,score\nalice,3\nbob,4\n")
    report = validate(read_csv(path))
    assert not report.success
    assert ("expect_table_columns_to_match_set", "") in _failed(report)
    missing = _failed(report)[("expect_column_values_to_be_unique", "id")]
    assert missing.error, "an expectation on a missing column reports the error"


def test_unlabelled_suite_needs_no_tag_column(projects: pd.DataFrame):
    assert validate(projects.drop(columns=["tag"]), with_labels=False).success
    assert validate(projects, with_labels=False).success
    report = validate(projects.drop(columns=["title"]), with_labels=False)
    assert ("expect_table_columns_to_match_set", "") in _failed(report)


def test_error_message_lists_every_failure(projects: pd.DataFrame):
    bad = projects.copy()
    bad.loc[0, "tag"] = "robotics"
    bad.loc[1, "id"] = bad.loc[2, "id"]
    error = DataValidationError(validate(bad))
    assert "expect_column_values_to_be_in_set on 'tag'" in str(error)
    assert "expect_column_values_to_be_unique on 'id'" in str(error)
    assert "9/11 expectations passed" in str(error)


def test_report_round_trips(projects: pd.DataFrame):
    report = validate(projects.head(20))
    assert ValidationReport.from_dict(report.to_dict()) == report


def test_one_class_data_names_every_missing_tag(projects: pd.DataFrame):
    report = validate(projects[projects["tag"] == "mlops"])
    failed = _failed(report)
    absent = [label for label in LABELS if label != "mlops"]
    assert failed[(PRESENCE_CHECK, "tag")].observed == "no rows of " + ", ".join(absent)
    thin = failed[(MIN_ROWS_CHECK, "tag")]
    assert thin.unexpected_count == 3
    assert thin.observed == f"fewer than {MIN_ROWS_PER_LABEL} rows: " + ", ".join(
        f"{label} 0" for label in absent
    )
    assert "computer-vision 0" in str(DataValidationError(report))


def test_a_thin_class_is_named_with_its_count(projects: pd.DataFrame):
    thin = pd.concat(
        [projects[projects["tag"] != "other"], projects[projects["tag"] == "other"][:2]]
    )
    report = validate(thin)
    assert set(_failed(report)) == {(MIN_ROWS_CHECK, "tag")}
    assert "fewer than 10 rows: other 2" in report.summary()


def test_a_missing_class_is_named(projects: pd.DataFrame):
    report = validate(projects[projects["tag"] != "computer-vision"])
    failed = _failed(report)
    assert failed[(PRESENCE_CHECK, "tag")].observed == "no rows of computer-vision"
    assert failed[(PRESENCE_CHECK, "tag")].unexpected_count == 1
    assert failed[(MIN_ROWS_CHECK, "tag")].observed == "fewer than 10 rows: computer-vision 0"


def test_min_rows_per_label_is_configurable(projects: pd.DataFrame):
    few = projects.groupby("tag").head(5)
    assert not validate(few).success
    assert validate(few, min_rows_per_label=5).success
    mlops = int((projects["tag"] == "mlops").sum())
    assert f"mlops {mlops}" in validate(projects, min_rows_per_label=mlops + 5).summary()
    with pytest.raises(ValueError, match="at least 3 rows"):
        validate(projects, min_rows_per_label=1)


def test_unlabelled_data_skips_the_per_label_checks(projects: pd.DataFrame):
    report = validate(projects[projects["tag"] == "mlops"], with_labels=False)
    assert report.success
    assert {r.expectation for r in report.results}.isdisjoint({PRESENCE_CHECK, MIN_ROWS_CHECK})


@pytest.mark.parametrize(("val_size", "test_size", "rows"), [(0.1, 0.2, 10), (0.2, 0.0, 5)])
def test_the_minimum_is_enough_for_the_stratified_split(
    projects: pd.DataFrame, val_size: float, test_size: float, rows: int
):
    assert min_rows_for_split(val_size, test_size) == rows
    smallest = projects.groupby("tag").head(rows)
    assert validate(smallest, min_rows_per_label=rows).success
    parts = split(smallest, val_size=val_size, test_size=test_size, seed=3)
    for part in parts if test_size else parts[:2]:
        assert set(part["tag"]) == set(LABELS)
