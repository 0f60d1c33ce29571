"""`run.py predict`: one project in this process, or a file through the batch pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from project import names
from project.paths import BATCH_CONFIG
from workflows.runs import model_name

if TYPE_CHECKING:
    import pandas as pd


def predict_one(
    title: str, description: str = "", version: str | int = "production", threshold: float = 0.0
) -> dict[str, Any]:
    """The tag and every tag's probability, from the version's classifier loaded here.

    The bundle comes from the local copy of the artifact the version holds now
    (`registry.bundle_cache`): one answer costs the model's load, not ZenML's.
    """
    from registry.bundle_cache import classifier_bundle
    from tagger.inference import choose_tag
    from tagger.model import TextClassifier

    classifier = TextClassifier.load(classifier_bundle(model_name(BATCH_CONFIG), version))
    probabilities = classifier.predict_project(title, description)
    tag, _ = choose_tag(list(probabilities), list(probabilities.values()), threshold)
    return {"tag": tag, "probabilities": probabilities}


def predict_file(
    input_loc: str, version: str | int = "production", threshold: float = 0.0
) -> pd.DataFrame:
    """Run the batch inference pipeline on a CSV (path or URL); its predictions."""
    from zenml import Model

    from pipelines import batch_inference_pipeline
    from workflows.runs import output, run_pipeline

    pipeline = batch_inference_pipeline.with_options(
        config_path=str(BATCH_CONFIG),
        model=Model(name=model_name(BATCH_CONFIG), version=version),
        parameters={"dataset_loc": input_loc, "threshold": threshold},
    )
    return output(run_pipeline(pipeline), names.PREDICTIONS)


def write_predictions(frame: pd.DataFrame, path: str) -> None:
    if path.endswith(".json"):
        frame.to_json(path, orient="records", indent=2)
    else:
        frame.to_csv(path, index=False)
