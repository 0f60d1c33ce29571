"""`run.py models | promote | rollback`: the model named in a run config, through `registry`."""

from __future__ import annotations

from pathlib import Path

from project.paths import TRAIN_CONFIG
from tagger.config import PromotionPolicy
from workflows.runs import model_name, read_config


def promotion_policy(config: Path = TRAIN_CONFIG) -> PromotionPolicy:
    parameters = read_config(config).get("parameters") or {}
    return PromotionPolicy.model_validate(parameters.get("promotion_policy") or {})


def version_table(config: Path = TRAIN_CONFIG) -> list[str]:
    """One line per version: stage, created, key metrics, MLflow run."""
    from registry.stages import list_versions

    lines = [f"{'version':>7}  {'stage':<10}  {'created':<19}  {'f1':>6}  {'acc':>6}  mlflow run"]
    for row in list_versions(model_name(config)):
        f1 = f"{row.f1:.4f}" if row.f1 is not None else "-"
        acc = f"{row.accuracy:.4f}" if row.accuracy is not None else "-"
        created = row.created.strftime("%Y-%m-%d %H:%M:%S")
        lines.append(
            f"{row.number:>7}  {row.stage:<10}  {created:<19}  {f1:>6}  {acc:>6}  "
            f"{row.mlflow_run_id or '-'}"
        )
    return lines


def promote(number: int, stage: str, force: bool = False, config: Path = TRAIN_CONFIG) -> str:
    """Move a version by hand (refused when worse than production unless forced); what happened."""
    from registry.promotion import promote_by_hand

    name = model_name(config)
    decision = promote_by_hand(name, number, stage, force, promotion_policy(config))
    reason = f" ({decision.reason})" if decision else ""
    return f"{name} version {number} is now {stage}{reason}"


def rollback(config: Path = TRAIN_CONFIG) -> str:
    from registry.promotion import rollback as rollback_production

    name = model_name(config)
    restored = rollback_production(name)
    return f"{name} version {restored.number} is production again"
