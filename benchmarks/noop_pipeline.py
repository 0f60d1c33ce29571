"""A chain of steps that do nothing: what an orchestrator costs per step, and nothing else.

Module-level, so a step process on any orchestrator can import it by its source path.
"""

from __future__ import annotations

from typing import Annotated

from zenml import pipeline, step

CHAIN = 6


@step(enable_cache=False)
def noop(value: int) -> Annotated[int, "value"]:
    return value + 1


@pipeline(enable_cache=False)
def noop_chain(steps: int = CHAIN) -> None:
    value = 0
    for index in range(steps):
        value = noop(value, id=f"noop_{index}")
