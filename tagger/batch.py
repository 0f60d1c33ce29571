"""Batch inference that streams: an input larger than memory (a file, a directory of CSV / parquet
files, an S3 prefix) read as a Ray dataset, checked block by block, predicted by a pool of actors
that each load the classifier once, and written as parquet files.

The in-process path (`tagger.inference.predict_frame` on one frame) stays for small inputs on
the local stack; `choose_engine` decides between them. Memory stays bounded because Ray Data
streams: a block is read, checked, predicted and written while the next ones wait in the read
queue, and no process ever holds the whole input.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from tagger.config import Backend, BatchConfig, Engine
from tagger.validation import ExpectationResult, ValidationReport, check_rows, validate

logger = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".parquet": "parquet"}
PATH_COLUMN = "path"  # Ray's column naming the file a row came from
TEXT_COLUMNS = ("id", "created_on", "title", "description")
PARTS_DIR = "parts"  # the parquet files of a PredictionSet, under its path


class BatchInputError(ValueError):
    """The input cannot be read as batch data (missing, empty, or no CSV / parquet files)."""


class BlockValidationError(ValueError):
    """Rows of one input file broke the per-row rules; the message names the file and rows."""

    def __init__(self, source: str, failures: Sequence[ExpectationResult]) -> None:
        lines = [f"  - {f.expectation} on {f.column!r}: {f.unexpected_count} rows, ids {f.examples}"
                 if f.column else f"  - {f.describe()}" for f in failures]  # fmt: skip
        super().__init__(f"rows of {source} failed validation\n" + "\n".join(lines))
        self.source = source
        self.failures = list(failures)

    def __reduce__(self):
        # rebuilt from its fields when it travels from a Ray worker to the driver
        return type(self), (self.source, self.failures)


def choose_engine(
    engine: Engine, on_ray: bool, input_bytes: int, ray_above_mb: float
) -> Literal["local", "ray"]:
    """`auto`: Ray when the step already runs on a Ray cluster or the input is too large to
    read into one frame; otherwise the step's own process (no Ray start-up to pay)."""
    if engine != "auto":
        return engine
    return "ray" if on_ray or input_bytes > ray_above_mb * 2**20 else "local"


def _filesystem(location: str):
    """pyarrow's filesystem for a local path or URI (s3://, gs://), and the path within it."""
    from pyarrow import fs

    if "://" not in location:
        return fs.LocalFileSystem(), str(Path(location).resolve())
    return fs.FileSystem.from_uri(location)


def input_files(location: str) -> list[str]:
    """The CSV and parquet files at `location` (a file, or every such file under a directory or
    prefix), as paths Ray and pyarrow read: local absolute paths or full URIs."""
    from pyarrow import fs

    filesystem, path = _filesystem(location)
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.NotFound:
        raise BatchInputError(f"cannot read batch input {location!r}: no such file or directory")
    if info.type == fs.FileType.File:
        found = [info]
    else:
        found = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
    files = sorted(i.path for i in found if i.is_file and Path(i.path).suffix.lower() in FORMATS)
    if not files:
        raise BatchInputError(f"batch input {location!r} holds no {' or '.join(FORMATS)} files")
    scheme = location.split("://", 1)[0] + "://" if "://" in location else ""
    return [scheme + f for f in files]


def input_bytes(location: str) -> int:
    """Bytes on storage of the input; 0 for an http(s) URL, which only the local path reads."""
    if location.startswith(("http://", "https://")):
        return 0
    total = 0
    for file in input_files(location):
        filesystem, path = _filesystem(file)
        total += filesystem.get_file_info(path).size or 0
    return total


def read_sample(location: str, rows: int) -> pd.DataFrame:
    """The first `rows` rows of the first input file, read as the in-process path reads them."""
    import pyarrow.parquet as pq

    first = input_files(location)[0]
    filesystem, path = _filesystem(first)
    with filesystem.open_input_file(path) as stream:
        if first.lower().endswith(".csv"):
            return pd.read_csv(stream, nrows=rows, dtype={"id": str})
        batch = next(pq.ParquetFile(stream).iter_batches(batch_size=rows), None)
    if batch is None:
        raise BatchInputError(f"batch input {first!r} has no rows")
    frame = batch.to_pandas()
    return frame.assign(id=frame["id"].astype(str)) if "id" in frame else frame


def validate_sample(location: str, rows: int) -> ValidationReport:
    """The whole expectation suite on the input's first rows: a wrong schema or a bad first
    block fails before any actor starts. The per-row rules then run on every block."""
    return validate(read_sample(location, rows), with_labels=False, min_rows_per_label=None)


def read_dataset(location: str, min_blocks: int = 1):
    """The input as a lazy Ray dataset with a `path` column naming each row's file.

    At least one read task a file and `min_blocks` in all: Ray Data would otherwise merge small
    files into one block, which one actor predicts while the others wait.
    """
    import pyarrow as pa
    import ray.data
    from pyarrow import csv

    files = input_files(location)
    as_text = csv.ConvertOptions(
        column_types={c: pa.string() for c in TEXT_COLUMNS}, strings_can_be_null=True
    )  # empty cells are nulls, as pandas reads them
    parts = []
    if csv_files := [f for f in files if f.lower().endswith(".csv")]:
        parts.append(
            ray.data.read_csv(
                csv_files,
                include_paths=True,
                convert_options=as_text,
                override_num_blocks=max(len(csv_files), min_blocks),
            )
        )
    if parquet_files := [f for f in files if f.lower().endswith(".parquet")]:
        parts.append(
            ray.data.read_parquet(
                parquet_files,
                include_paths=True,
                override_num_blocks=max(len(parquet_files), min_blocks),
            )
        )
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


def checked_block(block: pd.DataFrame) -> pd.DataFrame:
    """The per-row rules on one block, file by file; the rows as the classifier reads them."""
    for source, rows in block.groupby(PATH_COLUMN, sort=False):
        if failures := check_rows(rows):
            raise BlockValidationError(str(source), failures)
    return block.drop(columns=[PATH_COLUMN]).assign(id=block["id"].astype(str))


def pack_bundle(directory: str | Path) -> dict[str, bytes]:
    """A bundle directory as bytes per file: it travels to the actors through the object store,
    so no node needs a shared filesystem."""
    directory = Path(directory)
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


class Predictor:
    """One actor of the pool: unpacks the bundle and loads the classifier once, then predicts
    every batch it is given."""

    def __init__(self, bundle: list, backend: str, threshold: float, batch_size: int) -> None:
        import ray

        from tagger.onnx_backend import load_classifier

        files = ray.get(bundle[0])  # in a list, so Ray hands over the reference, not a copy
        self._directory = tempfile.TemporaryDirectory(prefix="tagger-bundle-")
        for name, content in files.items():
            target = Path(self._directory.name) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        self.classifier = load_classifier(self._directory.name, backend)
        self.threshold = threshold
        self.batch_size = batch_size

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from tagger.inference import predict_frame

        return predict_frame(self.classifier, batch, self.threshold, self.batch_size)


def connect() -> None:
    """Join the Ray cluster this process reaches (`RAY_ADDRESS`, a local `ray start`, or a fresh
    local instance), shipping this package so the actors run this very code."""
    import ray

    if not ray.is_initialized():
        ray.init(runtime_env={"py_modules": [str(Path(__file__).parent)]}, log_to_driver=False)


def predictions_dataset(
    location: str,
    bundle_dir: str | Path,
    config: BatchConfig,
    backend: Backend = "torch",
    threshold: float = 0.0,
):
    """The lazy dataset of predictions: read -> per-row checks (tasks) -> classifier (a pool of
    `config.actors` actors). With `backend="onnx"` the bundle directory holds the export."""
    import ray
    import ray.data

    connect()
    cpus = ray.cluster_resources().get("CPU", 0)
    if config.actors * config.cpus_per_actor >= cpus:
        # reading, checking and writing are tasks of a CPU each: with none left they never run
        logger.warning(
            "%d actors of %s CPUs take all %s CPUs of the cluster: the read and write tasks "
            "wait until an autoscaler adds CPUs; lower batch.actors",
            config.actors, config.cpus_per_actor, cpus,
        )  # fmt: skip
    # a UDF's own exception (a bad block) reaches the caller as itself, not wrapped
    ray.data.DataContext.get_current().raise_original_map_exception = True
    bundle = ray.put(pack_bundle(bundle_dir))
    return (
        read_dataset(location, min_blocks=2 * config.actors)
        .map_batches(checked_block, batch_format="pandas")
        .map_batches(
            Predictor,
            fn_constructor_kwargs={
                "bundle": [bundle],
                "backend": backend,
                "threshold": threshold,
                "batch_size": 64,
            },
            batch_size=config.batch_size,
            batch_format="pandas",
            concurrency=config.actors,
            num_cpus=config.cpus_per_actor,
        )
    )


def predict_on_ray(
    location: str,
    bundle_dir: str | Path,
    output: str,
    config: BatchConfig,
    backend: Backend = "torch",
    threshold: float = 0.0,
) -> PredictionSet:
    """Predict every row at `location` into parquet files under `output`; a block that breaks the
    per-row rules stops the run with a `BlockValidationError` naming its file and rows."""
    import ray.exceptions

    target = f"{output.rstrip('/')}/{PARTS_DIR}"
    dataset = predictions_dataset(location, bundle_dir, config, backend, threshold)
    try:
        dataset.write_parquet(target)
    except ray.exceptions.RayTaskError as exc:
        # Ray's copy carries the worker's traceback; the error itself is the one to show
        if isinstance(exc.cause, BlockValidationError):
            raise exc.cause from None
        raise
    return PredictionSet(output)


@dataclass(frozen=True)
class PredictionSet:
    """Predictions stored as parquet files under `path/parts`: nothing is read until asked, and
    then batch by batch. `filesystem`: a pyarrow filesystem for `path` (the artifact store's own,
    with its credentials); by default pyarrow's for the path's scheme."""

    path: str
    filesystem: Any = field(default=None, compare=False, repr=False)

    def _fs(self):
        if self.filesystem is not None:
            return self.filesystem, self.path
        return _filesystem(self.path)

    def files(self) -> list[str]:
        from pyarrow import fs

        filesystem, root = self._fs()
        selector = fs.FileSelector(f"{root.rstrip('/')}/{PARTS_DIR}", recursive=True)
        return sorted(
            i.path for i in filesystem.get_file_info(selector) if i.path.endswith(".parquet")
        )

    def iter_batches(
        self, batch_size: int = 65536, columns: list[str] | None = None
    ) -> Iterator[pd.DataFrame]:
        import pyarrow.parquet as pq

        filesystem, _ = self._fs()
        for file in self.files():
            with filesystem.open_input_file(file) as stream:
                for batch in pq.ParquetFile(stream).iter_batches(batch_size, columns=columns):
                    yield batch.to_pandas()

    def num_rows(self) -> int:
        """From the files' footers: no row is read."""
        import pyarrow.parquet as pq

        filesystem, _ = self._fs()
        total = 0
        for file in self.files():
            with filesystem.open_input_file(file) as stream:
                total += pq.ParquetFile(stream).metadata.num_rows
        return total

    def __len__(self) -> int:
        return self.num_rows()

    def head(self, rows: int = 20) -> pd.DataFrame:
        taken, size = [], 0
        for batch in self.iter_batches(batch_size=rows):
            taken.append(batch.head(rows - size))
            size += len(taken[-1])
            if size >= rows:
                break
        return pd.concat(taken, ignore_index=True) if taken else pd.DataFrame()

    def to_pandas(self) -> pd.DataFrame:
        """Every prediction in one frame: only for what fits in memory."""
        batches = list(self.iter_batches())
        return pd.concat(batches, ignore_index=True) if batches else pd.DataFrame()

    def write_csv(self, path: str | Path) -> int:
        """Stream the predictions into one CSV file; the number of rows written."""
        rows = 0
        with Path(path).open("w", newline="") as out:
            for batch in self.iter_batches():
                batch.to_csv(out, index=False, header=rows == 0)
                rows += len(batch)
        return rows


def summarize(batches: Iterator[pd.DataFrame] | Sequence[pd.DataFrame]) -> dict[str, Any]:
    """Rows, per-class counts and mean confidence (overall and per class), over batches of
    predictions with `tag` and `confidence`: memory holds one batch at a time."""
    counts: dict[str, int] = {}
    sums: dict[str, float] = {}
    for batch in batches:
        grouped = batch.groupby("tag")["confidence"].agg(["count", "sum"])
        for tag, row in grouped.iterrows():
            counts[str(tag)] = counts.get(str(tag), 0) + int(row["count"])
            sums[str(tag)] = sums.get(str(tag), 0.0) + float(row["sum"])
    rows = sum(counts.values())
    return {
        "rows": rows,
        "per_class": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        "mean_confidence": sum(sums.values()) / rows if rows else 0.0,
        "mean_confidence_per_class": {t: sums[t] / counts[t] for t in sorted(counts)},
    }
