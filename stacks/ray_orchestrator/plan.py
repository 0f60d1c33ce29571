"""What a run on Ray consists of, as plain data: built by the orchestrator, executed by the
driver, and serialisable so a Ray Job's driver can receive it through its environment.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

PLAN_ENV = "TAGGER_RAY_RUN_PLAN"
RUN_ID_ENV = "TAGGER_RAY_ORCHESTRATOR_RUN_ID"


@dataclass(frozen=True)
class StepTask:
    name: str
    arguments: list[str]  # of zenml's step entrypoint (`python -m zenml.entrypoints.entrypoint`)
    upstream: list[str]
    env: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunPlan:
    orchestrator_run_id: str
    steps: list[StepTask]
    execution_mode: str = "fail_fast"
    pipeline_run_id: str | None = None
    poll_interval_s: float = 1.0

    def task_name(self, step: str) -> str:
        return f"{self.orchestrator_run_id}:{step}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunPlan:
        data = json.loads(text)
        data["steps"] = [StepTask(**step) for step in data["steps"]]
        return cls(**data)
