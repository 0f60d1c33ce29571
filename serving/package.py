"""Packaging a classifier bundle as a BentoML model and a Bento (no pickle: the bundle's own files)."""

from __future__ import annotations

import bentoml

from project.paths import PROJECT_ROOT
from serving.service import MODEL_NAME
from tagger.model import TextClassifier

SERVICE = "serving.service:TaggerService"


def save_model(classifier: TextClassifier, zenml_version: int | None) -> bentoml.Model:
    """A new version of the BentoML model the service loads, holding this bundle."""
    labels = {"zenml_version": str(zenml_version)} if zenml_version is not None else {}
    with bentoml.models.create(
        MODEL_NAME,
        labels=labels,
        metadata={"labels": list(classifier.labels), "base_model": classifier.info.base_model},
    ) as model:
        classifier.save(model.path)
    return bentoml.models.get(model.tag)


def build_bento(model: bentoml.Model, requirements: list[str]) -> bentoml.Bento:
    """A Bento of the service, the project code it imports and this model, pinned requirements."""
    latest = bentoml.models.get(f"{MODEL_NAME}:latest")
    if latest.tag != model.tag:
        raise ValueError(f"{model.tag} is not the latest {MODEL_NAME} model ({latest.tag})")
    return bentoml.bentos.build(
        service=SERVICE,
        name="project_tagger",
        labels={"model": str(model.tag), **model.info.labels},
        include=["serving/*.py", "tagger/*.py"],
        python={"packages": requirements, "lock_packages": False},
        build_ctx=str(PROJECT_ROOT),
    )


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


def runtime_requirements() -> list[str]:
    """The Bento's pins: the project's own pins for what the service imports."""
    import re
    import tomllib

    pins = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [pin for pin in pins if re.split(r"[\[<>=~! ]", pin, maxsplit=1)[0] in RUNTIME_PACKAGES]
