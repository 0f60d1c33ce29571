"""Local copies of classifier bundles, so that one `run.py predict --title` answers in seconds.

A copy is keyed by the id of the artifact version it came from: artifact versions never change,
so a copy is never stale. What could go stale is which artifact a version selector (production,
staging, a number) names; that is asked of the store on every call, never remembered. On a local
sqlite store it is read straight from ZenML's tables (`project.zenml_internals`), which costs
milliseconds where importing ZenML costs seconds; anything else goes through ZenML's client.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from project import names
from project.zenml_internals import global_config_dir, local_store_database, model_artifact_id
from registry.errors import RegistryError

logger = logging.getLogger(__name__)

KEEP = 3  # bundles kept; older copies go when a new one is made


def cache_dir() -> Path:
    return global_config_dir() / "tagger-bundles"


def cached_bundle(model: str, version: str | int) -> Path | None:
    """The local copy of the classifier that `version` of `model` holds now, if one is here and
    the store could be read without ZenML."""
    database = local_store_database()
    if database is None:
        return None
    artifact_id = model_artifact_id(database, model, version, names.CLASSIFIER)
    if artifact_id is None:
        return None
    bundle = cache_dir() / artifact_id.hex
    return bundle if bundle.is_dir() else None


def fetch_bundle(model: str, version: str | int) -> Path:
    """The classifier of `version` of `model`, asked of ZenML and copied here (once per artifact)."""
    from materializers.classifier import copy_bundle
    from registry.stages import get_version

    held = get_version(model, version)
    artifact = held.get_model_artifact(names.CLASSIFIER)
    if artifact is None:
        raise RegistryError(f"{model} version {held.number} has no {names.CLASSIFIER} artifact")
    bundle = cache_dir() / artifact.id.hex
    if bundle.is_dir():
        return bundle
    cache_dir().mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache_dir()))
    try:
        copy_bundle(artifact.uri, str(partial))
        _add_onnx(partial)
        partial.rename(bundle)
    except OSError:
        if not bundle.is_dir():  # not another process that made the same copy first
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    _prune(keep=bundle)
    return bundle


def classifier_bundle(model: str, version: str | int) -> Path:
    return cached_bundle(model, version) or fetch_bundle(model, version)


# what the export must answer as the bundle does before a copy keeps it
PROBES = [
    "YOLO for drones. Real-time object detection on aerial images.",
    "BERT question answering. Fine-tuning a transformer on SQuAD.",
    "Feature store. Serving features for training and inference pipelines.",
    "Reinforcement learning for trading",
]


def _add_onnx(bundle: Path) -> None:
    """An ONNX export beside the weights: `predict --title` then answers on ONNX Runtime, as the
    served Bento does, without importing torch or transformers. Kept only if it answers as the
    bundle does (`tagger.onnx_backend`'s parity rule); without it the copy answers on torch."""
    from tagger.model import TextClassifier
    from tagger.onnx_backend import ONNX_FILE, OnnxClassifier, compare, export_onnx

    try:
        export_onnx(bundle)
        parity = compare(TextClassifier.load(bundle), OnnxClassifier.load(bundle), PROBES)
    except Exception as exc:  # noqa: BLE001 - any model the exporter cannot trace stays on torch
        logger.warning("no ONNX export of %s (answers on torch): %s", bundle.name, exc)
        (bundle / ONNX_FILE).unlink(missing_ok=True)
        return
    if not parity.holds:
        logger.warning(
            "the ONNX export of %s differs from it (%s): answers on torch", bundle, parity
        )
        (bundle / ONNX_FILE).unlink()


def _prune(keep: Path) -> None:
    copies = sorted(
        (path for path in cache_dir().iterdir() if path.is_dir() and not path.name.startswith(".")),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for old in [path for path in copies if path != keep][KEEP - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
