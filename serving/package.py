"""Packaging a classifier bundle as a BentoML model and a Bento (no pickle: the bundle's own files)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import bentoml

from project.paths import DEFAULT_DATASET, PROJECT_ROOT
from serving.rollout import PLAN_ENV, RolloutPlan, Strategy
from serving.service import MODEL_CARD_FILE, MODEL_NAME, model_backend
from tagger.config import ServingBackend
from tagger.model import Classifier, TextClassifier
from tagger.onnx_backend import ONNX_MODEL_FILES, load_classifier

if TYPE_CHECKING:
    import pandas as pd

SERVICE = "serving.service:TaggerService"


def project_data() -> pd.DataFrame:
    """The rows an export is checked on when none are given: the project's own data, shipped
    with the code."""
    from tagger.data import read_csv

    return read_csv(DEFAULT_DATASET)


def save_model(
    classifier: TextClassifier,
    zenml_version: int | None,
    backend: ServingBackend = "torch",
    labelled: pd.DataFrame | None = None,
    model_card: str | None = None,
) -> bentoml.Model:
    """A new version of the BentoML model the service loads, holding this bundle.

    With the onnx backends the model also holds the ONNX export, and is only created once the
    export answers as the bundle on `labelled`'s texts (default: `project_data()`); else
    `ParityError`. onnx-int8 adds the export quantized to int8, kept only when its weighted F1
    on `labelled` is within `INT8_MAX_F1_DROP` of the float export's; else `QuantizationError`.
    Pass the version's test split: the project's data may be what it trained on.
    The backend is in the labels and metadata, where the service reads it; the version's model
    card (Markdown) travels beside the bundle, and `/metadata` returns it.
    """
    labels = {"backend": backend}
    if zenml_version is not None:
        labels["zenml_version"] = str(zenml_version)
    metadata = {
        "labels": list(classifier.labels),
        "base_model": classifier.info.base_model,
        "lexical_weight": classifier.info.lexical_weight,
        "seed_ensemble_members": classifier.info.members,
        "backend": backend,
    }
    with tempfile.TemporaryDirectory(prefix="tagger-bundle-") as tmp:
        bundle = Path(tmp) / "bundle"
        if backend in ONNX_MODEL_FILES:
            from tagger.data import texts_of
            from tagger.onnx_backend import export_checked, quantize_checked

            rows = project_data() if labelled is None else labelled
            metadata["onnx_parity"] = asdict(export_checked(classifier, bundle, texts_of(rows)))
            if backend == "onnx-int8":
                metadata["int8_check"] = asdict(quantize_checked(bundle, rows))
        else:
            classifier.save(bundle)
        if model_card is not None:
            (bundle / MODEL_CARD_FILE).write_text(model_card)
        with bentoml.models.create(MODEL_NAME, labels=labels, metadata=metadata) as model:
            shutil.copytree(bundle, model.path, dirs_exist_ok=True)
    return bentoml.models.get(model.tag)


def build_bento(
    model: bentoml.Model,
    requirements: list[str],
    candidate: bentoml.Model | None = None,
    strategy: Strategy = "replace",
    fraction: float = 0.1,
) -> bentoml.Bento:
    """A Bento of the service, the project code it imports, pinned requirements and the models it
    serves: `model` (production) and, for a shadow or canary rollout, `candidate`.

    The rollout plan is in the Bento's labels; the service module declares its models from it,
    so a module imported before (this process's) is reloaded with the plan first.
    """
    import importlib
    import sys

    plan = RolloutPlan(
        strategy=strategy,
        production=str(model.tag),
        candidate=str(candidate.tag) if candidate is not None else None,
        fraction=fraction,
    )
    labels = {"model": str(model.tag), **model.info.labels, **plan.labels()}
    if candidate is not None:
        labels["candidate_zenml_version"] = candidate.info.labels.get("zenml_version", "")
    previous = os.environ.get(PLAN_ENV)
    os.environ[PLAN_ENV] = plan.model_dump_json()
    try:
        if "serving.service" in sys.modules:
            importlib.reload(sys.modules["serving.service"])
        return bentoml.bentos.build(
            service=SERVICE,
            name="project_tagger",
            labels=labels,
            include=["serving/*.py", "tagger/*.py"],
            python={"packages": requirements, "lock_packages": False},
            build_ctx=str(PROJECT_ROOT),
        )
    finally:
        if previous is None:
            os.environ.pop(PLAN_ENV)
        else:
            os.environ[PLAN_ENV] = previous


def served_classifiers(bento: bentoml.Bento) -> dict[str, Classifier]:
    """The classifiers `bento` serves, by the ZenML version its answers name, loaded from the
    Bento's own model files on the Bento's backend: what its live answers must equal."""
    plan = RolloutPlan.from_labels(bento.info.labels)
    if plan is None:
        raise ValueError(
            f"{bento.tag} has no rollout plan in its labels: not built by this project"
        )
    found = {}
    for tag in filter(None, (plan.production, plan.candidate)):
        model = bentoml.models.get(tag)
        found[model.info.labels.get("zenml_version", "")] = load_classifier(
            model.path, model_backend(model)
        )
    return found


RUNTIME_PACKAGES = (
    "torch",
    "transformers",
    "safetensors",
    "numpy",
    "pandas",
    "scikit-learn",
    "tqdm",
    "bentoml",
    "setuptools",
)
BACKEND_PACKAGES: dict[ServingBackend, tuple[str, ...]] = {
    "torch": (),
    "onnx": ("onnxruntime",),
    "onnx-int8": ("onnxruntime",),
}


def runtime_requirements(backend: ServingBackend = "torch") -> list[str]:
    """The Bento's pins: the project's own pins for what the service imports on `backend`."""
    import re
    import tomllib

    wanted = {*RUNTIME_PACKAGES, *BACKEND_PACKAGES[backend]}
    pins = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [pin for pin in pins if re.split(r"[\[<>=~! ]", pin, maxsplit=1)[0] in wanted]
