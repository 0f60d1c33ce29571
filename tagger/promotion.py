"""When a new model version deserves production: the rule, as a pure function of the scores of
both models on the same evaluation sets.

A comparison is fair only on data both models are scored on, and a candidate trained on other
data can look perfect on its own easy test split. So the rule reads every relevant set: the
candidate's test split, production's own test split (found by lineage), and pinned sets; the
primary set decides by `margin`, every other set may not drop by more than `tolerance`, and the
floors hold on all of them. A candidate that fails a minimum-functionality behavior check never
becomes production.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tagger.behavior import MINIMUM_FUNCTIONALITY, BehaviorReport
from tagger.config import PromotionPolicy
from tagger.evaluation import EvaluationReport

PRODUCTION = "production"
STAGING = "staging"


@dataclass(frozen=True)
class Comparison:
    """Both models scored on one evaluation set (`production` is None when there is none)."""

    name: str
    candidate: EvaluationReport
    production: EvaluationReport | None
    rows: int


@dataclass(frozen=True)
class Decision:
    stage: str
    reason: str
    metric: str
    candidate_score: float  # on the primary set
    production_score: float | None
    failed_floors: list[str] = field(default_factory=list)
    primary: str = ""
    sets: list[dict] = field(default_factory=list)  # per set: name, rows, candidate, production
    failed_behavior: list[str] = field(default_factory=list)

    @property
    def promote(self) -> bool:
        return self.stage == PRODUCTION

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> list[str]:
        """The scores per evaluation set, as `run.py promote` prints them."""
        lines = [f"{'evaluation set':<40} {'rows':>5} {'candidate':>9} {'production':>10}"]
        for row in self.sets:
            production = "-" if row["production"] is None else f"{row['production']:.4f}"
            mark = " (primary)" if row["name"] == self.primary else ""
            lines.append(
                f"{row['name'] + mark:<40} {row['rows']:>5} {row['candidate']:>9.4f} {production:>10}"
            )
        return lines


def failed_floors(report: EvaluationReport, policy: PromotionPolicy) -> list[str]:
    """Absolute quality bars, overall and for every class the test data contains."""
    failures = []
    if report.overall.f1 < policy.min_f1:
        failures.append(f"f1 {report.overall.f1:.3f} < {policy.min_f1}")
    for label, scores in report.per_class.items():
        if scores.num_samples and scores.f1 < policy.min_class_f1:
            failures.append(f"f1_{label} {scores.f1:.3f} < {policy.min_class_f1}")
    return failures


def _metric(report: EvaluationReport, metric: str) -> float:
    metrics = report.metrics()
    if metric not in metrics:
        raise ValueError(f"unknown promotion metric {metric!r}; one of {sorted(metrics)}")
    return metrics[metric]


def decide(
    comparisons: list[Comparison],
    policy: PromotionPolicy = PromotionPolicy(),
    behavior: BehaviorReport | None = None,
    note: str = "",
) -> Decision:
    """Production if the candidate passes the floors and the behavioral gate on every set,
    beats production on the first (primary) set by more than `margin`, and is nowhere else worse
    than production by more than `tolerance`. Anything else is staging, with the reasons.

    `note` says why the primary set is the one it is (for example: the training data differs).
    """
    if not comparisons:
        raise ValueError("promotion needs at least one evaluation set")
    metric = policy.metric
    primary = comparisons[0]
    rows = [
        {
            "name": c.name,
            "rows": c.rows,
            "candidate": _metric(c.candidate, metric),
            "production": _metric(c.production, metric) if c.production is not None else None,
        }
        for c in comparisons
    ]
    floors = [f"{c.name}: {f}" for c in comparisons for f in failed_floors(c.candidate, policy)]
    failed_behavior = [
        f"{r.case} (expected {r.expected}, got {r.predicted})"
        for r in (behavior.failures(MINIMUM_FUNCTIONALITY) if behavior else [])
    ]
    score, current = rows[0]["candidate"], rows[0]["production"]
    worse = [
        f"{row['name']}: {metric} {row['candidate']:.4f} < production {row['production']:.4f} - {policy.tolerance}"
        for row in rows[1:]
        if row["production"] is not None and row["candidate"] < row["production"] - policy.tolerance
    ]
    if floors:
        stage, reason = STAGING, "below the quality floors: " + "; ".join(floors)
    elif failed_behavior:
        stage, reason = (
            STAGING,
            "failed minimum-functionality checks: " + "; ".join(failed_behavior),
        )
    elif current is None:
        stage, reason = (
            PRODUCTION,
            "no production version yet, the floors and behavior checks are met",
        )
    elif score <= current + policy.margin:
        stage = STAGING
        reason = (
            f"{metric} {score:.4f} on {primary.name} does not beat production {current:.4f} "
            f"by more than {policy.margin}"
        )
    elif worse:
        stage, reason = STAGING, "worse than production beyond the tolerance on " + "; ".join(worse)
    else:
        stage = PRODUCTION
        reason = (
            f"{metric} {score:.4f} on {primary.name} beats production {current:.4f} by more than "
            f"{policy.margin}, and no other set is worse by more than {policy.tolerance}"
        )
    if note:
        reason = f"{note}; {reason}"
    return Decision(
        stage, reason, metric, score, current, floors, primary.name, rows, failed_behavior
    )
