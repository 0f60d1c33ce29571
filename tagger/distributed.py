"""The same training loop under Ray Train: N workers, data-parallel, one bundle back.

Each worker runs `tagger.training.train` inside the process group Ray Train sets up; rank 0
saves the restored best epoch as a `TextClassifier` bundle in the final checkpoint, with the
history, so the caller gets a `TrainResult` of the same form as an in-process run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tagger.model import TextClassifier
from tagger.params import known_fields
from tagger.training import EpochCallback, TrainConfig, TrainResult, train

_RESULT_FILE = "train_result.json"


@dataclass(frozen=True)
class Scaling:
    """How many Ray Train workers, with what. One worker and `use_ray: false` train in-process."""

    num_workers: int = 1
    use_gpu: bool = False
    resources_per_worker: dict[str, float] = field(default_factory=lambda: {"CPU": 1})
    use_ray: bool = False
    storage_path: str | None = None  # checkpoints; shared storage (s3://...) on multi-node clusters

    def __post_init__(self) -> None:
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, not {self.num_workers}")

    @property
    def distributed(self) -> bool:
        return self.use_ray or self.num_workers > 1

    @classmethod
    def from_dict(cls, data: dict | None) -> Scaling:
        return cls(**known_fields(cls, data, "scaling"))


def _worker_loop(loop_config: dict) -> None:
    import ray.train

    config = TrainConfig.from_dict(loop_config["config"])
    rank = ray.train.get_context().get_world_rank()

    def report_epoch(epoch: int, metrics: dict[str, float]) -> None:
        ray.train.report({"epoch": epoch, **metrics})

    result = train(config, *loop_config["data"], on_epoch_end=report_epoch)
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = None
        if rank == 0:
            result.classifier.save(directory)
            summary = {k: v for k, v in asdict(result).items() if k != "classifier"}
            (Path(directory) / _RESULT_FILE).write_text(json.dumps(summary))
            checkpoint = ray.train.Checkpoint.from_directory(directory)
        ray.train.report({"epoch": len(result.history), "final": 1}, checkpoint=checkpoint)


def train_with_ray(
    config: TrainConfig,
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    val_texts: Sequence[str],
    val_labels: Sequence[str],
    scaling: Scaling,
    on_epoch_end: EpochCallback | None = None,
) -> TrainResult:
    """Train on the Ray cluster this process reaches (`RAY_ADDRESS`, a local `ray start`, or a
    fresh local instance). Epoch metrics are passed to `on_epoch_end` after the run, in order."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    data = [list(train_texts), list(train_labels), list(val_texts), list(val_labels)]
    with tempfile.TemporaryDirectory(prefix="ray-train-") as local_storage:
        trainer = TorchTrainer(
            _worker_loop,
            train_loop_config={"config": config.to_dict(), "data": data},
            scaling_config=ScalingConfig(
                num_workers=scaling.num_workers,
                use_gpu=scaling.use_gpu,
                resources_per_worker=scaling.resources_per_worker,
            ),
            run_config=RunConfig(storage_path=scaling.storage_path or local_storage),
        )
        fit = trainer.fit()
        if fit.error is not None:
            raise fit.error
        with fit.checkpoint.as_directory() as directory:
            classifier = TextClassifier.load(directory)
            summary = json.loads((Path(directory) / _RESULT_FILE).read_text())
    result = TrainResult(classifier=classifier, **summary)
    if on_epoch_end is not None:
        for row in result.history:
            on_epoch_end(int(row["epoch"]), {k: v for k, v in row.items() if k != "epoch"})
    return result
