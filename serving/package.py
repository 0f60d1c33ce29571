"""Packaging a classifier bundle as a BentoML model and a Bento (no pickle: the bundle's own files)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import bentoml

from project.paths import DEFAULT_DATASET, PROJECT_ROOT
from serving.service import MODEL_CARD_FILE, MODEL_NAME
from tagger.config import Backend
from tagger.model import TextClassifier

SERVICE = "serving.service:TaggerService"


def parity_texts() -> list[str]:
    """The texts an ONNX export is checked on: the project's own data, shipped with the code."""
    from tagger.data import read_csv, texts_of

    return texts_of(read_csv(DEFAULT_DATASET))


def save_model(
    classifier: TextClassifier,
    zenml_version: int | None,
    backend: Backend = "torch",
    texts: Sequence[str] | None = None,
    model_card: str | None = None,
) -> bentoml.Model:
    """A new version of the BentoML model the service loads, holding this bundle.

    With the onnx backend the model also holds the ONNX export, and is only created once the
    export answers as the bundle on `texts` (default: `parity_texts()`); else `ParityError`.
    The backend is in the labels and metadata, where the service reads it; the version's model
    card (Markdown) travels beside the bundle, and `/metadata` returns it.
    """
    labels = {"backend": backend}
    if zenml_version is not None:
        labels["zenml_version"] = str(zenml_version)
    metadata = {
        "labels": list(classifier.labels),
        "base_model": classifier.info.base_model,
        "backend": backend,
    }
    with tempfile.TemporaryDirectory(prefix="tagger-bundle-") as tmp:
        bundle = Path(tmp) / "bundle"
        if backend == "onnx":
            from tagger.onnx_backend import export_checked

            parity = export_checked(classifier, bundle, parity_texts() if texts is None else texts)
            metadata["onnx_parity"] = {
                "rows": parity.rows,
                "max_abs_diff": parity.max_abs_diff,
                "argmax_mismatches": parity.argmax_mismatches,
            }
        else:
            classifier.save(bundle)
        if model_card is not None:
            (bundle / MODEL_CARD_FILE).write_text(model_card)
        with bentoml.models.create(MODEL_NAME, labels=labels, metadata=metadata) as model:
            shutil.copytree(bundle, model.path, dirs_exist_ok=True)
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
BACKEND_PACKAGES: dict[str, tuple[str, ...]] = {"torch": (), "onnx": ("onnxruntime",)}


def runtime_requirements(backend: Backend = "torch") -> list[str]:
    """The Bento's pins: the project's own pins for what the service imports on `backend`."""
    import re
    import tomllib

    wanted = {*RUNTIME_PACKAGES, *BACKEND_PACKAGES[backend]}
    pins = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [pin for pin in pins if re.split(r"[\[<>=~! ]", pin, maxsplit=1)[0] in wanted]
