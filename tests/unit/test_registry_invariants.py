"""ZenML stages and MLflow aliases agree after every stage change, the stage history explains
them, rollback goes back to the version production had before, and two processes changing
stages at once cannot both believe they won. Everything runs against the session's throw-away
ZenML store and MLflow registry."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from zenml import Model, link_artifact_to_model, save_artifact
from zenml.client import Client
from zenml.enums import ArtifactType
from zenml.models import ArtifactVersionResponse

import registry
from materializers import ClassifierMaterializer, HashedDataFrameMaterializer
from project import names
from project.paths import PROJECT_ROOT
from registry.ledger import ARCHIVED, PRODUCTION, STAGING, stage_of
from registry.lock import lock_name, stage_lock
from registry.promotion import archive, promote_by_hand, rollback, rollback_target
from registry.stages import (
    RegistryError,
    all_versions,
    change_stage,
    configure_mlflow,
    current,
    get_version,
)
from tagger.config import PromotionPolicy, TrainConfig
from tagger.data import LABELS, split
from tagger.distributed import train_on_frames
from tagger.evaluation import evaluate
from tagger.model import TextClassifier
from tagger.promotion import Comparison, decide

POLICY = PromotionPolicy(metric="f1", margin=0.01, min_f1=0.5, min_class_f1=0.1)
QUALITIES = ("good", "weak")
PICKS = st.integers(min_value=0, max_value=3)


@pytest.fixture(scope="module")
def test_set(projects: pd.DataFrame) -> pd.DataFrame:
    return split(projects, val_size=0.1, test_size=0.2, seed=11)[2]


@pytest.fixture(scope="module")
def classifiers(projects: pd.DataFrame, tiny_params: dict, tiny_model_dir) -> dict:
    """A trained and an untrained tiny classifier: the one training of this module."""
    train_df, val_df, _ = split(projects, val_size=0.1, test_size=0.2, seed=11)
    good = train_on_frames(TrainConfig.model_validate(tiny_params), train_df, val_df).classifier
    weak = TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=64)
    return {"good": good, "weak": weak}


@pytest.fixture(scope="module")
def artifacts(zenml_stack, classifiers: dict, test_set: pd.DataFrame) -> dict:
    """Saved once; every model version links them, as a training run links its own."""
    saved = {
        quality: save_artifact(
            classifier,
            name=names.CLASSIFIER,
            artifact_type=ArtifactType.MODEL,
            materializer=ClassifierMaterializer,
        )
        for quality, classifier in classifiers.items()
    }
    saved["test_set"] = save_artifact(
        test_set,
        name=names.TEST_SET,
        artifact_type=ArtifactType.DATA,
        materializer=HashedDataFrameMaterializer,
    )
    return saved


@pytest.fixture(scope="module")
def promotes(classifiers: dict, test_set: pd.DataFrame) -> dict[tuple[str, str], bool]:
    """(candidate quality, production quality) -> whether the rule promotes, from real scores."""
    reports = {
        quality: evaluate(classifier, test_set) for quality, classifier in classifiers.items()
    }
    table = {
        (candidate, production): decide(
            [Comparison("test split", reports[candidate], reports[production], len(test_set))],
            POLICY,
        ).promote
        for candidate in QUALITIES
        for production in QUALITIES
    }
    assert table == {
        ("good", "weak"): True,
        ("weak", "good"): False,
        ("good", "good"): False,
        ("weak", "weak"): False,
    }
    return table


def new_version(
    model_name: str, classifier: ArtifactVersionResponse, test_set: ArtifactVersionResponse
) -> int:
    version = Client().create_model_version(model_name)
    for artifact in (classifier, test_set):
        link_artifact_to_model(artifact, model=Model(name=model_name, version=version.number))
    return version.number


def new_model(prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    Client().create_model(name)
    return name


def zenml_stages(model_name: str) -> dict[int, str | None]:
    return {version.number: stage_of(version) for version in all_versions(model_name)}


def mlflow_aliases(model_name: str) -> dict[str, int]:
    """alias -> ZenML version number, through the MLflow version's `zenml_version` tag."""
    client = configure_mlflow()
    aliases = client.get_registered_model(model_name).aliases
    return {
        alias: int(client.get_model_version(model_name, str(target)).tags["zenml_version"])
        for alias, target in aliases.items()
    }


def moves(model_name: str) -> list[dict]:
    """The history's movers, one per stage change (replaced versions left out)."""
    return [entry for entry in registry.history(model_name) if entry["replaced_by"] is None]


# -- the two bugs of issue 12, step by step --------------------------------------------------


def test_aliases_follow_the_zenml_stage_of_a_version(zenml_stack, artifacts):
    name = new_model("aliases")
    number = new_version(name, artifacts["good"], artifacts["test_set"])

    promote_by_hand(name, number, STAGING, force=False, policy=POLICY)
    assert mlflow_aliases(name) == {STAGING: number}
    promote_by_hand(name, number, PRODUCTION, force=True, policy=POLICY)
    assert zenml_stages(name) == {number: PRODUCTION}
    assert mlflow_aliases(name) == {PRODUCTION: number}
    promote_by_hand(name, number, STAGING, force=False, policy=POLICY)
    assert zenml_stages(name) == {number: STAGING} and current(name, PRODUCTION) is None
    assert mlflow_aliases(name) == {STAGING: number}
    archive(name, number)
    assert zenml_stages(name) == {number: ARCHIVED} and mlflow_aliases(name) == {}
    assert registry.check_invariants(name) == []


def test_promoting_production_again_changes_nothing_and_rollback_keeps_its_target(
    zenml_stack, artifacts
):
    name = new_model("again")
    v1, v2, v3 = (new_version(name, artifacts["good"], artifacts["test_set"]) for _ in range(3))
    promote_by_hand(name, v1, PRODUCTION, force=False, policy=POLICY)
    promote_by_hand(name, v2, PRODUCTION, force=True, policy=POLICY)
    recorded = registry.history(name)

    decision = promote_by_hand(name, v2, PRODUCTION, force=True, policy=POLICY)
    assert decision.reason == f"version {v2} already is production: nothing changed"
    assert registry.history(name) == recorded

    promote_by_hand(name, v3, STAGING, force=False, policy=POLICY)
    archive(name, v3)
    assert rollback(name).number == v1
    assert rollback(name).number == v2
    assert registry.check_invariants(name) == []

    assert [(m["version"], m["from_stage"], m["to_stage"], m["trigger"]) for m in moves(name)] == [
        (v1, None, PRODUCTION, "manual"),
        (v2, None, PRODUCTION, "forced"),
        (v3, None, STAGING, "manual"),
        (v3, STAGING, ARCHIVED, "archive"),
        (v1, ARCHIVED, PRODUCTION, "rollback"),
        (v2, ARCHIVED, PRODUCTION, "rollback"),
    ]
    replaced = [entry for entry in registry.history(name) if entry["replaced_by"] is not None]
    assert [(r["version"], r["to_stage"], r["replaced_by"]) for r in replaced] == [
        (v1, ARCHIVED, v2),
        (v2, ARCHIVED, v1),
        (v1, ARCHIVED, v2),
    ]
    last = registry.history(name)[-1]
    assert last["previous_production"] == v1 and last["user"] == Client().active_user.name
    assert datetime.fromisoformat(last["time"]).utcoffset().total_seconds() == 0


def test_a_move_decided_on_an_older_history_is_refused(zenml_stack, artifacts):
    name = new_model("stale")
    v1, v2, v3 = (new_version(name, artifacts["good"], artifacts["test_set"]) for _ in range(3))
    promote_by_hand(name, v1, PRODUCTION, force=False, policy=POLICY)
    promote_by_hand(name, v2, PRODUCTION, force=True, policy=POLICY)
    promote_by_hand(name, v3, STAGING, force=False, policy=POLICY)
    with pytest.raises(RegistryError) as refused:
        change_stage(
            get_version(name, v1),
            PRODUCTION,
            trigger="rollback",
            expected_production=v2,
            expected_moves=2,
        )
    assert str(refused.value).startswith(
        f"model {name!r} had 1 stage change(s) since this one was decided "
        f"(last change: version {v3} None -> staging, manual, by "
    )
    assert zenml_stages(name) == {v1: ARCHIVED, v2: PRODUCTION, v3: STAGING}
    assert len(moves(name)) == 3 and registry.check_invariants(name) == []


def test_a_drifted_alias_is_reported(zenml_stack, artifacts):
    name = new_model("drift")
    number = new_version(name, artifacts["good"], artifacts["test_set"])
    promote_by_hand(name, number, PRODUCTION, force=False, policy=POLICY)
    mlflow_version = configure_mlflow().get_model_version_by_alias(name, PRODUCTION).version
    configure_mlflow().set_registered_model_alias(name, STAGING, mlflow_version)
    assert registry.check_invariants(name) == [
        f"version {number} is production in ZenML but holds MLflow aliases "
        "['production', 'staging']"
    ]
    promote_by_hand(name, number, PRODUCTION, force=False, policy=POLICY)
    assert registry.check_invariants(name) == []


def test_a_held_lock_makes_others_wait_then_give_up_naming_the_holder(zenml_stack):
    model_id = uuid.uuid4()
    with stage_lock(model_id, "locked") as held:
        started = time.monotonic()
        with pytest.raises(RegistryError) as refused, stage_lock(model_id, "locked", wait_s=0.5):
            pytest.fail("a second holder got the lock")
        assert time.monotonic() - started >= 0.5
    assert str(refused.value) == (
        f"another stage change of model 'locked' is running (lock {held.name!r} held by "
        f"{Client().active_user.name} since {held.created.isoformat(timespec='seconds')} UTC); "
        f"nothing changed. If no stage change is running, delete the lock with "
        f"`zenml tag delete {held.name}`"
    )
    with stage_lock(model_id, "locked") as again:
        assert again.id != held.id


def test_a_lock_left_by_a_killed_process_is_taken_over_after_its_lease(zenml_stack):
    model_id = uuid.uuid4()
    left = Client().create_tag(name=lock_name(model_id))
    with stage_lock(model_id, "abandoned", wait_s=0, lease_s=0) as taken:
        assert taken.id != left.id
    assert not Client().list_tags(name=f"equals:{lock_name(model_id)}").items


# -- any sequence of stage changes ----------------------------------------------------------


class StageChanges(RuleBasedStateMachine):
    """Train, promote, roll back and archive at random; the machine keeps the expected state."""

    artifacts: dict
    promotes: dict[tuple[str, str], bool]
    seen: Counter[str]

    def __init__(self) -> None:
        super().__init__()
        self.name = new_model("machine")
        self.quality: dict[int, str] = {}
        self.stages: dict[int, str | None] = {}
        self.takers: list[int] = []
        self.moves: list[tuple[int, str, str]] = []
        self.seen["examples"] += 1

    def holder(self, stage: str) -> int | None:
        return next((n for n, held in self.stages.items() if held == stage), None)

    def production_before(self, number: int) -> int | None:
        last = len(self.takers) - 1 - self.takers[::-1].index(number)
        return next((n for n in reversed(self.takers[:last]) if n != number), None)

    def moved(self, number: int, stage: str, trigger: str) -> None:
        replaced = self.holder(stage) if stage in (STAGING, PRODUCTION) else None
        if replaced is not None and replaced != number:
            self.stages[replaced] = ARCHIVED
        self.stages[number] = stage
        if stage == PRODUCTION:
            self.takers.append(number)
        self.moves.append((number, stage, trigger))
        self.seen[f"{trigger} to {stage}"] += 1

    def version(self, pick: int) -> int:
        return sorted(self.stages)[pick % len(self.stages)]

    @initialize()
    def train_two(self) -> None:
        self.train("good")
        self.train("weak")

    @precondition(lambda self: len(self.stages) < 4)
    @rule(quality=st.sampled_from(QUALITIES))
    def train(self, quality: str) -> None:
        number = new_version(self.name, self.artifacts[quality], self.artifacts["test_set"])
        self.quality[number], self.stages[number] = quality, None
        self.seen["trained"] += 1

    @rule(pick=PICKS, force=st.booleans())
    def promote_to_production(self, pick: int, force: bool) -> None:
        self.promote(self.version(pick), PRODUCTION, force)

    @rule(pick=PICKS, force=st.booleans())
    def promote_to_staging(self, pick: int, force: bool) -> None:
        self.promote(self.version(pick), STAGING, force)

    def promote(self, number: int, stage: str, force: bool) -> None:
        production = self.holder(PRODUCTION)
        judged = stage == PRODUCTION and production not in (None, number)
        if (
            judged
            and not force
            and not self.promotes[self.quality[number], self.quality[production]]
        ):
            refusal = f"refusing to promote version {number} over production version {production}"
            with pytest.raises(RegistryError, match=refusal):
                promote_by_hand(self.name, number, stage, force, POLICY)
            self.seen["refused"] += 1
            return
        decision = promote_by_hand(self.name, number, stage, force, POLICY)
        if self.stages[number] == stage:
            assert decision.reason == f"version {number} already is {stage}: nothing changed"
            self.seen["unchanged"] += 1
        else:
            assert (decision is not None) == judged
            self.moved(number, stage, "forced" if force else "manual")

    @precondition(lambda self: self.holder(PRODUCTION) is not None)
    @rule()
    def roll_back(self) -> None:
        target = self.production_before(self.holder(PRODUCTION))
        if target is None:
            with pytest.raises(RegistryError, match="replaced no earlier version"):
                rollback(self.name)
            self.seen["rollback without target"] += 1
        else:
            assert rollback(self.name).number == target
            self.moved(target, PRODUCTION, "rollback")

    @rule(pick=PICKS)
    def archive_version(self, pick: int) -> None:
        number = self.version(pick)
        change = archive(self.name, number)
        assert change.changed == (self.stages[number] != ARCHIVED)
        if change.changed:
            self.moved(number, ARCHIVED, "archive")

    @invariant()
    def registries_agree_with_each_other_and_with_the_history(self) -> None:
        self.seen["checks"] += 1
        assert registry.check_invariants(self.name) == []
        assert zenml_stages(self.name) == self.stages
        held = {stage: self.holder(stage) for stage in (STAGING, PRODUCTION)}
        if self.moves:
            assert mlflow_aliases(self.name) == {s: n for s, n in held.items() if n is not None}
        recorded = [(m["version"], m["to_stage"], m["trigger"]) for m in moves(self.name)]
        assert recorded == self.moves
        if held[PRODUCTION] is not None:
            production = current(self.name, PRODUCTION)
            expected = self.production_before(held[PRODUCTION])
            assert rollback_target(self.name, production) == expected


@pytest.mark.slow
def test_any_sequence_of_stage_changes_keeps_the_registries_in_agreement(
    zenml_stack, artifacts, promotes
):
    StageChanges.artifacts, StageChanges.promotes = artifacts, promotes
    StageChanges.seen = Counter()
    run_state_machine_as_test(
        StageChanges,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    print(f"stage machine: {dict(sorted(StageChanges.seen.items()))}")
    outcomes = ("forced to production", "manual to staging", "rollback to production")
    assert all(StageChanges.seen[outcome] for outcome in (*outcomes, "refused", "unchanged"))
    assert StageChanges.seen["archive to archived"] and StageChanges.seen["checks"] >= 200


# -- two processes at once ------------------------------------------------------------------

RACER = """
import sys, time
from pathlib import Path
from zenml.utils import source_utils
source_utils.set_custom_source_root('.')
import registry.lock, registry.promotion, registry.stages
from registry.stages import RegistryError
from tagger.config import PromotionPolicy

action, name, number, folder, start_after, pause_in = sys.argv[1:]
folder = Path(folder)

def wait_for(flag):
    deadline = time.monotonic() + 120
    while not (folder / flag).exists():
        if time.monotonic() > deadline:
            sys.exit(f'timed out waiting for {flag}')
        time.sleep(0.05)

def paused(function, label):
    def wrapper(*args, **kwargs):
        (folder / f'{label}.entered').touch()
        wait_for(f'{label}.release')
        return function(*args, **kwargs)
    return wrapper

def reporting_waits(function):
    def wrapper(*args, **kwargs):
        tag = function(*args, **kwargs)
        if tag is None:
            (folder / f'{action}.waits-for-lock').touch()
        return tag
    return wrapper

if pause_in == 'decide':
    registry.promotion.decide = paused(registry.promotion.decide, 'decide')
if pause_in == 'move':
    registry.stages._move_in_both_registries = paused(
        registry.stages._move_in_both_registries, 'move')
registry.lock._try_create = reporting_waits(registry.lock._try_create)
if start_after != '-':
    wait_for(start_after)
try:
    if action == 'promote':
        registry.promotion.promote_by_hand(name, int(number), 'production', True, PromotionPolicy())
        print(f'{name} version {number} is now production')
    else:
        print(f'{name} version {registry.promotion.rollback(name).number} is production again')
except RegistryError as exc:
    sys.exit(str(exc))
"""


def _racer(action: str, name: str, number: int, folder: Path, start_after: str, pause_in: str):
    """A real process with this session's environment, as `run.py promote/rollback` would be."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            RACER,
            action,
            name,
            str(number),
            str(folder),
            start_after,
            pause_in,
        ],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(flag: Path, *processes: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not flag.exists():
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"a racer ended before {flag.name}: {process.communicate()}")
        assert time.monotonic() < deadline, f"no {flag.name} after {timeout_s} s"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("race", ["rollback lands while promote judges", "promote waits for lock"])
def test_concurrent_promote_and_rollback_one_wins_and_the_other_is_told_the_truth(
    race, zenml_stack, artifacts, tmp_path
):
    name = new_model("race")
    v1, v2, v3 = (new_version(name, artifacts["good"], artifacts["test_set"]) for _ in range(3))
    promote_by_hand(name, v1, PRODUCTION, force=False, policy=POLICY)
    promote_by_hand(name, v2, PRODUCTION, force=True, policy=POLICY)

    if race == "rollback lands while promote judges":
        promoter = _racer("promote", name, v3, tmp_path, "-", "decide")
        roller = _racer("rollback", name, 0, tmp_path, "decide.entered", "-")
        roller.wait(timeout=180)
        (tmp_path / "decide.release").touch()
    else:
        roller = _racer("rollback", name, 0, tmp_path, "-", "move")
        promoter = _racer("promote", name, v3, tmp_path, "move.entered", "-")
        _wait_for(tmp_path / "promote.waits-for-lock", promoter, roller)
        (tmp_path / "move.release").touch()
    rolled_out, rolled_err = roller.communicate(timeout=180)
    promoted_out, promoted_err = promoter.communicate(timeout=180)

    assert roller.returncode == 0, rolled_err
    assert rolled_out.strip().splitlines()[-1] == f"{name} version {v1} is production again"
    assert promoter.returncode == 1, promoted_out + promoted_err
    assert "is now production" not in promoted_out
    told = promoted_err.strip().splitlines()[-1]
    assert told.startswith(f"production of model {name!r} is version {v1} (last change: ")
    assert f"version {v1} archived -> production, rollback, by " in told
    assert told.endswith(
        f"not version {v2} as when this stage change was decided: nothing changed; "
        "check `run.py models` and try again"
    )

    assert zenml_stages(name) == {v1: PRODUCTION, v2: ARCHIVED, v3: None}
    assert mlflow_aliases(name) == {PRODUCTION: v1}
    assert registry.check_invariants(name) == []
    assert [(m["version"], m["trigger"]) for m in moves(name)] == [
        (v1, "manual"),
        (v2, "forced"),
        (v1, "rollback"),
    ]
    assert not list(Client().list_tags(name="startswith:stage-change-lock:").items)
