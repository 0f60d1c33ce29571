"""A model version's card (Mitchell et al., "Model Cards for Model Reporting"): what it is for,
what it learned from, how it scores where, how it behaves, why it got its stage, and where it
fails. Plain Markdown, written from the records a training run leaves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tagger.behavior import BehaviorReport
from tagger.evaluation import EvaluationReport, Scores

INTENDED_USE = (
    "Tags a machine-learning project from its title and description as computer-vision, "
    "natural-language-processing, mlops or other, to route and organise project listings. "
    "Not for judging the quality or originality of a project, and not for text that is not an "
    "ML project description."
)
KNOWN_LIMITS = (
    "English only; trained on short project blurbs, so long documents are truncated to the "
    "model's max length. A project that spans topics (an MLOps platform for vision models) has "
    "one tag, the most likely. `other` is a catch-all learned from few examples: its scores are "
    "the least reliable. Scores on a test split describe data like the training data, not "
    "every project people write."
)


@dataclass(frozen=True)
class ModelCard:
    markdown: str


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _scores(name: str, scores: Scores) -> list[str]:
    return [
        name,
        f"{scores.precision:.3f}",
        f"{scores.recall:.3f}",
        f"{scores.f1:.3f}",
        str(scores.num_samples),
    ]


def render(
    model: str,
    version: int | str,
    dataset: dict[str, Any],
    training: dict[str, Any],
    evaluation: EvaluationReport,
    behavior: BehaviorReport,
    decision: dict[str, Any],
) -> ModelCard:
    """The card of one version; `dataset`, `training` and `decision` are the records the data,
    training and promotion steps leave on the version."""
    params = training.get("params") or {}
    counts = dataset.get("tag_counts") or {}
    header = ["", "precision", "recall", "f1", "rows"]
    per_class = [_scores(label, s) for label, s in evaluation.per_class.items()]
    slices = [_scores(name, s) for name, s in evaluation.slices.items() if s.num_samples]
    sets = [
        [
            row["name"] + (" (primary)" if row["name"] == decision.get("primary") else ""),
            str(row["rows"]),
            f"{row['candidate']:.4f}",
            "-" if row["production"] is None else f"{row['production']:.4f}",
        ]
        for row in decision.get("sets") or []
    ]
    failed = [
        f"{r.kind} / {r.case}: expected {r.expected}, got {r.predicted}"
        for r in behavior.failures()
    ]
    rates = ", ".join(f"{kind} {rate:.0%}" for kind, rate in behavior.pass_rates().items())
    sections = [
        f"# Model card: {model} version {version}",
        f"## Intended use\n\n{INTENDED_USE}",
        "## Training data\n\n"
        + _table(
            ["source", "fingerprint", "rows", "tags"],
            [
                [
                    f"`{dataset.get('source', '-')}`",
                    f"`{dataset.get('fingerprint', '-')}`",
                    str(dataset.get("rows", "-")),
                    ", ".join(f"{tag} {n}" for tag, n in sorted(counts.items())) or "-",
                ]
            ],
        ),
        "## Base model and recipe\n\n"
        f"Fine-tuned from `{training.get('base_model', params.get('base_model', '-'))}`; "
        f"best epoch {training.get('best_epoch', '-')} of {training.get('epochs_run', '-')} "
        f"(early stopping on `{params.get('monitor', '-')}`), learning rate "
        f"{params.get('learning_rate', '-')} (head {params.get('head_learning_rate', '-')}), "
        f"batch size {params.get('batch_size', '-')}, seed {params.get('seed', '-')}."
        + (
            f" A seed ensemble: the probabilities of {params['seed_ensemble']} trainings with"
            " seeds seed, seed + 1000, ... are averaged."
            if params.get("seed_ensemble")
            else ""
        )
        + (
            f" A hybrid: {params['lexical_weight']} of every answer comes from TF-IDF + logistic"
            " regression fitted on the same rows (`tagger.lexical`)."
            if params.get("lexical_weight")
            else ""
        ),
        "## Evaluation on its test split\n\n"
        f"Accuracy {evaluation.accuracy:.3f}, weighted F1 {evaluation.overall.f1:.3f}.\n\n"
        + _table(header, per_class)
        + ("\n\nSlices:\n\n" + _table(header, slices) if slices else ""),
        "## Promotion\n\n"
        f"**{decision.get('stage', '-')}**: {decision.get('reason', '-')}\n\n"
        + (
            _table(
                ["evaluation set", "rows", f"candidate {decision.get('metric', '')}", "production"],
                sets,
            )
            if sets
            else ""
        ),
        "## Behavioral checks\n\n"
        + (f"Pass rates: {rates}.\n\n" if rates else "")
        + ("\n".join(f"- {line}" for line in failed) if failed else "Every check passed."),
        f"## Known limits\n\n{KNOWN_LIMITS}",
    ]
    return ModelCard("\n\n".join(sections) + "\n")
