"""What the tagger answered, kept for monitoring: one `PredictionRecord` per project answered (by
the Bento or by batch inference) and one `FeedbackRecord` per true tag reported later.

Records go through BentoML's monitoring API (`bentoml.monitor`) to `JsonLinesSink`, a BentoML
monitor that writes one JSON line per record under `<records dir>/<kind>/`, in size-rotated files
(bounded: `max_bytes` x (1 + `backup_count`) per writer). Writing is handed to a thread through a
bounded queue: a request never waits on the disk, and a full queue or a failed write drops the
record with a warning instead of failing the request. `sink: otlp` sends the same columns to
BentoML's OTLP monitor (OpenTelemetry logs; endpoint from `OTEL_EXPORTER_OTLP_ENDPOINT`) instead.

The reader is `read_records`: it skips corrupt lines and unreadable files and says which.
Fields added later must be optional (a default), so older files still read.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger("bentoml.tagger.records")

PREDICTIONS = "predictions"
FEEDBACK = "feedback"
FILE_SUFFIX = ".jsonl"


class PredictionRecord(BaseModel):
    """One project answered: what came in, what went out, by which model, how fast."""

    model_config = ConfigDict(extra="ignore")

    request_id: str
    item: int = 0  # the project's position in its request
    time: datetime
    source: Literal["served", "batch"] = "served"
    model_version: str | None = None  # the ZenML model version
    title_length: int
    description_length: int
    title: str | None = None  # None when texts are not recorded
    description: str | None = None
    tag: str
    confidence: float
    probabilities: dict[str, float]
    threshold: float = 0.0
    latency_ms: float | None = None  # the request's, as the API measured it
    answered_by: str | None = None  # the version whose answer the caller got, when it differs
    agrees: bool | None = None  # a shadow's answer: whether its tag is the one the caller got


class FeedbackRecord(BaseModel):
    """The true tag of an earlier answer, as reported through `POST /feedback`."""

    model_config = ConfigDict(extra="ignore")

    request_id: str
    item: int = 0
    tag: str
    time: datetime


class Recording(BaseModel):
    """Where and how records are written; the Bento reads it from `TAGGER_RECORD_*` variables."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    directory: Path = Field(default_factory=lambda: default_records_dir())
    texts: bool = True  # keep titles and descriptions (off: lengths only)
    sink: Literal["jsonl", "otlp"] = "jsonl"
    max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    backup_count: int = Field(default=5, ge=1)
    queue_size: int = Field(default=10_000, gt=0)

    @classmethod
    def from_env(cls, cwd: Path | None = None) -> Recording:
        """`TAGGER_RECORD_ENABLED`, `TAGGER_RECORD_DIRECTORY`, `TAGGER_RECORD_TEXTS`, ..."""
        values: dict[str, Any] = {"directory": default_records_dir(cwd)}
        for field in cls.model_fields:
            key = f"TAGGER_RECORD_{field.upper()}"
            if key in os.environ:
                values[field] = os.environ[key]
        return cls.model_validate(values)


def default_records_dir(cwd: Path | None = None) -> Path:
    """`records/` in `TAGGER_ARTIFACT_ROOT`, else `.artifacts/records` in `cwd` (the project root,
    where the stack's deployer starts its servers); `Recording.from_env` lets
    `TAGGER_RECORD_DIRECTORY` override it."""
    if root := os.environ.get("TAGGER_ARTIFACT_ROOT"):
        return Path(root) / "records"
    return (cwd or Path.cwd()) / ".artifacts" / "records"


def now() -> datetime:
    return datetime.now(UTC)


class JsonLinesSink:
    """A BentoML monitor (the `MonitorBase` interface) writing each record as one JSON line.

    One writer per process: the file name carries the writer's id, so two processes never
    rotate the same file.
    """

    def __init__(
        self,
        name: str,
        log_path: str,
        kind: str,
        writer_id: str = "0",
        max_bytes: int = 20 * 1024 * 1024,
        backup_count: int = 5,
        queue_size: int = 10_000,
    ) -> None:
        self.name = name
        self.columns_schema: dict[str, dict[str, str]] | None = None
        self.path = Path(log_path) / kind / f"{kind}.{writer_id}{FILE_SUFFIX}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handler = _RaisingRotatingFileHandler(
            self.path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
        )
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=queue_size)
        self.dropped = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._drain, name=f"records-{kind}", daemon=True)
        self._thread.start()

    # the MonitorBase interface, as bentoml.monitor drives it
    def start_record(self) -> None:
        self._columns: dict[str, list[Any]] = {}

    def log(self, data: Any, name: str, role: str, data_type: str) -> None:
        self._columns.setdefault(name, []).append(data)

    def log_batch(self, data_batch: Any, name: str, role: str, data_type: str) -> None:
        self._columns.setdefault(name, []).extend(data_batch)

    def stop_record(self) -> None:
        columns, self._columns = self._columns, {}
        rows = max((len(v) for v in columns.values()), default=0)
        for i in range(rows):
            self.put({k: v[i] for k, v in columns.items() if i < len(v)})

    def put(self, row: dict[str, Any]) -> None:
        """Queue one record for the writer thread; never blocks, never raises."""
        try:
            self._queue.put_nowait(json.dumps(row, default=str))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning("%s: writer behind, %d record(s) dropped", self.path, self.dropped)
        except (TypeError, ValueError) as exc:
            self.failed += 1
            logger.warning("%s: record not serialisable, dropped: %s", self.path, exc)

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every queued record is on disk (for batch inference and tests)."""
        done = threading.Event()
        deadline = threading.Timer(timeout_s, done.set)
        deadline.start()
        while not done.is_set() and self._queue.unfinished_tasks:
            done.wait(0.01)
        deadline.cancel()
        self._handler.flush()

    def _drain(self) -> None:
        while True:
            line = self._queue.get()
            try:
                if line is not None:
                    self._handler.emit(logging.makeLogRecord({"msg": line, "levelno": 20}))
            except (OSError, ValueError) as exc:  # a full disk must not end the writer
                self.failed += 1
                logger.warning("%s: record not written: %s", self.path, exc)
            finally:
                self._queue.task_done()


class _RaisingRotatingFileHandler(RotatingFileHandler):
    """Its failures reach the writer thread, which counts them (logging would print them)."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        raise


class Recorder:
    """Records through `bentoml.monitor`, to this project's sink or BentoML's OTLP monitor."""

    def __init__(self, settings: Recording, writer_id: str) -> None:
        self.settings = settings
        self.writer_id = writer_id
        self._sinks: dict[str, Any] = {}

    def _monitor(self, kind: str) -> tuple[Any, dict[str, Any]]:
        if self.settings.sink == "otlp":
            return "otlp", {}
        return JsonLinesSink, {
            "log_path": str(self.settings.directory),
            "kind": kind,
            "writer_id": self.writer_id,
            "max_bytes": self.settings.max_bytes,
            "backup_count": self.settings.backup_count,
            "queue_size": self.settings.queue_size,
        }

    def write(self, kind: str, records: list[BaseModel]) -> None:
        """Record `records` (all of one kind); a failure is a warning, never an exception.

        Nothing here awaits, so concurrent requests of one event loop never interleave records.
        """
        if not self.settings.enabled or not records:
            return
        import bentoml

        try:
            monitor_class, options = self._monitor(kind)
            with bentoml.monitor(
                # BentoML keeps one monitor per name for the process: one per place written to
                f"tagger_{kind}:{self.settings.directory}:{self.writer_id}",
                monitor_class=monitor_class,
                monitor_options=options,
            ) as monitor:
                for name, values in _columns(records, self.settings.texts).items():
                    monitor.log_batch(values, name, *_ROLES.get(name, _OTHER))
            self._sinks[kind] = monitor
        except Exception as exc:  # noqa: BLE001 - recording must never fail the answer it records
            logger.warning("%d %s record(s) not recorded: %s", len(records), kind, exc)

    def flush(self) -> None:
        for sink in self._sinks.values():
            if isinstance(sink, JsonLinesSink):
                sink.flush()


# how BentoML's monitor schema (and an OTLP backend) sees each field
_OTHER = ("feature", "categorical")
_ROLES = {
    "title_length": ("feature", "numerical"),
    "description_length": ("feature", "numerical"),
    "title": ("feature", "categorical"),
    "description": ("feature", "categorical"),
    "tag": ("prediction", "categorical"),
    "confidence": ("prediction", "numerical"),
    "probabilities": ("prediction", "numerical_sequence"),
    "latency_ms": ("feature", "numerical"),
}


def _columns(records: list[BaseModel], texts: bool) -> dict[str, list[Any]]:
    rows = [r.model_dump(mode="json") for r in records]
    if not texts:
        for row in rows:
            row.pop("title", None), row.pop("description", None)
    return {name: [row.get(name) for row in rows] for name in rows[0]}


def record_files(directory: Path, kind: str) -> list[Path]:
    """Every file of `kind` under `directory`, rotated ones included, oldest first by mtime."""
    folder = Path(directory) / kind
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.is_file() and FILE_SUFFIX in p.name]
    return sorted(files, key=lambda p: p.stat().st_mtime)


def read_records(
    directory: Path, kind: str, warnings: list[str] | None = None
) -> Iterator[PredictionRecord | FeedbackRecord]:
    """Every readable record of `kind`; corrupt lines and unreadable files are skipped and named
    in `warnings` (and the log), the rest of the file still counts."""
    model = PredictionRecord if kind == PREDICTIONS else FeedbackRecord
    warnings = [] if warnings is None else warnings
    for path in record_files(directory, kind):
        bad = 0
        try:
            with path.open(encoding="utf-8") as lines:
                for number, line in enumerate(lines, 1):
                    if not line.strip():
                        continue
                    try:
                        yield model.model_validate_json(line)
                    except ValidationError:
                        bad += 1
                        if bad == 1:
                            first = number
        except (OSError, UnicodeDecodeError) as exc:
            warnings.append(f"skipped {path}: {exc}")
            logger.warning(warnings[-1])
            continue
        if bad:
            warnings.append(f"skipped {bad} corrupt line(s) in {path} (first: line {first})")
            logger.warning(warnings[-1])


def find_prediction(directory: Path, request_id: str) -> list[PredictionRecord]:
    """The recorded answers of one request (every project of it), from the files."""
    needle = json.dumps(request_id)
    found: list[PredictionRecord] = []
    for path in record_files(directory, PREDICTIONS):
        try:
            with path.open(encoding="utf-8") as lines:
                for line in lines:
                    if needle in line:
                        try:
                            record = PredictionRecord.model_validate_json(line)
                        except ValidationError:
                            continue
                        if record.request_id == request_id:
                            found.append(record)
        except (OSError, UnicodeDecodeError):
            continue
    return found
