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


def promote(
    number: int,
    stage: str,
    force: bool = False,
    config: Path = TRAIN_CONFIG,
    records: Path | None = None,
) -> str:
    """Move a version by hand (refused when worse than production on any evaluation set, or
    live, unless forced); what happened, and the scores per set when production was compared.

    A move to production reads the served request records (`records`, default: where the
    deployed service writes them, as `run.py rollout-status`) for online evidence.
    """
    from registry.promotion import promote_by_hand

    name = model_name(config)
    rollout = None
    if stage == "production":
        from workflows.rollout import rollout_status

        rollout = rollout_status(records)
    decision = promote_by_hand(name, number, stage, force, promotion_policy(config), rollout)
    if decision is not None and "nothing changed" in decision.reason:
        return f"{name} {decision.reason}"
    lines = [f"{name} version {number} is now {stage}"]
    if decision is not None:
        lines += [f"decision: {decision.reason}", *decision.table()]
    if decision is not None and decision.online is not None and rollout is not None:
        lines += [f"warning: {w}" for w in rollout["warnings"]]
    return "\n".join(lines)


def archive(number: int, config: Path = TRAIN_CONFIG) -> str:
    from registry.promotion import archive as archive_version

    name = model_name(config)
    archive_version(name, number)
    return f"{name} version {number} is archived"


def history_table(config: Path = TRAIN_CONFIG) -> list[str]:
    """Every stage change of the model, oldest first: who moved which version where, and why."""
    from registry import history

    lines = [
        f"{'#':>3}  {'time (UTC)':<19}  {'user':<10}  {'version':>7}  {'move':<24}  {'trigger':<9}  reason"
    ]
    for entry in history(model_name(config)):
        move = f"{entry['from_stage'] or '-'} -> {entry['to_stage']}"
        lines.append(
            f"{entry['seq']:>3}  {entry['time'][:19]:<19}  {entry['user'][:10]:<10}  "
            f"{entry['version']:>7}  {move:<24}  {entry['trigger']:<9}  {entry['reason']}"
        )
    return lines


def rollback(config: Path = TRAIN_CONFIG) -> str:
    from registry.promotion import rollback as rollback_production

    name = model_name(config)
    restored = rollback_production(name)
    return f"{name} version {restored.number} is production again"
