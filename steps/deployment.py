"""Deployment steps: package a model version as a Bento, serve it with the stack's BentoML model
deployer (replacing what served before), and smoke-test the live endpoint."""

from __future__ import annotations

from typing import Annotated

import bentoml
import requests
from zenml import get_step_context, step
from zenml.logger import get_logger
from zenml.utils import source_utils

from project import names
from serving import deployer, package
from serving.service import to_prediction
from tagger.config import Backend
from tagger.data import join_text
from tagger.model import TextClassifier

logger = get_logger(__name__)

SMOKE_PROJECTS = [
    {"title": "Real-time object detection", "description": "YOLO boxes on traffic camera images."},
    {"title": "Sentiment analysis with BERT", "description": "Classify tweets by sentiment."},
    {
        "title": "Serving models on Kubernetes",
        "description": "Deploy and monitor models in production.",
    },
]


@step
def build_bento(
    classifier: TextClassifier, backend: Backend = "torch"
) -> Annotated[bentoml.Bento, names.BENTO]:
    """The Bento carries the service code, the bundle files, the version's model card and the
    project's pins.

    With the onnx backend it also carries the ONNX export, and the build fails unless that
    export answers as the bundle (same tags, probabilities within 1e-4) on the project's data.
    """
    version = get_step_context().model_version
    card = version.get_artifact(names.MODEL_CARD) if version else None
    model = package.save_model(
        classifier,
        zenml_version=version.number if version else None,
        backend=backend,
        model_card=card.load().markdown if card else None,
    )
    built = package.build_bento(model, package.runtime_requirements(backend))
    parity = model.info.metadata.get("onnx_parity")
    logger.info(
        "built Bento %s with model %s (%s backend%s)",
        built.tag,
        model.tag,
        backend,
        f", ONNX parity on {parity['rows']} texts: max diff {parity['max_abs_diff']:.1e}"
        if parity
        else "",
    )
    return built


@step(enable_cache=False)
def deploy_bento(
    bento: bentoml.Bento, port: int = 3000, timeout: int = 180
) -> Annotated[str, names.PREDICTION_URL]:
    """Replace this model's server with one for this Bento; never cached (a server is state)."""
    context = get_step_context()
    return deployer.start_server(
        bento,
        port,
        timeout,
        model_version=context.model_version.number if context.model_version else None,
        working_dir=source_utils.get_source_root(),
        run={
            "pipeline_name": context.pipeline.name,
            "pipeline_step_name": context.step_run.name,
            "run_name": context.pipeline_run.name,
        },
    )


@step(enable_cache=False)
def smoke_test(
    prediction_url: str, classifier: TextClassifier
) -> Annotated[int, names.SMOKE_CHECKS]:
    """The live answers must equal the same bundle's in-process predictions."""
    response = requests.post(
        f"{prediction_url}/predict", json={"projects": SMOKE_PROJECTS}, timeout=30
    )
    response.raise_for_status()
    texts = [join_text(p["title"], p["description"]) for p in SMOKE_PROJECTS]
    labels = list(classifier.labels)
    for live, row, text in zip(
        response.json(), classifier.predict_proba(texts), texts, strict=True
    ):
        local = to_prediction(labels, row.tolist(), 0.0)
        if live["tag"] != local.tag or abs(live["confidence"] - local.confidence) > 1e-4:
            raise RuntimeError(f"live answer {live} differs from in-process {local} for {text!r}")
    return len(SMOKE_PROJECTS)
