"""Data steps: load, validate (stops the run on failure), split."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import save_artifact, step
from zenml.logger import get_logger
from zenml.metadata.metadata_types import MetadataType

from materializers import HashedDataFrameMaterializer, ValidationReportMaterializer
from project import names
from project.paths import DEFAULT_DATASET
from steps.metadata import record_on_output
from tagger import data
from tagger.config import BatchConfig, Split
from tagger.validation import (
    DataValidationError,
    ValidationReport,
    min_rows_for_split,
    validate,
)

logger = get_logger(__name__)


@step(enable_cache=False, output_materializers=HashedDataFrameMaterializer)
def load_data(dataset_loc: str | None = None) -> Annotated[pd.DataFrame, names.DATASET]:
    """Read the dataset from a path or URL and record where it came from and what it was.

    No location means the embedded default dataset of the code that runs the step.
    Never cached: the file behind a location can change. Its output is content-hashed, so the
    steps after it are cached exactly when the data is the same.
    """
    location = dataset_loc or str(DEFAULT_DATASET)
    df = data.read_csv(location)
    record_on_output({"dataset": describe(df, location)})
    return df


@step(enable_cache=False, output_materializers=HashedDataFrameMaterializer)
def load_inference_data(dataset_loc: str) -> Annotated[pd.DataFrame, names.INFERENCE_INPUT]:
    """New data to predict: linked to the model version as an inference record, under its own
    name, so it never reads as the data the version was trained on."""
    df = data.read_csv(dataset_loc)
    record_on_output({"inference_input": describe(df, dataset_loc)})
    return df


def describe(df: pd.DataFrame, location: str) -> dict[str, MetadataType]:
    info: dict[str, MetadataType] = {
        "source": location,
        "rows": len(df),
        "fingerprint": data.fingerprint(df),
    }
    if data.LABEL_COLUMN in df:
        counts = df[data.LABEL_COLUMN].value_counts()
        info["tag_counts"] = {str(k): int(v) for k, v in counts.items()}
    return info


@step(output_materializers=ValidationReportMaterializer)
def validate_data(
    dataset: pd.DataFrame, with_labels: bool = True, split: Split = Split()
) -> Annotated[ValidationReport, names.VALIDATION_REPORT]:
    """Run the expectation suite; on failure keep the report as an artifact, then stop the run.

    Every tag needs enough rows for `split` to leave one in val and test."""
    minimum = min_rows_for_split(split.val_size, split.test_size)
    report = validate(dataset, with_labels=with_labels, min_rows_per_label=minimum)
    return _passed(report)


@step(enable_cache=False, output_materializers=ValidationReportMaterializer)
def validate_batch_sample(
    dataset_loc: str, batch: BatchConfig = BatchConfig()
) -> Annotated[ValidationReport, names.VALIDATION_REPORT]:
    """The whole suite on the first rows of an input too large to load: a wrong schema stops
    the run before any actor starts. `predict_on_ray` runs the per-row rules on every block."""
    from tagger.batch import input_bytes, input_files, validate_sample

    report = validate_sample(dataset_loc, batch.sample_rows)
    files = input_files(dataset_loc)
    record_on_output(
        {
            "inference_input": {
                "source": dataset_loc,
                "files": len(files),
                "bytes": input_bytes(dataset_loc),
                "sample_rows": report.row_count,
            }
        }
    )
    return _passed(report)


def _passed(report: ValidationReport) -> ValidationReport:
    """On failure keep the report as an artifact, then stop the run with its reasons."""
    if not report.success:
        save_artifact(
            report, name=names.VALIDATION_REPORT, materializer=ValidationReportMaterializer
        )
        raise DataValidationError(report)
    return report


@step
def split_data(
    dataset: pd.DataFrame,
    validation_report: ValidationReport,
    split: Split = Split(),
) -> tuple[
    Annotated[pd.DataFrame, names.TRAIN_SET],
    Annotated[pd.DataFrame, names.VAL_SET],
    Annotated[pd.DataFrame, names.TEST_SET],
]:
    """Stratified, seeded split. Takes the report so splitting waits for a passed validation."""
    train, val, test = data.split(dataset, split.val_size, split.test_size, split.seed)
    logger.info(
        "split %d rows -> train %d, val %d, test %d", len(dataset), len(train), len(val), len(test)
    )
    return train, val, test
