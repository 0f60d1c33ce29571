"""The stage history of a model: every stage change, kept on its model versions in the ZenML store.

Why on the model versions: their run metadata lives in the ZenML store, so the history survives a
fresh checkout connected to the same server and shows in the dashboard beside each version. ZenML
keeps every `log_metadata` call as a row of its own and shows the newest value of a key; a change
logs the version's whole `stage_history` list again with the new entry at its end, so older lists
stay in the store and the newest is complete. Changes are written under the model's stage lock
(`registry.lock`), so no change appends to a list that another change has just replaced.

One change ("move") gives one entry on the version that moved and, when it takes a stage from
another version, one entry on that version (`replaced_by` set). Entries of one move share `seq`,
numbered 1, 2, ... per model, which orders the history without trusting clocks and shows a lost
move as a gap. Everything here is pure: the callers fetch the versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import groupby
from typing import Any

from zenml.enums import ModelStages
from zenml.models import ModelVersionResponse

STAGE_HISTORY_KEY = "stage_history"
PRODUCTION = ModelStages.PRODUCTION.value
STAGING = ModelStages.STAGING.value
ARCHIVED = ModelStages.ARCHIVED.value
STAGES = (STAGING, PRODUCTION)

Entry = dict[str, Any]


def stage_of(version: ModelVersionResponse) -> str | None:
    """ZenML reports "no stage" as None or as the stage "none"; here it is always None."""
    stage = getattr(version.stage, "value", version.stage)
    return None if stage in (None, ModelStages.NONE.value) else str(stage)


def entries_of(version: ModelVersionResponse) -> list[Entry]:
    return list(version.run_metadata.get(STAGE_HISTORY_KEY) or [])


def merge(versions: Iterable[ModelVersionResponse]) -> list[Entry]:
    """All versions' entries in the order the moves happened; in one move, the replaced version first."""
    entries = [entry for version in versions for entry in entries_of(version)]
    return sorted(entries, key=lambda entry: (entry["seq"], entry["replaced_by"] is None))


def next_seq(entries: list[Entry]) -> int:
    return max((entry["seq"] for entry in entries), default=0) + 1


def move(
    *,
    seq: int,
    time: str,
    user: str,
    number: int,
    from_stage: str | None,
    to_stage: str,
    trigger: str,
    reason: str,
    holders: Mapping[str, int],
) -> list[Entry]:
    """The entries of one move; `holders` maps staging/production to their versions before it."""

    def entry(version: int, from_: str | None, to: str, why: str, replaced_by: int | None) -> Entry:
        return {
            "seq": seq,
            "time": time,
            "user": user,
            "version": version,
            "from_stage": from_,
            "to_stage": to,
            "trigger": trigger,
            "reason": why,
            "previous_production": holders.get(PRODUCTION),
            "replaced_by": replaced_by,
        }

    entries = []
    replaced = holders.get(to_stage)
    if replaced is not None and replaced != number:
        why = f"replaced in {to_stage} by version {number}"
        entries.append(entry(replaced, to_stage, ARCHIVED, why, number))
    entries.append(entry(number, from_stage, to_stage, reason, None))
    return entries


def production_before(entries: list[Entry], number: int) -> int | None:
    """The version that held production before `number` last took it (None: none, or unknown).

    Versions that held it in between and `number` itself are skipped, however many other
    moves (staging, archive, gaps without production) happened since.
    """
    takers = [entry["version"] for entry in entries if entry["to_stage"] == PRODUCTION]
    if number not in takers:
        return None
    last = len(takers) - 1 - takers[::-1].index(number)
    return next((taker for taker in reversed(takers[:last]) if taker != number), None)


def replay_violations(entries: list[Entry], stages: Mapping[int, str | None]) -> list[str]:
    """Where the history does not explain the stages ZenML holds now, or contradicts itself."""
    violations = []
    seqs = sorted({entry["seq"] for entry in entries})
    if seqs != list(range(1, len(seqs) + 1)):
        violations.append(f"history: moves are numbered {seqs}, not 1..{len(seqs)}")
    replayed: dict[int, str | None] = {}
    production: int | None = None
    for seq, group in groupby(entries, key=lambda entry: entry["seq"]):
        group = list(group)
        if sum(entry["replaced_by"] is None for entry in group) != 1:
            violations.append(f"history: move {seq} has {len(group)} entries and no single mover")
        for entry in group:
            if entry["previous_production"] != production:
                violations.append(
                    f"history: move {seq} records previous_production "
                    f"{entry['previous_production']}, but production was {production}"
                )
            if entry["from_stage"] != replayed.get(entry["version"]):
                violations.append(
                    f"history: move {seq} takes version {entry['version']} from "
                    f"{entry['from_stage']}, but it was {replayed.get(entry['version'])}"
                )
        for entry in group:
            replayed[entry["version"]] = entry["to_stage"]
            if entry["to_stage"] == PRODUCTION:
                production = entry["version"]
            elif production == entry["version"]:
                production = None
    for number, stage in sorted(stages.items()):
        if replayed.get(number) != stage:
            violations.append(
                f"version {number} is {stage} in ZenML, but its history ends at "
                f"{replayed.get(number)}"
            )
    return violations
