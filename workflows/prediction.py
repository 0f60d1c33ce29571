"""`run.py predict`: one project in this process, or a file through the batch pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from project import names
from project.paths import BATCH_CONFIG
from workflows.runs import model_name

if TYPE_CHECKING:
    import pandas as pd

    from tagger.batch import PredictionSet
    from tagger.config import Engine


def predict_one(
    title: str, description: str = "", version: str | int = "production", threshold: float = 0.0
) -> dict[str, Any]:
    """The tag and every tag's probability, from the version's classifier loaded here.

    The bundle comes from the local copy of the artifact the version holds now
    (`registry.bundle_cache`): one answer costs the model's load, not ZenML's; on ONNX Runtime
    when the copy has its checked export (as the served Bento answers), else on torch.
    """
    from registry.bundle_cache import classifier_bundle
    from tagger.inference import choose_tag
    from tagger.onnx_backend import ONNX_FILE, load_classifier

    bundle = classifier_bundle(model_name(BATCH_CONFIG), version)
    classifier = load_classifier(bundle, "onnx" if (bundle / ONNX_FILE).exists() else "torch")
    probabilities = classifier.predict_project(title, description)
    tag, _ = choose_tag(list(probabilities), list(probabilities.values()), threshold)
    return {"tag": tag, "probabilities": probabilities}


def predict_file(
    input_loc: str,
    version: str | int = "production",
    threshold: float = 0.0,
    engine: Engine | None = None,
) -> pd.DataFrame | PredictionSet:
    """Run the batch inference pipeline on an input (a CSV path or URL; with Ray, also a
    directory or prefix of CSV / parquet files); its predictions: a frame from the in-process
    path, a lazily read `PredictionSet` from Ray. `engine` overrides the config's."""
    from zenml import Model

    from pipelines import batch_inference_pipeline
    from workflows.runs import output, read_config, run_pipeline

    parameters: dict[str, Any] = {"dataset_loc": input_loc, "threshold": threshold}
    if engine is not None:
        batch = read_config(BATCH_CONFIG).get("parameters", {}).get("batch", {})
        parameters["batch"] = {**batch, "engine": engine}
    pipeline = batch_inference_pipeline.with_options(
        config_path=str(BATCH_CONFIG),
        model=Model(name=model_name(BATCH_CONFIG), version=version),
        parameters=parameters,
    )
    return output(run_pipeline(pipeline), names.PREDICTIONS)


def write_predictions(predictions: pd.DataFrame | PredictionSet, path: str) -> None:
    """JSON holds every row in memory; CSV from a `PredictionSet` streams batch by batch."""
    from tagger.batch import PredictionSet

    if isinstance(predictions, PredictionSet):
        if not path.endswith(".json"):
            predictions.write_csv(path)
            return
        predictions = predictions.to_pandas()
    if path.endswith(".json"):
        predictions.to_json(path, orient="records", indent=2)
    else:
        predictions.to_csv(path, index=False)
