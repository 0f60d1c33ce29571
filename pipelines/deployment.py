"""Model version (by stage or number) -> Bento -> served by the stack's BentoML deployer -> smoke test."""

from __future__ import annotations

from zenml import get_pipeline_context, pipeline

from project import names
from steps.deployment import build_bento, deploy_bento, smoke_test
from tagger.config import Backend


@pipeline
def deployment_pipeline(port: int = 3000, timeout: int = 180, backend: Backend = "onnx") -> None:
    classifier = get_pipeline_context().model.get_model_artifact(names.CLASSIFIER)
    bento = build_bento(classifier, backend)
    url = deploy_bento(bento, classifier, port, timeout)
    smoke_test(url, classifier)
