import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from tagger.evaluation import (
    EvaluationReport,
    bootstrap_f1_interval,
    score_predictions,
    weighted_f1,
)

LABELS = ["computer-vision", "mlops", "natural-language-processing", "other"]


@pytest.fixture
def scored() -> EvaluationReport:
    # 4 CV (3 right, 1 -> NLP), 2 NLP (both right, one mentions an LLM), 1 mlops (-> other), 1 other.
    df = pd.DataFrame(
        {
            "title": ["a", "b", "c", "d", "BERT tagger", "e f g h i j k l", "m", "n"],
            "description": [""] * 4 + ["uses a transformer", "long enough text here", "", ""],
            "tag": ["computer-vision"] * 4
            + ["natural-language-processing"] * 2
            + ["mlops", "other"],
        }
    )
    predictions = ["computer-vision"] * 3 + ["natural-language-processing"] * 3 + ["other", "other"]
    return score_predictions(df, predictions, LABELS)


def test_per_class_scores_match_hand_computation(scored: EvaluationReport):
    cv, mlops, nlp, other = (scored.per_class[label] for label in LABELS)
    assert (cv.precision, cv.recall, cv.num_samples) == (1.0, 0.75, 4)
    assert cv.f1 == pytest.approx(2 * 0.75 / 1.75)
    assert (nlp.precision, nlp.recall) == (pytest.approx(2 / 3), 1.0)
    assert nlp.f1 == pytest.approx(0.8)
    assert (mlops.precision, mlops.recall, mlops.f1) == (0.0, 0.0, 0.0)
    assert (other.precision, other.recall) == (0.5, 1.0)


def test_weighted_overall_and_accuracy(scored: EvaluationReport):
    expected_f1 = (4 * (6 / 7) + 2 * 0.8 + 1 * 0.0 + 1 * (2 / 3)) / 8
    assert scored.overall.f1 == pytest.approx(expected_f1)
    assert scored.accuracy == pytest.approx(6 / 8)
    assert scored.overall.num_samples == 8


def test_confusion_matrix_rows_are_true_labels(scored: EvaluationReport):
    assert scored.confusion == [[3, 0, 1, 0], [0, 0, 0, 1], [0, 0, 2, 0], [0, 0, 0, 1]]


def test_slices(scored: EvaluationReport):
    assert scored.slices["llm_nlp"].num_samples == 1
    assert scored.slices["llm_nlp"].f1 == 1.0
    # every row but the 8-word title + description one is short
    assert scored.slices["short_text"].num_samples == 7


def test_round_trip_and_flat_metrics(scored: EvaluationReport):
    again = EvaluationReport.from_dict(scored.to_dict())
    assert again == scored
    metrics = scored.metrics()
    assert metrics["f1"] == scored.overall.f1
    assert metrics["f1_mlops"] == 0.0
    assert set(metrics) >= {"accuracy", "f1_slice_llm_nlp", "f1_slice_short_text"}


def test_empty_slices_are_left_out_of_the_flat_metrics():
    df = pd.DataFrame(
        {"title": ["a long title with many words in it"], "description": ["x"], "tag": ["mlops"]}
    )
    metrics = score_predictions(df, ["mlops"], LABELS).metrics()
    assert "f1_slice_short_text" not in metrics and "f1_slice_llm_nlp" not in metrics


def _noisy_predictions(rows: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """True tags in Made-With-ML's proportions; about one prediction in ten wrong."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(LABELS, size=rows, p=[0.37, 0.08, 0.41, 0.14])
    wrong = rng.random(rows) < 0.1
    return truth, np.where(wrong, rng.choice(LABELS, size=rows), truth)


def test_vectorised_weighted_f1_is_sklearns():
    truth, predicted = _noisy_predictions(150)
    codes = {label: i for i, label in enumerate(LABELS)}
    rows = np.random.default_rng(0).integers(0, 150, size=(20, 150))
    as_codes = np.vectorize(codes.get)
    ours = weighted_f1(as_codes(truth)[rows], as_codes(predicted)[rows])
    theirs = [f1_score(truth[r], predicted[r], average="weighted", zero_division=0) for r in rows]
    assert ours == pytest.approx(theirs)


def test_bootstrap_interval_is_seeded_and_holds_the_point_estimate():
    truth, predicted = _noisy_predictions(150)
    point = f1_score(truth, predicted, average="weighted")
    low, high = bootstrap_f1_interval(truth, predicted, seed=0)
    assert bootstrap_f1_interval(truth, predicted, seed=0) == (low, high)
    assert bootstrap_f1_interval(truth, predicted, seed=1) != (low, high)
    assert low < point < high
    # ~150 rows at F1 ~0.9: the interval is several points wide, not a rounding error
    assert 0.04 < high - low < 0.15


def test_bootstrap_interval_narrows_with_more_rows():
    widths = []
    for rows in (100, 400, 1600):
        low, high = bootstrap_f1_interval(*_noisy_predictions(rows))
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # the standard error falls as 1 / sqrt(n): four times the rows, about half the width
    assert widths[2] / widths[1] == pytest.approx(0.5, abs=0.15)


def test_report_carries_the_interval_in_its_flat_metrics_and_round_trips():
    truth, predicted = _noisy_predictions(150)
    df = pd.DataFrame({"title": ["t"] * 150, "description": [""] * 150, "tag": truth})
    report = score_predictions(df, list(predicted), LABELS)
    metrics = report.metrics()
    assert metrics["f1_ci_low"] < metrics["f1"] < metrics["f1_ci_high"]
    assert (metrics["f1_ci_low"], metrics["f1_ci_high"]) == bootstrap_f1_interval(truth, predicted)
    assert EvaluationReport.from_dict(report.to_dict()).metrics() == metrics


def test_a_report_saved_before_the_interval_still_loads_with_the_same_metrics(scored):
    old = scored.to_dict()
    del old["extra"]
    loaded = EvaluationReport.from_dict(old)
    assert "f1_ci_low" not in loaded.metrics()
    assert loaded.metrics().items() <= scored.metrics().items()
    assert (
        score_predictions(
            pd.DataFrame({"title": ["a"], "description": [""], "tag": ["mlops"]}),
            ["mlops"],
            LABELS,
            resamples=0,
        ).extra
        == {}
    )
