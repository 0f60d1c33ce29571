"""Pandas frames stored as zenml stores them, plus a content hash for the cache key.

`load_data` always runs (the file behind a path or URL can change); hashing its output lets
every downstream step come from the cache when the data did not change.
"""

from __future__ import annotations

from typing import Any, ClassVar

from zenml.materializers.pandas_materializer import PandasMaterializer

from tagger.data import fingerprint


class HashedDataFrameMaterializer(PandasMaterializer):
    SKIP_REGISTRATION: ClassVar[bool] = True

    def compute_content_hash(self, data: Any) -> str:
        return fingerprint(data)
