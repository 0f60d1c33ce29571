"""Batch predictions as a directory of parquet files, loaded lazily.

The Ray path writes its parquet files straight into the artifact's URI (every worker writes its
own part, nothing passes through the step's process), so saving here only copies what was
written elsewhere. Loading reads nothing: a `PredictionSet` opens its files when asked, batch by
batch, through the artifact store's own filesystem (with its credentials) where it has one.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

from materializers.files import copy_tree
from materializers.visualizations import predictions_html
from tagger.batch import PARTS_DIR, PredictionSet, summarize

HTML_FILE = "predictions.html"


class PredictionSetMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (PredictionSet,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def _here(self) -> PredictionSet:
        store_fs = getattr(self.artifact_store, "filesystem", None)
        if store_fs is None:  # the local store: pyarrow reads the path itself
            return PredictionSet(self.uri)
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        path = self.uri.split("://", 1)[-1]  # fsspec paths carry no scheme
        return PredictionSet(path, filesystem=PyFileSystem(FSSpecHandler(store_fs)))

    def load(self, data_type: type[Any]) -> PredictionSet:
        return self._here()

    def save(self, data: PredictionSet) -> None:
        if data.path.rstrip("/") != self.uri.rstrip("/"):
            copy_tree(os.path.join(data.path, PARTS_DIR), os.path.join(self.uri, PARTS_DIR))

    def extract_metadata(self, data: PredictionSet) -> dict[str, MetadataType]:
        stored = self._here()
        return {"rows": stored.num_rows(), "files": len(stored.files())}

    def save_visualizations(self, data: PredictionSet) -> dict[str, VisualizationType]:
        stored = self._here()
        summary = summarize(stored.iter_batches(columns=["tag", "confidence"]))
        uri = os.path.join(self.uri, HTML_FILE)
        with fileio.open(uri, "w") as f:
            f.write(predictions_html(summary, len(stored.files()), stored.head(20)))
        return {uri: VisualizationType.HTML}
