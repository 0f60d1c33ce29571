"""Data validation with a Great Expectations 1.x suite, run on an ephemeral context.

GE is called directly (zenml's GE integration needs GE < 1.0). The result is a plain
`ValidationReport` so a failed run can name every broken expectation with example values.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from tagger.data import COLUMNS, FEATURE_COLUMNS, LABEL_COLUMN, LABELS

logger = logging.getLogger(__name__)

MAX_TITLE_CHARS = 300
MAX_DESCRIPTION_CHARS = 5000
MIN_ROWS_CHECK = "expect_every_label_to_have_min_rows"


def min_rows_for_split(val_size: float = 0.1, test_size: float = 0.2) -> int:
    """The fewest rows a tag needs so that a stratified split leaves one in every part.

    Below that, sklearn refuses the split or a tag silently vanishes from val or test, and the
    per-class scores the promotion floors rely on are undefined.
    """
    parts = [size for size in (val_size, test_size) if size > 0]
    # round first: 1 / 0.1 must not become 10.000000000000002 and then 11
    return max(3, math.ceil(round(1 / min(parts), 6)))


# the pipelines' default split (val 0.1, test 0.2) needs 10 rows per tag
MIN_ROWS_PER_LABEL = min_rows_for_split()


@dataclass(frozen=True)
class ExpectationResult:
    expectation: str
    column: str
    success: bool
    unexpected_count: int = 0
    examples: list[str] = field(default_factory=list)
    observed: str = ""
    error: str = ""

    def describe(self) -> str:
        where = f" on {self.column!r}" if self.column else ""
        if self.error:
            detail = self.error
        elif self.examples:
            detail = f"{self.unexpected_count} unexpected, e.g. {self.examples}"
        else:
            detail = f"observed {self.observed}" if self.observed else ""
        return f"{self.expectation}{where}" + (f": {detail}" if detail else "")


@dataclass
class ValidationReport:
    suite: str
    success: bool
    row_count: int
    results: list[ExpectationResult]

    @property
    def failures(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success]

    def summary(self) -> str:
        passed = len(self.results) - len(self.failures)
        lines = [f"{self.suite}: {passed}/{len(self.results)} expectations passed"]
        lines += [f"  - {failure.describe()}" for failure in self.failures]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ValidationReport:
        return cls(
            suite=data["suite"],
            success=bool(data["success"]),
            row_count=int(data["row_count"]),
            results=[ExpectationResult(**r) for r in data["results"]],
        )


class DataValidationError(ValueError):
    """Raised when a dataset fails its expectations; the message lists every failure."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__("dataset failed validation\n" + report.summary())
        self.report = report


def _expectations(with_labels: bool, labels: tuple[str, ...], every_label: bool) -> list:
    import great_expectations.expectations as gxe

    # unlabelled data (batch inference) may still carry a tag column; labelled data must match exactly
    columns = list(COLUMNS) if with_labels else [c for c in COLUMNS if c != LABEL_COLUMN]
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=with_labels),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToNotBeNull(column="title"),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="title", min_value=1, max_value=MAX_TITLE_CHARS
        ),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="description", min_value=0, max_value=MAX_DESCRIPTION_CHARS
        ),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=list(FEATURE_COLUMNS)),
    ]
    if with_labels:
        expectations += [
            gxe.ExpectColumnValuesToNotBeNull(column=LABEL_COLUMN),
            gxe.ExpectColumnValuesToBeInSet(column=LABEL_COLUMN, value_set=list(labels)),
        ]
    if with_labels and every_label:
        expectations.append(
            gxe.ExpectColumnDistinctValuesToContainSet(column=LABEL_COLUMN, value_set=list(labels))
        )
    return expectations


def _result(raw) -> ExpectationResult:
    config = raw.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or ",".join(kwargs.get("column_list") or [])
    details = raw.result or {}
    examples = details.get("partial_unexpected_list") or []
    observed = details.get("observed_value", "")
    unexpected = int(details.get("unexpected_count") or 0)
    if details.get("partial_missing_list"):
        # "contain set" expectations report what is absent, not what is unexpected
        observed = "no rows of " + ", ".join(sorted(map(str, details["partial_missing_list"])))
        unexpected = int(details.get("missing_count") or 0)
    return ExpectationResult(
        expectation=config.type,
        column=column,
        success=bool(raw.success),
        unexpected_count=unexpected,
        examples=[str(e)[:120] for e in examples[:5]],
        observed=str(observed)[:300],
        error=_exception_message(raw.exception_info or {}),
    )


def _exception_message(info: dict) -> str:
    """GE reports errors flat or keyed by metric; either way keep the first message."""
    candidates = [info] if "raised_exception" in info else list(info.values())
    for candidate in candidates:
        if isinstance(candidate, dict) and candidate.get("raised_exception"):
            message = str(candidate.get("exception_message") or "").strip()
            return message.splitlines()[0][:300] if message else "raised an exception"
    return ""


def _min_rows_per_label(
    df: pd.DataFrame, labels: tuple[str, ...], min_rows: int
) -> ExpectationResult:
    """Every tag the model serves needs enough examples to be learnt and scored.

    GE 1.x has no expectation on the count of each value, so this one is counted here and
    reported in the same shape as GE's results.
    """
    if LABEL_COLUMN not in df:
        return ExpectationResult(
            MIN_ROWS_CHECK, LABEL_COLUMN, False, error=f"column {LABEL_COLUMN!r} is missing"
        )
    counts = df[LABEL_COLUMN].value_counts()
    thin = {label: int(counts.get(label, 0)) for label in labels}
    thin = {label: count for label, count in thin.items() if count < min_rows}
    observed = ", ".join(f"{label} {count}" for label, count in thin.items())
    return ExpectationResult(
        expectation=MIN_ROWS_CHECK,
        column=LABEL_COLUMN,
        success=not thin,
        unexpected_count=len(thin),
        observed=f"fewer than {min_rows} rows: {observed}" if thin else "",
    )


def validate(
    df: pd.DataFrame,
    with_labels: bool = True,
    labels: tuple[str, ...] = LABELS,
    min_rows_per_label: int | None = MIN_ROWS_PER_LABEL,
) -> ValidationReport:
    """Run the project's expectation suite on `df` and report every result, passed or not.

    Labelled data must also hold every tag in `labels` at least `min_rows_per_label` times: a
    dataset of one class would otherwise train a model that can only answer that class.
    `None` drops that rule, for data that is only scored (an evaluation set).
    """
    import great_expectations as gx

    every_label = min_rows_per_label is not None
    if every_label and min_rows_per_label < 3:
        raise ValueError(
            f"min_rows_per_label={min_rows_per_label}: a stratified train/val/test split needs"
            " at least 3 rows of every tag"
        )
    suite_name = "projects" if with_labels else "projects_unlabelled"
    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_pandas("pandas").add_dataframe_asset(name="projects")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": df}
    )
    suite = gx.ExpectationSuite(
        name=suite_name, expectations=_expectations(with_labels, labels, every_label)
    )
    outcome = batch.validate(suite, result_format="SUMMARY")
    results = [_result(r) for r in outcome.results]
    if with_labels and every_label:
        results.append(_min_rows_per_label(df, labels, min_rows_per_label))
    report = ValidationReport(suite_name, all(r.success for r in results), len(df), results)
    logger.info(report.summary())
    return report


REQUIRED_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c != LABEL_COLUMN)


def check_rows(df: pd.DataFrame) -> list[ExpectationResult]:
    """The suite's per-row rules on one block of unlabelled data, in pandas: the failures, each
    with the ids of the rows that broke it (up to five).

    For data streamed in blocks (tagger.batch), where the whole suite runs on a sample only: GE
    costs about a second per call, this a few milliseconds. Uniqueness holds within the block.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df]
    if missing:
        return [
            ExpectationResult(
                "expect_table_columns_to_match_set",
                "",
                False,
                observed=f"missing columns {missing}; found {sorted(map(str, df.columns))}",
            )
        ]
    ids = df["id"].astype(str)
    titles = df["title"]
    title_chars = titles.fillna("").astype(str).str.len()
    description_chars = df["description"].fillna("").astype(str).str.len()
    rules = [
        ("expect_column_values_to_not_be_null", "title", titles.isna()),
        (
            "expect_column_value_lengths_to_be_between",
            "title",
            titles.notna() & ((title_chars < 1) | (title_chars > MAX_TITLE_CHARS)),
        ),
        (
            "expect_column_value_lengths_to_be_between",
            "description",
            description_chars > MAX_DESCRIPTION_CHARS,
        ),
        ("expect_column_values_to_be_unique", "id", ids.duplicated(keep=False)),
        (
            "expect_compound_columns_to_be_unique",
            ",".join(FEATURE_COLUMNS),
            df.duplicated(subset=list(FEATURE_COLUMNS), keep=False),
        ),
    ]
    return [
        ExpectationResult(name, column, False, int(bad.sum()), ids[bad].head(5).tolist())
        for name, column, bad in rules
        if bad.any()
    ]
