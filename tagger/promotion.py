"""When a new model version deserves production: the rule, as a pure function of two reports
scored on the same data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tagger.config import PromotionPolicy
from tagger.evaluation import EvaluationReport

PRODUCTION = "production"
STAGING = "staging"


@dataclass(frozen=True)
class Decision:
    stage: str
    reason: str
    metric: str
    candidate_score: float
    production_score: float | None
    failed_floors: list[str] = field(default_factory=list)

    @property
    def promote(self) -> bool:
        return self.stage == PRODUCTION

    def to_dict(self) -> dict:
        return asdict(self)


def failed_floors(report: EvaluationReport, policy: PromotionPolicy) -> list[str]:
    """Absolute quality bars, overall and for every class the test data contains."""
    failures = []
    if report.overall.f1 < policy.min_f1:
        failures.append(f"f1 {report.overall.f1:.3f} < {policy.min_f1}")
    for label, scores in report.per_class.items():
        if scores.num_samples and scores.f1 < policy.min_class_f1:
            failures.append(f"f1_{label} {scores.f1:.3f} < {policy.min_class_f1}")
    return failures


def decide(
    candidate: EvaluationReport,
    production: EvaluationReport | None,
    policy: PromotionPolicy = PromotionPolicy(),
) -> Decision:
    """Production if the candidate passes the floors and beats production by more than the margin.

    Both reports must come from scoring both models on the same data; anything else is staging.
    """
    metrics = candidate.metrics()
    if policy.metric not in metrics:
        raise ValueError(f"unknown promotion metric {policy.metric!r}; one of {sorted(metrics)}")
    score = metrics[policy.metric]
    floors = failed_floors(candidate, policy)
    current = production.metrics()[policy.metric] if production is not None else None

    if floors:
        stage, reason = STAGING, "below the quality floors: " + "; ".join(floors)
    elif current is None:
        stage, reason = PRODUCTION, "no production version yet and the floors are met"
    elif score > current + policy.margin:
        stage = PRODUCTION
        reason = f"{policy.metric} {score:.4f} beats production {current:.4f} by more than {policy.margin}"
    else:
        stage = STAGING
        reason = f"{policy.metric} {score:.4f} does not beat production {current:.4f} by more than {policy.margin}"
    return Decision(stage, reason, policy.metric, score, current, floors)
