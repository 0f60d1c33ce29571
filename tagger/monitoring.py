"""How a window of traffic compares with what the model was trained on: input, output and
concept metrics, drift tests and the alarms they raise.

Every drift test here is scipy or numpy (Evidently was measured and left out, see the README):

- numeric inputs and outputs (title and description lengths, the share of rare tokens per text,
  the model's confidence): two-sample Kolmogorov-Smirnov test, effect = KS statistic;
- shares (empty descriptions): chi-squared test of the 2x2 table, effect = absolute change;
- the predicted-tag mix: chi-squared test of the reference vs current tag counts,
  effect = total variation distance;
- the model's own text embeddings (mean-pooled last hidden state): permutation test on the
  distance between the mean embeddings, effect = that distance in reference standard deviations.

A window drifts on a test when its p-value is below alpha / (tests run) (Bonferroni) and its
effect reaches the policy's minimum. Live accuracy and F1 (feedback), duplicates, low-confidence
answers and the server's own metrics are checked against fixed thresholds.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tagger.config import MonitorPolicy
from tagger.data import join_text

if TYPE_CHECKING:
    from tagger.model import TextClassifier

WINDOW_COLUMNS = (
    "request_id",
    "item",
    "time",
    "source",
    "model_version",
    "title",
    "description",
    "title_length",
    "description_length",
    "tag",
    "confidence",
    "threshold",
    "latency_ms",
    "true_tag",
)


@dataclass(frozen=True)
class Check:
    """One metric of the window: its value, the reference's, and whether it raised an alarm."""

    name: str
    group: str  # input | output | concept | server
    value: float | None
    reference: float | None = None
    test: str = "threshold"  # ks | chi2 | permutation | threshold
    p_value: float | None = None
    effect: float | None = None
    limit: str = ""  # what would raise the alarm, in words
    alarm: bool = False
    note: str = ""

    def line(self) -> str:
        value = "-" if self.value is None else f"{self.value:.4g}"
        if self.test == "threshold":
            return f"{self.name}: {value} ({self.limit})"
        return (
            f"{self.name}: drift, {self.test} p={self.p_value:.2g}, effect {self.effect:.3g} "
            f"({self.limit}); value {value} vs reference {self.reference:.4g}"
        )


@dataclass
class MonitoringReport:
    """A window of traffic against the production version's training split."""

    model: str
    model_version: int | None
    window: dict[str, Any]  # source, since, until, rows, labelled, files skipped
    checks: list[Check] = field(default_factory=list)
    tag_mix: dict[str, dict[str, float]] = field(default_factory=dict)  # reference / current
    distributions: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def alarms(self) -> list[Check]:
        return [c for c in self.checks if c.alarm]

    @property
    def rows(self) -> int:
        return int(self.window.get("rows", 0))

    def alarm_lines(self) -> list[str]:
        return [f"ALARM {c.line()}" for c in self.alarms]

    def metrics(self) -> dict[str, float]:
        """Flat numbers for MLflow and run metadata."""
        flat: dict[str, float] = {"rows": float(self.rows), "alarms": float(len(self.alarms))}
        for check in self.checks:
            if check.value is not None and math.isfinite(check.value):
                flat[check.name] = float(check.value)
            if check.p_value is not None:
                flat[f"{check.name}_p"] = float(check.p_value)
        return flat

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitoringReport:
        checks = [Check(**c) for c in data.get("checks", [])]
        return cls(**{**data, "checks": checks})


def window_frame(predictions: list[dict], feedback: list[dict]) -> pd.DataFrame:
    """Recorded answers as rows (WINDOW_COLUMNS and p_<label>), each with its latest feedback."""
    rows = []
    for record in predictions:
        row = {k: record.get(k) for k in WINDOW_COLUMNS if k != "true_tag"}
        row.update({f"p_{k}": v for k, v in (record.get("probabilities") or {}).items()})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*WINDOW_COLUMNS[:-1]]) if not rows else pd.DataFrame(rows)
    latest: dict[tuple[str, int], str] = {}
    for item in sorted(feedback, key=lambda f: str(f["time"])):
        latest[(item["request_id"], int(item.get("item", 0)))] = item["tag"]
    keys = zip(frame.get("request_id", []), frame.get("item", []), strict=True)
    frame["true_tag"] = [latest.get((rid, int(i))) for rid, i in keys]
    return frame


def input_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A batch of projects (CSV/JSON; a `tag` column is taken as the true tag) as window rows
    without predictions yet."""
    titles = df["title"].fillna("").astype(str)
    descriptions = (
        df["description"].fillna("").astype(str)
        if "description" in df
        else titles.map(lambda _: "")
    )
    frame = pd.DataFrame(
        {
            "request_id": [f"input-{i}" for i in range(len(df))],
            "item": 0,
            "source": "input",
            "title": titles.to_numpy(),
            "description": descriptions.to_numpy(),
            "title_length": titles.str.len().to_numpy(),
            "description_length": descriptions.str.len().to_numpy(),
        }
    )
    frame["true_tag"] = df["tag"].to_numpy() if "tag" in df else None
    return frame


def with_predictions(
    frame: pd.DataFrame, labels: tuple[str, ...], probabilities: np.ndarray
) -> pd.DataFrame:
    frame = frame.copy()
    for j, label in enumerate(labels):
        frame[f"p_{label}"] = probabilities[:, j]
    frame["confidence"] = probabilities.max(axis=1)
    frame["tag"] = [labels[j] for j in probabilities.argmax(axis=1)]
    return frame


def texts(frame: pd.DataFrame) -> list[str]:
    return [
        join_text(t, d)
        for t, d in zip(frame["title"].fillna(""), frame["description"].fillna(""), strict=True)
    ]


def has_texts(frame: pd.DataFrame) -> bool:
    return "title" in frame and bool(frame["title"].notna().all()) and len(frame) > 0


def rare_token_shares(
    token_ids: list[list[int]],
    reference_counts: Counter,
    rare: int,
    unknown_id: int | None,
    own: bool = False,
) -> np.ndarray:
    """Per text: the share of its tokens that are the tokenizer's unknown token or were seen at
    most `rare` times in the reference texts. `own`: the texts are the reference's, and each is
    judged against the others only, as a new text is (else its own tokens would count)."""
    shares = np.zeros(len(token_ids))
    for i, ids in enumerate(token_ids):
        if ids:
            mine = Counter(ids) if own else Counter()
            odd = sum(
                1 for t in ids if t == unknown_id or reference_counts.get(t, 0) - mine[t] <= rare
            )
            shares[i] = odd / len(ids)
    return shares


def duplicate_share(frame: pd.DataFrame) -> float:
    if not has_texts(frame):
        return float("nan")
    keys = frame["title"].str.lower().str.strip() + "\n" + frame["description"].str.lower()
    return float(keys.duplicated(keep=False).mean())


@dataclass
class Sides:
    """What a drift test compares: the reference's values and the window's."""

    reference: np.ndarray
    current: np.ndarray


def ks_check(
    name: str, group: str, sides: Sides, policy: MonitorPolicy, alternative: str = "two-sided"
) -> Check:
    """Kolmogorov-Smirnov; `alternative="greater"` fires only when the current values run larger."""
    from scipy import stats  # here, not with the module: reading a report needs no scipy

    result = stats.ks_2samp(sides.reference, sides.current, alternative=alternative)
    return Check(
        name=name,
        group=group,
        value=float(np.mean(sides.current)),
        reference=float(np.mean(sides.reference)),
        test="ks",
        p_value=float(result.pvalue),
        effect=float(result.statistic),
        limit=f"KS >= {policy.min_ks}",
    )


def share_check(name: str, group: str, sides: Sides, policy: MonitorPolicy) -> Check:
    from scipy import stats

    ref, cur = sides.reference.astype(bool), sides.current.astype(bool)
    table = np.array([[ref.sum(), (~ref).sum()], [cur.sum(), (~cur).sum()]])
    # every row on one side of the share: nothing to test
    one_sided = (table.sum(axis=0) == 0).any()
    p_value = 1.0 if one_sided else float(stats.chi2_contingency(table).pvalue)
    change = abs(float(cur.mean()) - float(ref.mean()))
    return Check(
        name=name,
        group=group,
        value=float(cur.mean()),
        reference=float(ref.mean()),
        test="chi2",
        p_value=p_value,
        effect=change,
        limit=f"change >= {policy.min_share_change}",
    )


def tag_mix_check(
    reference_tags: list[str],
    current_tags: list[str],
    labels: tuple[str, ...],
    policy: MonitorPolicy,
) -> tuple[Check, dict[str, dict[str, float]]]:
    from scipy import stats

    ref = Counter(reference_tags)
    cur = Counter(current_tags)
    present = [label for label in labels if ref[label] + cur[label] > 0]
    table = np.array([[ref[label] for label in present], [cur[label] for label in present]])
    p_value = float(stats.chi2_contingency(table).pvalue) if len(present) > 1 else 1.0
    ref_share = {label: ref[label] / max(len(reference_tags), 1) for label in labels}
    cur_share = {label: cur[label] / max(len(current_tags), 1) for label in labels}
    tvd = 0.5 * sum(abs(ref_share[label] - cur_share[label]) for label in labels)
    top = max(labels, key=lambda label: cur_share[label] - ref_share[label])
    check = Check(
        name="predicted_tag_mix",
        group="output",
        value=cur_share[top],
        reference=ref_share[top],
        test="chi2",
        p_value=p_value,
        effect=tvd,
        limit=f"total variation >= {policy.min_tag_mix_change}",
        note=f"share of {top}, the tag that grew most",
    )
    return check, {"reference": ref_share, "current": cur_share}


def embedding_check(reference: np.ndarray, current: np.ndarray, policy: MonitorPolicy) -> Check:
    """Permutation test on the distance between mean embeddings (a linear-kernel MMD)."""
    rng = np.random.default_rng(policy.seed)
    pooled = np.vstack([reference, current])
    n = len(reference)

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(a.mean(axis=0) - b.mean(axis=0)))

    observed = distance(reference, current)
    exceed = 0
    for _ in range(policy.permutations):
        order = rng.permutation(len(pooled))
        exceed += distance(pooled[order[:n]], pooled[order[n:]]) >= observed
    p_value = (exceed + 1) / (policy.permutations + 1)
    spread = float(np.sqrt(reference.var(axis=0).sum())) or 1.0
    return Check(
        name="embedding_mean_shift",
        group="input",
        value=observed / spread,
        reference=0.0,
        test="permutation",
        p_value=p_value,
        effect=observed / spread,
        limit=f"shift >= {policy.min_embedding_shift} reference SDs",
    )


def judge_drift(checks: list[Check], policy: MonitorPolicy) -> list[Check]:
    """Bonferroni over the drift tests run, and each test's minimum effect."""
    tests = [c for c in checks if c.test != "threshold"]
    level = policy.alpha / max(len(tests), 1)
    minimum = {
        "ks": policy.min_ks,
        "chi2": policy.min_share_change,
        "permutation": policy.min_embedding_shift,
    }
    judged = []
    for check in checks:
        if check.test == "threshold" or check.p_value is None:
            judged.append(check)
            continue
        floor = (
            policy.min_tag_mix_change if check.name == "predicted_tag_mix" else minimum[check.test]
        )
        alarm = check.p_value < level and (check.effect or 0.0) >= floor
        judged.append(
            Check(**{**asdict(check), "alarm": alarm, "limit": f"p < {level:.2g}, {check.limit}"})
        )
    return judged


def threshold_check(
    name: str, group: str, value: float | None, limit: float, below: bool, note: str = ""
) -> Check:
    """An alarm when `value` is below (`below`) or above `limit`; no value, no alarm."""
    if value is None or not math.isfinite(value):
        return Check(name, group, None, limit=f"no value: {note}" if note else "no value")
    alarm = value < limit if below else value > limit
    return Check(
        name,
        group,
        float(value),
        limit=f"{'min' if below else 'max'} {limit}",
        alarm=alarm,
        note=note,
    )


def live_scores(frame: pd.DataFrame) -> tuple[int, float | None, float | None]:
    """Rows with feedback, and the accuracy and weighted F1 of the answers on them."""
    from sklearn.metrics import f1_score

    labelled = frame[frame["true_tag"].notna()] if "true_tag" in frame else frame.iloc[:0]
    if labelled.empty:
        return 0, None, None
    truth, answer = labelled["true_tag"].astype(str), labelled["tag"].astype(str)
    accuracy = float((truth == answer).mean())
    f1 = float(f1_score(truth, answer, average="weighted", zero_division=0))
    return len(labelled), accuracy, f1


def histogram(values: np.ndarray, bins: np.ndarray) -> list[float]:
    counts, _ = np.histogram(values, bins=bins)
    return (counts / max(counts.sum(), 1)).round(4).tolist()


def compare(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    labels: tuple[str, ...],
    policy: MonitorPolicy,
    features: ModelFeatures,
    server: dict[str, float] | None = None,
    held_out: pd.DataFrame | None = None,
) -> tuple[list[Check], dict[str, dict[str, float]], dict[str, dict[str, list[float]]], list[str]]:
    """Every check of `current` against `reference` (both window frames with predictions).

    The model is more confident on the rows it was trained on than on any new ones, so the
    confidence of new traffic is compared with its confidence on `held_out` rows (the validation
    split) when given."""
    outputs = reference if held_out is None or held_out.empty else held_out
    checks: list[Check] = []
    notes: list[str] = []
    distributions: dict[str, dict[str, list[float]]] = {}
    enough = len(current) >= policy.min_rows
    if not enough:
        notes.append(
            f"{len(current)} rows, fewer than min_rows {policy.min_rows}: drift tests not run"
        )
    numeric = {
        "title_length": ("input", Sides(reference["title_length"], current["title_length"])),
        "description_length": (
            "input",
            Sides(reference["description_length"], current["description_length"]),
        ),
        "confidence": ("output", Sides(outputs["confidence"], current["confidence"])),
    }
    if features.rare_shares is not None:
        numeric["rare_token_share"] = ("input", features.rare_shares)
    for name, (group, sides) in numeric.items():
        ref, cur = np.asarray(sides.reference, float), np.asarray(sides.current, float)
        edges = np.unique(np.quantile(np.concatenate([ref, cur]), np.linspace(0, 1, 21)))
        if len(edges) > 1:
            distributions[name] = {
                "edges": edges.round(4).tolist(),
                "reference": histogram(ref, edges),
                "current": histogram(cur, edges),
            }
        if enough:
            # fewer unknown tokens than the training texts is no risk to the model
            alternative = "greater" if name == "rare_token_share" else "two-sided"
            checks.append(ks_check(name, group, Sides(ref, cur), policy, alternative))
        else:
            checks.append(
                Check(name, group, float(cur.mean()) if len(cur) else None, float(ref.mean()))
            )
    empty = Sides(
        (reference["description_length"] == 0).to_numpy(),
        (current["description_length"] == 0).to_numpy(),
    )
    if enough:
        checks.append(share_check("empty_description_share", "input", empty, policy))
        mix, tag_mix = tag_mix_check(list(reference["tag"]), list(current["tag"]), labels, policy)
        checks.append(mix)
        if features.embeddings is not None:
            checks.append(
                embedding_check(features.embeddings.reference, features.embeddings.current, policy)
            )
    else:
        checks.append(
            Check(
                "empty_description_share",
                "input",
                float(empty.current.mean()),
                float(empty.reference.mean()),
            )
        )
        _, tag_mix = tag_mix_check(list(reference["tag"]), list(current["tag"]), labels, policy)
    if features.embeddings is None or features.rare_shares is None:
        notes.append("texts not recorded: no token or embedding checks")
    checks = judge_drift(checks, policy)

    checks.append(
        threshold_check(
            "duplicate_share",
            "input",
            duplicate_share(current),
            policy.max_duplicate_share,
            below=False,
        )
    )
    low = float((current["confidence"] < policy.low_confidence).mean()) if len(current) else None
    checks.append(
        threshold_check(
            "low_confidence_share",
            "output",
            low,
            policy.max_low_confidence_share,
            below=False,
            note=f"answers below confidence {policy.low_confidence}",
        )
    )
    labelled, accuracy, f1 = live_scores(current)
    if labelled < policy.min_labelled:
        notes.append(
            f"{labelled} answers with feedback, fewer than min_labelled {policy.min_labelled}: live scores not judged"
        )
        accuracy = f1 = None
    checks.append(
        threshold_check(
            "live_f1", "concept", f1, policy.min_live_f1, below=True, note=f"{labelled} labelled"
        )
    )
    checks.append(
        threshold_check(
            "live_accuracy",
            "concept",
            accuracy,
            policy.min_live_accuracy,
            below=True,
            note=f"{labelled} labelled",
        )
    )
    if server:
        checks.append(
            threshold_check(
                "server_error_rate",
                "server",
                server.get("error_rate"),
                policy.max_error_rate,
                below=False,
            )
        )
        checks.append(
            threshold_check(
                "server_latency_p95_ms",
                "server",
                server.get("latency_p95_ms"),
                policy.max_latency_p95_ms,
                below=False,
            )
        )
        checks.append(
            Check("server_requests", "server", server.get("requests"), limit="information")
        )
    return checks, tag_mix, distributions, notes


@dataclass
class ModelFeatures:
    """What the model's tokenizer and encoder say about both sides (None: texts not recorded)."""

    rare_shares: Sides | None = None
    embeddings: Sides | None = None


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


@dataclass
class Side:
    """One side of a comparison: window rows with predictions, and the model's view of their
    texts (None when texts were not recorded)."""

    frame: pd.DataFrame
    embeddings: np.ndarray | None = None  # of at most policy.max_embedded rows (a sample)
    token_ids: list[list[int]] | None = None
    unknown_id: int | None = None

    def subset(self, index: np.ndarray) -> Side:
        """Rows `index`, for a side whose embeddings cover every row (benchmarks)."""
        return Side(
            self.frame.iloc[index].reset_index(drop=True),
            None if self.embeddings is None else self.embeddings[index],
            None if self.token_ids is None else [self.token_ids[i] for i in index],
            self.unknown_id,
        )


def side_of(frame: pd.DataFrame, classifier: TextClassifier, policy: MonitorPolicy) -> Side:
    """Predictions where the rows have none (an input file or the reference), embeddings of at
    most `max_embedded` rows (a seeded sample) and every row's token ids."""
    if frame.empty or not has_texts(frame):
        return Side(frame)
    labels = tuple(classifier.labels)
    all_texts = texts(frame)
    if "confidence" not in frame or frame["confidence"].isna().any():
        proba, embeddings = classifier.proba_and_embeddings(all_texts)
        frame = with_predictions(frame, labels, proba)
        index = _sample(len(frame), policy.max_embedded, policy.seed)
        embeddings = embeddings[index]
    else:
        index = _sample(len(frame), policy.max_embedded, policy.seed)
        _, embeddings = classifier.proba_and_embeddings([all_texts[i] for i in index])
    token_ids = classifier.tokenizer(all_texts, add_special_tokens=False)["input_ids"]
    side = Side(frame.iloc[index].reset_index(drop=True), embeddings, None)
    return (
        Side(frame, embeddings, token_ids)
        if len(index) == len(frame)
        else _keep(side, frame, token_ids)
    )


def _keep(sampled: Side, frame: pd.DataFrame, token_ids: list[list[int]]) -> Side:
    """Every row for the row-wise checks, embeddings of the sample only."""
    return Side(frame, sampled.embeddings, token_ids)


def measure_sides(
    current: Side,
    reference: Side,
    labels: tuple[str, ...],
    policy: MonitorPolicy,
    window: dict[str, Any],
    model: str,
    model_version: int | None,
    server: dict[str, float] | None = None,
    held_out: Side | None = None,
) -> MonitoringReport:
    report = MonitoringReport(model=model, model_version=model_version, window=dict(window))
    frame = current.frame
    if frame.empty:
        report.notes.append("no data: the window holds no recorded answer")
        return report
    if "confidence" not in frame or frame["confidence"].isna().any():
        report.notes.append("answers without predictions and without texts: nothing to measure")
        return report
    features = ModelFeatures()
    if current.embeddings is not None and reference.embeddings is not None:
        ours = current.embeddings[
            _sample(len(current.embeddings), policy.max_embedded, policy.seed)
        ]
        theirs = reference.embeddings[
            _sample(len(reference.embeddings), policy.max_embedded, policy.seed)
        ]
        features.embeddings = Sides(theirs, ours)
    if current.token_ids is not None and reference.token_ids is not None:
        counts = Counter(t for ids in reference.token_ids for t in ids)
        features.rare_shares = Sides(
            rare_token_shares(
                reference.token_ids,
                counts,
                policy.rare_token_count,
                reference.unknown_id,
                own=True,
            ),
            rare_token_shares(
                current.token_ids, counts, policy.rare_token_count, reference.unknown_id
            ),
        )
    report.checks, report.tag_mix, report.distributions, notes = compare(
        frame,
        reference.frame,
        labels,
        policy,
        features,
        server,
        None if held_out is None else held_out.frame,
    )
    report.notes += notes
    report.window["labelled"] = int(frame["true_tag"].notna().sum()) if "true_tag" in frame else 0
    return report


def measure(
    current: pd.DataFrame,
    train_set: pd.DataFrame,
    classifier: TextClassifier,
    policy: MonitorPolicy,
    window: dict[str, Any],
    model: str,
    model_version: int | None,
    server: dict[str, float] | None = None,
    val_set: pd.DataFrame | None = None,
) -> MonitoringReport:
    """The report of one window against the training split (and the validation split, for the
    model's confidence): the model's view of both, then every check."""
    reference = side_of(input_frame(train_set), classifier, policy)
    held_out = None
    if val_set is not None and not val_set.empty:
        rows = input_frame(val_set)
        proba = classifier.predict_proba(texts(rows))
        held_out = Side(with_predictions(rows, tuple(classifier.labels), proba))
    return measure_sides(
        side_of(current, classifier, policy),
        reference,
        tuple(classifier.labels),
        policy,
        window,
        model,
        model_version,
        server,
        held_out,
    )


def parse_server_metrics(text: str) -> dict[str, float]:
    """Requests, server errors (5xx) and latency quantiles of the API from BentoML's Prometheus
    exposition (`bentoml_api_server_request_total`, `..._request_duration_seconds`)."""
    from prometheus_client.parser import text_string_to_metric_families

    requests = errors = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("endpoint", "").startswith(("/healthz", "/readyz", "/livez", "/metrics")):
                continue
            if sample.name == "bentoml_api_server_request_total":
                requests += sample.value
                if str(labels.get("http_response_code", "")).startswith("5"):
                    errors += sample.value
            elif sample.name == "bentoml_api_server_request_duration_seconds_bucket":
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    found: dict[str, float] = {"requests": requests}
    if requests:
        found["error_rate"] = errors / requests
    total = buckets.get(float("inf"), 0.0)
    for q in (0.5, 0.95, 0.99):
        if total:
            bound = min(b for b, count in buckets.items() if count >= q * total)
            if math.isfinite(bound):
                found[f"latency_p{int(q * 100)}_ms"] = bound * 1000
    return found


def server_metrics(url: str, timeout_s: float = 5.0) -> dict[str, float] | None:
    """The server's `/metrics`, or None (said in the log) when it does not answer."""
    import logging
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=timeout_s) as answer:
            return parse_server_metrics(answer.read().decode())
    except OSError as exc:
        logging.getLogger(__name__).warning("no server metrics from %s: %s", url, exc)
        return None
