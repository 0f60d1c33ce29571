import pandas as pd
import pytest

from tagger.evaluation import EvaluationReport, score_predictions

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
