"""Stores a `TextClassifier` bundle as its own plain files (safetensors, tokenizer, JSON)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

from materializers.files import copy_tree
from materializers.visualizations import classifier_html
from tagger.model import TextClassifier

BUNDLE_DIR = "bundle"


def copy_bundle(artifact_uri: str, destination: str) -> None:
    """The bundle's own files from a classifier artifact, without loading it (no torch)."""
    copy_tree(os.path.join(artifact_uri, BUNDLE_DIR), destination)


class ClassifierMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (TextClassifier,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def load(self, data_type: type[Any]) -> TextClassifier:
        with self.get_temporary_directory(delete_at_exit=True) as local:
            copy_bundle(self.uri, local)
            return TextClassifier.load(local)

    def save(self, data: TextClassifier) -> None:
        with self.get_temporary_directory(delete_at_exit=True) as local:
            data.save(local)
            copy_tree(local, os.path.join(self.uri, BUNDLE_DIR))

    def _summary(self, data: TextClassifier) -> dict[str, MetadataType]:
        return {
            "base_model": data.info.base_model,
            "labels": list(data.labels),
            "max_length": data.info.max_length,
            "num_parameters": sum(p.numel() for m in data.models for p in m.parameters()),
            "architecture": type(data.model).__name__,
            "seed_ensemble_members": data.info.members,
        }

    def extract_metadata(self, data: TextClassifier) -> dict[str, MetadataType]:
        return self._summary(data)

    def save_visualizations(self, data: TextClassifier) -> dict[str, VisualizationType]:
        uri = os.path.join(self.uri, "classifier.html")
        with fileio.open(uri, "w") as f:
            f.write(classifier_html(self._summary(data)))
        return {uri: VisualizationType.HTML}
