"""Model version (by stage or number), and a candidate for a shadow or canary rollout -> one Bento
-> served by the stack's BentoML deployer -> smoke test."""

from __future__ import annotations

from zenml import get_pipeline_context, pipeline

from project import names
from serving.rollout import Strategy
from steps.deployment import build_bento, deploy_bento, smoke_test
from tagger.config import ServingBackend


@pipeline
def deployment_pipeline(
    port: int = 3000,
    timeout: int = 180,
    backend: ServingBackend = "onnx",
    strategy: Strategy = "replace",
    candidate: str | None = None,
    fraction: float = 0.1,
) -> None:
    classifier = get_pipeline_context().model.get_model_artifact(names.CLASSIFIER)
    bento = build_bento(classifier, backend, strategy, candidate, fraction)
    url = deploy_bento(bento, port, timeout)
    smoke_test(url, bento)
