"""Where training runs, decided once: in this process, or the same loop under Ray Train
(N workers, data-parallel, one bundle back).

Each worker runs `tagger.training.train` inside the process group Ray Train sets up; rank 0
saves the restored best epoch as a `TextClassifier` bundle in the final checkpoint, with the
history, so the caller gets a `TrainResult` of the same form as an in-process run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from tagger.config import Scaling, TrainConfig
from tagger.data import LABEL_COLUMN, texts_of
from tagger.lexical import LexicalModel
from tagger.model import TextClassifier
from tagger.training import EpochCallback, TrainResult, train

_RESULT_FILE = "train_result.json"


def train_on_frames(
    config: TrainConfig,
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    scaling: Scaling | None = None,
    on_epoch_end: EpochCallback | None = None,
) -> TrainResult:
    """The bundle `config` asks for, from two labelled frames (title, description, tag).

    Each training (one, or a seed ensemble's) runs in this process, or on Ray Train workers when
    `scaling` asks for more than one worker or for Ray. A hybrid's lexical model is fitted last,
    on both frames. A seed ensemble's later trainings report their epochs as `member<k>_<metric>`.
    """
    data = (
        texts_of(train_df),
        train_df[LABEL_COLUMN].tolist(),
        texts_of(val_df),
        val_df[LABEL_COLUMN].tolist(),
    )
    distributed = scaling is not None and scaling.distributed
    results = []
    for k, seed in enumerate(config.member_seeds):
        member = config.model_copy(update={"seed": seed})
        report = on_epoch_end if k == 0 else _prefixed(on_epoch_end, f"member{k}_")
        if distributed:
            results.append(train_with_ray(member, *data, scaling=scaling, on_epoch_end=report))
        else:
            results.append(train(member, *data, on_epoch_end=report))
    classifier = TextClassifier.averaging([r.classifier for r in results])
    if config.lexical_weight:
        lexical = LexicalModel.fit([*data[0], *data[2]], [*data[1], *data[3]], classifier.labels)
        classifier.with_lexical(lexical, config.lexical_weight)
    members = [
        {
            "seed": seed,
            "best_epoch": r.best_epoch,
            "epochs_run": len(r.history),
            "val_f1": r.history[r.best_epoch - 1]["val_f1"],
        }
        for seed, r in zip(config.member_seeds, results, strict=True)
    ]
    return replace(results[0], classifier=classifier, members=members)


def _prefixed(callback: EpochCallback | None, prefix: str) -> EpochCallback | None:
    if callback is None:
        return None
    return lambda epoch, metrics: callback(epoch, {prefix + k: v for k, v in metrics.items()})


def _worker_loop(loop_config: dict) -> None:
    import ray.train

    config = TrainConfig.model_validate(loop_config["config"])
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
            train_loop_config={"config": config.model_dump(mode="json"), "data": data},
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
