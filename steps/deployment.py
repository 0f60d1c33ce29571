"""Deployment steps: package a model version as a Bento, serve it with the stack's BentoML model
deployer (replacing what served before without downtime), and smoke-test the live endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import bentoml
from zenml import get_step_context, step
from zenml.logger import get_logger
from zenml.utils import source_utils

from project import names
from serving import deployer, package, smoke
from serving.rollout import Strategy
from tagger.config import ServingBackend
from tagger.model import TextClassifier

if TYPE_CHECKING:
    import pandas as pd
    from zenml.models import ModelVersionResponse as ModelVersion

logger = get_logger(__name__)


def _candidate(candidate: str | None) -> ModelVersion | None:
    """The candidate version of a shadow or canary rollout (a number or a stage)."""
    if candidate is None:
        return None
    from registry.stages import get_version

    model = get_step_context().model_version
    version = get_version(model.model.name, int(candidate) if candidate.isdigit() else candidate)
    if version.number == model.number:
        raise ValueError(
            f"the candidate {candidate!r} is version {version.number}, the one deployed"
        )
    return version


@step
def build_bento(
    classifier: TextClassifier,
    backend: ServingBackend = "torch",
    strategy: Strategy = "replace",
    candidate: str | None = None,
    fraction: float = 0.1,
) -> Annotated[bentoml.Bento, names.BENTO]:
    """The Bento carries the service code, the bundle files, the version's model card and the
    project's pins; for a shadow or canary rollout also the candidate version's bundle.

    With the onnx backends it also carries the ONNX export, and the build fails unless that
    export answers as the bundle (same tags, probabilities within 1e-4) on the version's test
    split; onnx-int8 adds the export quantized to int8, which must keep the float export's
    weighted F1 on that split within 0.005.
    """
    version = get_step_context().model_version
    card = version.get_artifact(names.MODEL_CARD) if version else None
    model = package.save_model(
        classifier,
        zenml_version=version.number if version else None,
        backend=backend,
        labelled=_test_split(version),
        model_card=card.load().markdown if card else None,
    )
    other = _candidate(candidate)
    candidate_model = (
        package.save_model(
            other.get_artifact(names.CLASSIFIER).load(),
            zenml_version=other.number,
            backend=backend,
            labelled=_test_split(other),
        )
        if other
        else None
    )
    built = package.build_bento(
        model, package.runtime_requirements(backend), candidate_model, strategy, fraction
    )
    parity = model.info.metadata.get("onnx_parity")
    int8 = model.info.metadata.get("int8_check")
    logger.info(
        "built Bento %s with model %s (%s backend%s%s)%s",
        built.tag,
        model.tag,
        backend,
        f", ONNX parity on {parity['rows']} texts: max diff {parity['max_abs_diff']:.1e}"
        if parity
        else "",
        f", int8 weighted F1 {int8['f1_int8']:.4f} vs float {int8['f1_float']:.4f}" if int8 else "",
        f", {strategy} rollout of candidate {candidate_model.tag}" if candidate_model else "",
    )
    return built


def _test_split(version: ModelVersion | None) -> pd.DataFrame | None:
    """The rows a version was tested on, which an export of it is checked on."""
    if version is None:
        return None
    artifact = version.get_artifact(names.TEST_SET)
    return artifact.load() if artifact is not None else None


@step(enable_cache=False)
def deploy_bento(
    bento: bentoml.Bento, port: int = 3000, timeout: int = 180
) -> Annotated[str, names.PREDICTION_URL]:
    """Replace this model's server with one for this Bento, smoke-tested before it takes traffic;
    never cached (a server is state)."""
    context = get_step_context()
    expected = package.served_classifiers(bento)
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
        check=lambda url: smoke.check_answers(url, expected),
    )


@step(enable_cache=False)
def smoke_test(prediction_url: str, bento: bentoml.Bento) -> Annotated[int, names.SMOKE_CHECKS]:
    """The public address answers as the Bento's own model files do in process."""
    return smoke.check_answers(prediction_url, package.served_classifiers(bento))
