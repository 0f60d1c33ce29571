"""Every setting a run takes, as validated models: a misspelt key or an out-of-range value fails
when the config is read (before any data is loaded or any pod starts), naming the key.

The models are ZenML step and pipeline parameters as they are, so the YAML in `configs/` is
checked by the same rules wherever the run starts. No heavy imports here: the CLI and the
pipelines' definitions import this module.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tagger.data import LABELS

DEFAULT_BASE_MODEL = "all-minilm-l6-v2"

# the validation metrics a run can watch (early stopping, tuning), and which way is better
METRIC_GOALS: dict[str, Literal["min", "max"]] = {
    "val_loss": "min",
    "val_f1": "max",
    "val_accuracy": "max",
}
# what runs the classifier in batch inference and when serving (tagger.onnx_backend); serving
# can also run the export quantized to int8, which is checked on labelled rows when it is built
Backend = Literal["torch", "onnx"]
BACKENDS: tuple[Backend, ...] = ("torch", "onnx")
ServingBackend = Literal["torch", "onnx", "onnx-int8"]
SERVING_BACKENDS: tuple[ServingBackend, ...] = (*BACKENDS, "onnx-int8")
# where batch inference runs (tagger.batch): `auto` decides per run
Engine = Literal["auto", "local", "ray"]
Monitor = Literal["val_loss", "val_f1", "val_accuracy"]
SearchKind = Literal["loguniform", "uniform", "choice"]


class Settings(BaseModel):
    """Closed to unknown keys and immutable once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Split(Settings):
    """Stratified, seeded train / val / test split; sizes are fractions of the whole dataset."""

    val_size: float = Field(0.1, gt=0, lt=1)
    test_size: float = Field(0.2, ge=0, lt=1)
    seed: int = 1234

    @model_validator(mode="after")
    def _leaves_training_rows(self) -> Split:
        if self.val_size + self.test_size >= 1:
            raise ValueError(
                f"val_size + test_size must be below 1 (got {self.val_size} + {self.test_size})"
            )
        return self


def member_seed(seed: int, k: int) -> int:
    """The training seed of a seed ensemble's k-th member (the pipeline's and the quality
    benchmark's, so the benchmark measures the ensembles the pipeline trains)."""
    return seed + 1000 * k


class TrainConfig(Settings):
    """The fine-tuning recipe (`train_params` in configs/train.yaml)."""

    base_model: str = Field(DEFAULT_BASE_MODEL, min_length=1)
    labels: tuple[str, ...] = Field(LABELS, min_length=2)
    max_length: int = Field(128, ge=8, le=512)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(5e-5, gt=0, lt=1)
    head_learning_rate: float | None = Field(1e-3, gt=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    epochs: int = Field(8, ge=1)
    patience: int = Field(3, ge=1)
    monitor: Monitor = "val_f1"
    dropout: float | None = Field(None, ge=0, lt=1)
    grad_clip: float = Field(1.0, gt=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    ema_decay: float | None = Field(None, gt=0, lt=1)
    lexical_weight: float | None = Field(None, gt=0, lt=1)  # a hybrid (tagger.lexical)
    # trainings averaged into one bundle (a seed ensemble), with seeds seed, seed + 1000, ...
    seed_ensemble: int | None = Field(None, ge=2)
    seed: int = 1234

    @property
    def member_seeds(self) -> list[int]:
        """The seed of each training the bundle averages."""
        return [member_seed(self.seed, k) for k in range(self.seed_ensemble or 1)]

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be distinct, got {list(labels)}")
        return labels


class Scaling(Settings):
    """Where training runs: one worker without `use_ray` trains in the step's own process."""

    num_workers: int = Field(1, ge=1)
    use_gpu: bool = False
    resources_per_worker: dict[str, float] = Field(default_factory=lambda: {"CPU": 1})
    use_ray: bool = False
    storage_path: str | None = None  # checkpoints; shared storage (s3://...) on multi-node clusters

    @property
    def distributed(self) -> bool:
        return self.use_ray or self.num_workers > 1


class BatchConfig(Settings):
    """How batch inference runs (`batch` in configs/batch_inference.yaml).

    `auto` takes Ray Data when the step runs under the Ray orchestrator or the input is larger
    than `ray_above_mb`; `local` always predicts in the step's process, `ray` always on Ray.
    """

    engine: Engine = "auto"
    ray_above_mb: float = Field(256.0, ge=0)
    actors: int = Field(2, ge=1)  # classifier actors; each loads the model once
    cpus_per_actor: float = Field(1.0, gt=0)
    batch_size: int = Field(512, ge=1)  # rows per actor call
    sample_rows: int = Field(1000, ge=1)  # rows the whole expectation suite runs on


DEFAULT_SPACE: dict[str, dict[SearchKind, list]] = {
    "learning_rate": {"loguniform": [1e-5, 2e-4]},
    "head_learning_rate": {"loguniform": [1e-4, 3e-3]},
    "dropout": {"uniform": [0.0, 0.3]},
    "epochs": {"choice": [4, 6, 8, 10]},
    "batch_size": {"choice": [8, 16, 32]},
}


class TuneConfig(Settings):
    """A Ray Tune search (`tune_params` in configs/tune.yaml); space: name -> {kind: arguments}."""

    num_runs: int = Field(8, ge=1)
    max_concurrent: int = Field(2, ge=1)
    metric: Monitor = "val_f1"
    grace_period: int = Field(2, ge=1)  # epochs every trial runs before ASHA may stop it
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)
    space: dict[str, dict[SearchKind, list]] = Field(default_factory=lambda: dict(DEFAULT_SPACE))
    storage_path: str | None = None  # shared storage (s3://...) on multi-node clusters
    seed: int = 1234

    @field_validator("space")
    @classmethod
    def _known_parameters(cls, space: dict[str, dict[str, list]]) -> dict[str, dict[str, list]]:
        if unknown := set(space) - set(TrainConfig.model_fields):
            raise ValueError(f"search space names unknown training parameters: {sorted(unknown)}")
        for name, spec in space.items():
            if len(spec) != 1:
                raise ValueError(f"{name}: one of loguniform / uniform / choice, got {spec}")
            ((kind, arguments),) = spec.items()
            if kind != "choice" and len(arguments) != 2:
                raise ValueError(f"{name}: {kind} takes [low, high], got {arguments}")
            if kind == "choice" and not arguments:
                raise ValueError(f"{name}: choice takes a non-empty list of values")
        return space

    @property
    def mode(self) -> Literal["min", "max"]:
        return METRIC_GOALS[self.metric]


class PromotionPolicy(Settings):
    """When a new version deserves production (`promotion_policy` in configs/train.yaml)."""

    metric: str = Field("f1", min_length=1)  # any key of EvaluationReport.metrics()
    margin: float = Field(0.0, ge=0, le=1)  # to beat production by, on the primary set
    tolerance: float = Field(0.02, ge=0, le=1)  # the most the candidate may lose on another set
    min_f1: float = Field(0.6, ge=0, le=1)
    min_class_f1: float = Field(0.3, ge=0, le=1)
    # pinned sets both models are also scored on: CSV paths / URLs, or registered artifact names
    evaluation_sets: tuple[str, ...] = ()
    # online evidence (`run.py promote` reads the served request records): `decide` refuses a
    # candidate whose live weighted F1 is below production's by more than `online_tolerance`, once
    # both have `min_online_labelled` answers with feedback; `show` only prints it
    online_evidence: Literal["decide", "show"] = "decide"
    min_online_labelled: int = Field(20, ge=1)
    online_tolerance: float = Field(0.05, ge=0, le=1)


class MonitorPolicy(Settings):
    """When a monitoring window raises an alarm (`policy` in configs/monitor.yaml).

    Drift tests share `alpha` (Bonferroni: each runs at alpha / number of tests run), so a window
    of unshifted traffic raises a false drift alarm with probability at most `alpha`; a drift
    also needs an effect of at least its `min_*` size, so huge windows do not alarm on trifles.
    """

    min_rows: int = Field(30, ge=1)  # fewer current rows: drift tests are not run (said so)
    alpha: float = Field(0.05, gt=0, lt=1)
    min_ks: float = Field(0.1, ge=0, le=1)  # KS statistic, numeric distributions
    min_share_change: float = Field(0.1, ge=0, le=1)  # absolute change of a share
    min_tag_mix_change: float = Field(0.1, ge=0, le=1)  # total variation distance of tag mixes
    min_embedding_shift: float = Field(0.0, ge=0)  # distance of mean embeddings, in reference SDs
    permutations: int = Field(500, ge=50, le=10_000)  # for the embedding test
    max_embedded: int = Field(1000, ge=50)  # rows embedded per side (a seeded sample beyond)
    seed: int = 0
    rare_token_count: int = Field(1, ge=0)  # a token seen at most this often in reference is rare
    low_confidence: float = Field(0.5, ge=0, le=1)  # "below the serving threshold"
    max_low_confidence_share: float = Field(0.5, ge=0, le=1)
    max_duplicate_share: float = Field(0.5, ge=0, le=1)
    min_labelled: int = Field(20, ge=1)  # feedback rows needed before live scores count
    min_live_f1: float = Field(0.7, ge=0, le=1)
    min_live_accuracy: float = Field(0.0, ge=0, le=1)
    max_error_rate: float = Field(0.05, ge=0, le=1)  # server: 5xx / requests
    max_latency_p95_ms: float = Field(5000, gt=0)


class RetrainPolicy(Settings):
    """What `on_alarm: retrain` does (`retrain` in configs/monitor.yaml)."""

    min_feedback: int = Field(20, ge=1)  # labelled rows (with texts) needed to retrain
    redeploy: bool = True  # deploy the new version when it becomes production


def describe_errors(error: ValidationError, separator: str = "\n") -> str:
    """pydantic's errors, one per bad key: where, what, and the rule's name
    (`train_params.learning_rate: Input should be greater than 0 (greater_than)`)."""
    return separator.join(
        f"{'.'.join(map(str, item['loc'])) or 'body'}: {item['msg']} ({item['type']})"
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    )
