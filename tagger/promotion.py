"""When a new model version deserves production: the rule, as a pure function of the scores of
both models on the same evaluation sets.

A comparison is fair only on data both models are scored on, and a candidate trained on other
data can look perfect on its own easy test split. So the rule reads every relevant set: the
candidate's test split, production's own test split (found by lineage), and pinned sets; the
primary set decides by `margin`, every other set may not drop by more than `tolerance`, and the
floors hold on all of them. A candidate that fails a minimum-functionality behavior check never
becomes production.

Online evidence (what the served versions did with real requests during a shadow or canary
rollout) is shown beside the offline scores, and, with `online_evidence: decide`, keeps out a
candidate whose live F1 is clearly below production's once both have enough feedback. Offline
sets stay the gate: live feedback is a sample of whatever users reported, not a held-out set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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
class OnlineEvidence:
    """The candidate's and production's rows of `run.py rollout-status` (None: that version has
    no served record in `records`)."""

    records: str
    candidate_version: int
    production_version: int
    candidate: dict[str, Any] | None
    production: dict[str, Any] | None

    def arms(self) -> list[tuple[str, int, dict[str, Any] | None]]:
        return [
            ("candidate", self.candidate_version, self.candidate),
            ("production", self.production_version, self.production),
        ]


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
    online: OnlineEvidence | None = None
    online_refused: bool = False  # production on the offline sets, kept out by live scores

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
        return lines + (online_table(self.online) if self.online is not None else [])


def online_table(evidence: OnlineEvidence) -> list[str]:
    """The online evidence per arm, under the offline table."""

    def show(value: Any, width: int) -> str:
        if value is None:
            return f"{'-':>{width}}"
        return f"{value:>{width}.4f}" if isinstance(value, float) else f"{value:>{width}}"

    lines = [
        f"online evidence (served records in {evidence.records})",
        f"{'arm':<12} {'version':>7} {'answered':>8} {'shadowed':>8} {'agreement':>9} "
        f"{'mean conf':>9} {'labelled':>8} {'live acc':>8} {'live F1':>7}",
    ]
    for arm, version, row in evidence.arms():
        if row is None:
            lines.append(f"{arm:<12} {version:>7} no served request recorded")
            continue
        lines.append(
            f"{arm:<12} {version:>7} {show(row['requests_answered'], 8)} "
            f"{show(row['requests_shadowed'], 8)} {show(row['agreement'], 9)} "
            f"{show(row['mean_confidence'], 9)} {show(row['feedback'], 8)} "
            f"{show(row['live_accuracy'], 8)} {show(row['live_f1'], 7)}"
        )
    return lines


def judge_online(evidence: OnlineEvidence, policy: PromotionPolicy) -> tuple[bool, str]:
    """Whether the live scores keep the candidate out, and what they say.

    Both versions need `min_online_labelled` answers with feedback: a live F1 on a handful of
    rows says little. In a shadow rollout both arms are scored on the same requests.
    """
    labelled = [
        (arm, version, (row or {}).get("feedback", 0)) for arm, version, row in evidence.arms()
    ]
    short = [
        f"{arm} v{version} has {count}"
        for arm, version, count in labelled
        if count < policy.min_online_labelled
    ]
    if short:
        return False, (
            f"live scores not used: {', '.join(short)} labelled answer(s), fewer than "
            f"min_online_labelled {policy.min_online_labelled}"
        )
    assert evidence.candidate is not None and evidence.production is not None
    score, current = evidence.candidate["live_f1"], evidence.production["live_f1"]
    said = (
        f"live F1 {score:.4f} of v{evidence.candidate_version} on {labelled[0][2]} labelled "
        f"answers vs production v{evidence.production_version}'s {current:.4f} on "
        f"{labelled[1][2]}"
    )
    if score >= current - policy.online_tolerance:
        return False, f"{said}: not worse by more than {policy.online_tolerance}"
    said = f"{said}: worse by more than {policy.online_tolerance}"
    if policy.online_evidence == "show":
        return False, f"{said} (shown only: online_evidence is show)"
    return True, said


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
    online: OnlineEvidence | None = None,
) -> Decision:
    """Production if the candidate passes the floors and the behavioral gate on every set,
    beats production on the first (primary) set by more than `margin`, is nowhere else worse
    than production by more than `tolerance`, and (given `online` evidence) its live F1 is not
    below production's by more than `online_tolerance` (`judge_online`). Anything else is
    staging, with the reasons.

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
    kept_out = False
    if online is not None:
        refused, said = judge_online(online, policy)
        kept_out = refused and stage == PRODUCTION
        if kept_out:
            stage, reason = STAGING, f"refused on online evidence: {said} (offline: {reason})"
        else:
            reason = f"{reason}; online: {said}"
    if note:
        reason = f"{note}; {reason}"
    return Decision(
        stage,
        reason,
        metric,
        score,
        current,
        floors,
        primary.name,
        rows,
        failed_behavior,
        online,
        kept_out,
    )
