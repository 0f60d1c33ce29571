"""A failed run leaves no model version behind, keeps every version that holds a stage, and
its finished steps are reused by the next run."""

from __future__ import annotations

import pytest
from zenml import Model
from zenml.client import Client
from zenml.enums import ExecutionStatus

from tests.pipelines.failing_pipelines import with_hook, without_hook
from workflows.runs import WorkflowError, run_pipeline

pytestmark = pytest.mark.usefixtures("zenml_stack")


def _versions(model: str) -> list[int]:
    client = Client()
    if not client.list_models(name=model).items:
        return []
    return sorted(v.number for v in client.list_model_versions(model, size=100).items)


def test_run_pipeline_deletes_the_version_of_a_failed_run_and_the_rerun_uses_its_cache():
    model = "leftovers-client"
    pipeline = without_hook.with_options(model=Model(name=model), parameters={"value": 11})
    with pytest.raises(WorkflowError, match="failed on purpose"):
        run_pipeline(pipeline)
    failed = Client().get_pipeline("without_hook").last_run
    assert failed.status == ExecutionStatus.FAILED
    assert failed.model_version is None
    assert _versions(model) == []

    rerun = run_pipeline(
        without_hook.with_options(model=Model(name=model), parameters={"value": 11, "fail": False})
    )
    assert rerun.status == ExecutionStatus.COMPLETED
    made = rerun.steps["make"]
    assert made.status == ExecutionStatus.CACHED
    assert made.original_step_run_id == failed.steps["make"].id
    assert _versions(model) == [rerun.model_version.number]


def test_the_failure_hook_deletes_it_without_the_client():
    model = "leftovers-hook"
    with pytest.raises(RuntimeError, match="failure in step"):
        with_hook.with_options(model=Model(name=model), parameters={"value": 12})()
    failed = Client().get_pipeline("with_hook").last_run
    assert failed.status == ExecutionStatus.FAILED
    assert failed.steps["finish"].status == ExecutionStatus.FAILED
    assert failed.model_version is None
    assert _versions(model) == []


def test_a_version_that_holds_a_stage_is_kept():
    model = "leftovers-staged"
    pipeline = with_hook.with_options(
        model=Model(name=model), parameters={"value": 13, "stage": "staging"}
    )
    with pytest.raises(WorkflowError, match="failed on purpose"):
        run_pipeline(pipeline)
    assert Client().get_model_version(model, 1).stage == "staging"


def test_a_version_the_run_did_not_create_is_kept():
    model = "leftovers-named"
    Client().create_model(name=model)
    existing = Client().create_model_version(model_name_or_id=model, name="hand-made")
    pipeline = with_hook.with_options(
        model=Model(name=model, version=str(existing.number)), parameters={"value": 14}
    )
    with pytest.raises(WorkflowError, match="failed on purpose"):
        run_pipeline(pipeline)
    assert _versions(model) == [existing.number]
