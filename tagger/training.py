"""The fine-tuning loop: a pure function of a config and the data, so it runs the same in a
ZenML step, a test, a notebook or a Ray Train worker.

Under an initialised `torch.distributed` process group (Ray Train sets one up) the same loop
trains data-parallel: the model is wrapped in DDP and each rank takes its share of the batches.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from tagger.config import METRIC_GOALS, TrainConfig
from tagger.model import TextClassifier

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class TrainResult:
    """The bundle and how its (first) training went; a seed ensemble lists every training in
    `members` (seed, best epoch, epochs run, validation F1 at the best epoch)."""

    classifier: TextClassifier
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    samples_per_second: float = 0.0
    members: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, bucket: int = 8
) -> list[list[int]]:
    """Shuffled batches of similar-length samples: less padding, same randomness per epoch."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for start in range(0, len(order), batch_size * bucket):
        chunk = sorted(order[start : start + batch_size * bucket], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


class _Encoded:
    """Texts tokenized once, padded per batch."""

    def __init__(self, classifier: TextClassifier, texts: Sequence[str], labels: Sequence[str]):
        index = {label: i for i, label in enumerate(classifier.labels)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise ValueError(f"labels not in the label set {classifier.labels}: {unknown}")
        self.tokenizer = classifier.tokenizer
        self.ids = classifier.tokenizer(
            list(texts), truncation=True, max_length=classifier.info.max_length
        )["input_ids"]
        self.targets = torch.tensor([index[label] for label in labels])

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, index: Sequence[int], device: torch.device) -> dict[str, torch.Tensor]:
        features = self.tokenizer.pad(
            {"input_ids": [self.ids[i] for i in index]}, return_tensors="pt"
        )
        batch = {**features, "labels": self.targets[list(index)]}
        return {key: value.to(device) for key, value in batch.items()}


def _world() -> tuple[int, int]:
    """(rank, world size) of the running process group, (0, 1) without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def share_batches(batches: list[list[int]], rank: int, world: int) -> list[list[int]]:
    """This rank's batches: every rank takes the same number of steps, or DDP would hang."""
    if world == 1:
        return batches
    return batches[: len(batches) // world * world][rank::world]


_NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
_HEAD = ("classifier.", "pooler.", "pre_classifier.", "score.")


def parameter_groups(model: torch.nn.Module, config: TrainConfig) -> list[dict]:
    """No weight decay on biases and norms; the freshly initialised head may learn faster."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        is_head = any(part in name for part in _HEAD)
        groups.setdefault((is_head, name.endswith(_NO_DECAY)), []).append(param)
    head_lr = config.head_learning_rate or config.learning_rate
    return [
        {
            "params": params,
            "lr": head_lr if is_head else config.learning_rate,
            "weight_decay": 0.0 if no_decay else config.weight_decay,
        }
        for (is_head, no_decay), params in groups.items()
    ]


@torch.inference_mode()
def _evaluate(
    model: torch.nn.Module, data: _Encoded, batch_size: int, device: torch.device
) -> dict[str, float]:
    model.eval()
    order = sorted(range(len(data)), key=lambda i: len(data.ids[i]))
    loss_sum, predictions = 0.0, np.empty(len(data), dtype=np.int64)
    for start in range(0, len(order), batch_size * 2):
        index = order[start : start + batch_size * 2]
        out = model(**data.batch(index, device))
        loss_sum += out.loss.item() * len(index)
        predictions[index] = out.logits.argmax(dim=-1).cpu().numpy()
    targets = data.targets.numpy()
    return {
        "val_loss": loss_sum / len(data),
        "val_f1": float(f1_score(targets, predictions, average="weighted", zero_division=0)),
        "val_accuracy": float((predictions == targets).mean()),
    }


class EarlyStopping:
    """Keeps the best epoch's weights by one validation metric; says when to stop waiting."""

    def __init__(self, metric: str, patience: int) -> None:
        self.metric, self.patience = metric, patience
        self.sign = -1.0 if METRIC_GOALS[metric] == "max" else 1.0
        self.best_score, self.best_epoch, self.best_state, self.stale = math.inf, 0, None, 0

    def update(self, epoch: int, metrics: dict[str, float], model: torch.nn.Module) -> bool:
        """Record an epoch; True when `patience` epochs in a row did not improve."""
        score = self.sign * metrics[self.metric]
        if score < self.best_score:
            self.best_score, self.best_epoch, self.stale = score, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.stale += 1
        return self.stale >= self.patience

    def restore(self, model: torch.nn.Module) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


@dataclass
class TrainingState:
    """What every epoch of one training run shares."""

    config: TrainConfig
    net: torch.nn.Module  # the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    device: torch.device
    rank: int
    world: int
    ema: AveragedModel | None = None  # weights averaged over steps: evaluated and kept instead


def train_epoch(
    run: TrainingState, data: _Encoded, batches: list[list[int]], description: str
) -> tuple[float, int]:
    """One pass over this rank's batches; (loss summed over samples, samples) of every rank."""
    run.net.train()
    loss_sum, count = 0.0, 0
    for index in tqdm(batches, desc=description, leave=False, disable=run.rank > 0):
        batch = data.batch(index, run.device)
        targets = batch.pop("labels")
        loss = torch.nn.functional.cross_entropy(
            run.net(**batch).logits, targets, label_smoothing=run.config.label_smoothing
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(run.net.parameters(), run.config.grad_clip)
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)
        if run.ema is not None:
            run.ema.update_parameters(run.net.module if run.world > 1 else run.net)
        loss_sum, count = loss_sum + loss.item() * len(index), count + len(index)
    if run.world > 1:
        totals = torch.tensor([loss_sum, count], dtype=torch.float64, device=run.device)
        torch.distributed.all_reduce(totals)
        loss_sum, count = totals.tolist()
    return loss_sum, int(count)


def train(
    config: TrainConfig,
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    val_texts: Sequence[str],
    val_labels: Sequence[str],
    on_epoch_end: EpochCallback | None = None,
    classifier: TextClassifier | None = None,
    device: str | torch.device | None = None,
) -> TrainResult:
    """Fine-tune with AdamW and linear warmup/decay; stop early on `config.monitor` and keep the
    best epoch.

    The default watches val F1, not val loss: on Made-With-ML's data val loss bottoms out after
    one to three epochs while F1 is still rising (the model grows confident), and restoring the
    lowest-loss epoch cost about three points of test F1 (README, benchmarks).

    With `ema_decay` the weights validated, early-stopped and kept are an exponential moving
    average over optimizer steps (torch's `AveragedModel`), a candidate against the seed's
    spread measured in `benchmarks.quality`.

    One training of one transformer: `tagger.distributed.train_on_frames` makes the bundle the
    recipe asks for (a seed ensemble, a hybrid) out of such trainings.

    `classifier` defaults to a fresh head on `config.base_model`; tests pass a tiny one.
    `device` defaults to CUDA when there is one; the trained model is handed back on the CPU.
    Under a process group every rank evaluates the whole validation set, so all take the same
    early-stopping decision.
    """
    seed_everything(config.seed)
    rng = random.Random(config.seed)
    if classifier is None:
        classifier = TextClassifier.from_base(
            config.base_model, config.labels, config.max_length, config.dropout
        )
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    rank, world = _world()
    model = classifier.model.to(device)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    train_data = _Encoded(classifier, train_texts, train_labels)
    val_data = _Encoded(classifier, val_texts, val_labels)
    lengths = [len(ids) for ids in train_data.ids]

    optimizer = torch.optim.AdamW(parameter_groups(model, config))
    total_steps = math.ceil(len(train_data) / config.batch_size / world) * config.epochs
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(config.warmup_ratio * total_steps), total_steps
    )
    ema = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
        if config.ema_decay
        else None
    )
    run = TrainingState(config, net, optimizer, scheduler, device, rank, world, ema)
    kept = ema.module if ema is not None else model  # the weights validated and restored
    stopping = EarlyStopping(config.monitor, config.patience)
    result = TrainResult(classifier)
    seen, train_seconds = 0, 0.0
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        batches = share_batches(
            length_bucketed_batches(lengths, config.batch_size, rng), rank, world
        )
        loss_sum, count = train_epoch(run, train_data, batches, f"epoch {epoch}/{config.epochs}")
        elapsed = time.perf_counter() - started
        seen, train_seconds = seen + count, train_seconds + elapsed
        metrics = {
            "train_loss": loss_sum / count,
            **_evaluate(kept, val_data, config.batch_size, device),
            "learning_rate": scheduler.get_last_lr()[0],
            "samples_per_second": count / elapsed,
        }
        result.history.append({"epoch": epoch, **metrics})
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        if on_epoch_end is not None:
            on_epoch_end(epoch, metrics)
        if stopping.update(epoch, metrics, kept):
            logger.info("early stop after epoch %d (best %d)", epoch, stopping.best_epoch)
            break
    stopping.restore(model)
    model.cpu().eval()
    result.best_epoch = stopping.best_epoch
    result.samples_per_second = seen / train_seconds if train_seconds else 0.0
    return result
