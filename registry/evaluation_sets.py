"""The evaluation sets a promotion compares on: the candidate's test split, production's own test
split (found through production's lineage), and pinned sets named in the policy.

A pinned set is a CSV (path or URL) or a registered ZenML artifact
(`python run.py eval-set register FILE NAME` makes a versioned one from a CSV).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from uuid import UUID

import pandas as pd
from zenml.models import ModelVersionResponse

from project import names
from registry.errors import RegistryError
from tagger import data
from tagger.evaluation import EvaluationReport, evaluate
from tagger.model import TextClassifier
from tagger.promotion import Comparison

EVALUATION_SET_TAG = "evaluation-set"


def register_evaluation_set(location: str, name: str) -> int:
    """Read and check a labelled CSV, and store it as a new version of the artifact `name`."""
    from zenml import save_artifact

    from materializers import HashedDataFrameMaterializer
    from tagger.validation import DataValidationError, validate

    frame = data.read_csv(location)
    report = validate(frame, min_rows_per_label=None)  # scored only: any tags, any counts
    if not report.success:
        raise DataValidationError(report)
    artifact = save_artifact(
        frame,
        name=name,
        tags=[EVALUATION_SET_TAG],
        materializer=HashedDataFrameMaterializer,
        user_metadata={
            "source": location,
            "rows": len(frame),
            "fingerprint": data.fingerprint(frame),
        },
    )
    return int(artifact.version)


def load_evaluation_set(reference: str) -> pd.DataFrame:
    """A pinned set: a registered artifact's latest version, else a CSV path or URL."""
    from zenml.client import Client

    registered = Client().list_artifact_versions(name=reference, sort_by="desc:created", size=1)
    if registered.items:
        return registered.items[0].load()
    try:
        return data.read_csv(reference)
    except data.DatasetError as exc:
        raise RegistryError(
            f"evaluation set {reference!r} is neither a registered artifact nor a readable CSV: {exc}"
        ) from exc


def training_fingerprint(version: ModelVersionResponse) -> str | None:
    return (version.run_metadata.get("dataset") or {}).get("fingerprint")


def comparisons(
    candidate: Callable[[], TextClassifier],
    candidate_report: EvaluationReport,
    test_set: pd.DataFrame,
    candidate_fingerprint: str | None,
    production: ModelVersionResponse | None,
    pinned: tuple[str, ...] = (),
    candidate_artifact: UUID | None = None,
) -> tuple[list[Comparison], str]:
    """Both models on every relevant set, the primary first, and a note on why it is primary.

    When the candidate was trained on other data than production (fingerprints differ), the
    scores on production's own test split decide: the candidate's split may be easier.

    When production holds the candidate's own classifier artifact (`candidate_artifact`: a
    cached rerun of the run that made production), it is the same model: its scores are the
    candidate's, and it is neither loaded nor scored again.

    `candidate` loads the candidate's classifier: called at most once, and only when a set needs
    it scored (a cached rerun that production already holds needs none).
    """
    candidate = functools.cache(candidate)
    held = production.get_model_artifact(names.CLASSIFIER) if production else None
    same_model = held is not None and held.id == candidate_artifact
    incumbent = held.load() if held is not None and not same_model else None

    def compare(
        name: str, frame: pd.DataFrame, report: EvaluationReport | None = None
    ) -> Comparison:
        ours = report if report is not None else evaluate(candidate(), frame)
        theirs = ours if same_model else None if incumbent is None else evaluate(incumbent, frame)
        return Comparison(name, ours, theirs, len(frame))

    own = compare("candidate test split", test_set, candidate_report)
    sets, note = [own], ""
    if production is not None:
        artifact = production.get_data_artifact(names.TEST_SET)
        if artifact is not None:
            theirs = artifact.load()
            if data.fingerprint(theirs) != data.fingerprint(test_set):
                sets.append(compare(f"production v{production.number} test split", theirs))
        produced_on = training_fingerprint(production)
        if len(sets) > 1 and produced_on != candidate_fingerprint:
            sets.reverse()
            note = (
                f"trained on other data than production v{production.number} "
                f"(dataset {candidate_fingerprint} vs {produced_on}), so production's test split decides"
            )
    sets += [compare(f"pinned {ref}", load_evaluation_set(ref)) for ref in pinned]
    return sets, note
