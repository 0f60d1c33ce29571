"""Small pipelines attached to a model that fail where a test says, for the cleanup tests."""

from __future__ import annotations

from typing import Annotated

from zenml import get_step_context, pipeline, step

from project.leftovers import discard_model_version_on_failure


@step
def make(value: int) -> Annotated[int, "made"]:
    """Cacheable: a rerun with the same value reuses it."""
    return value * 2


@step(enable_cache=False)
def finish(made: int, fail: bool, stage: str | None = None) -> Annotated[int, "finished"]:
    """Fails when asked, after moving the run's model version to `stage` if one is given."""
    if stage:
        get_step_context().model_version.set_stage(stage, force=True)
    if fail:
        raise ValueError("failed on purpose")
    return made


@pipeline
def without_hook(value: int = 1, fail: bool = True, stage: str | None = None) -> None:
    finish(make(value), fail, stage)


@pipeline(on_failure=discard_model_version_on_failure)
def with_hook(value: int = 1, fail: bool = True, stage: str | None = None) -> None:
    finish(make(value), fail, stage)
