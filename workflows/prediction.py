"""`run.py predict`: one project in this process, or a file through the batch pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from project import names
from project.paths import BATCH_CONFIG
from workflows.runs import model_name, output, run_pipeline


def predict_one(
    title: str, description: str = "", version: str | int = "production", threshold: float = 0.0
) -> dict[str, Any]:
    """The tag and every tag's probability, from the version's classifier loaded here."""
    from registry.stages import get_version
    from tagger.inference import choose_tag

    version_model = get_version(model_name(BATCH_CONFIG), version)
    classifier = version_model.get_model_artifact(names.CLASSIFIER).load()
    probabilities = classifier.predict_project(title, description)
    tag, _ = choose_tag(list(probabilities), list(probabilities.values()), threshold)
    return {"tag": tag, "probabilities": probabilities}


def predict_file(
    input_loc: str, version: str | int = "production", threshold: float = 0.0
) -> pd.DataFrame:
    """Run the batch inference pipeline on a CSV (path or URL); its predictions."""
    from zenml import Model

    from pipelines import batch_inference_pipeline

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
