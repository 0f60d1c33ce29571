"""One stage change per model at a time, for every process that talks to the same ZenML store.

Why a tag in the ZenML store: every process that moves stages (the CLI on any laptop, a pipeline
step on any orchestrator) already talks to the same store, and tag names are unique in it (a
database constraint, on a local SQLite store and on a server alike). Creating the tag named after
the model is therefore an atomic test-and-set that all of them see. A file lock would cover one
machine only, and ZenML's own updates have no condition (the last writer wins), so a
compare-and-set on a version's stage or metadata cannot be built from them alone: the lock makes
"read production, compare, move, record" one step, and `registry.stages.change_stage` does the
comparing inside it.

Limits: a process killed while holding the lock leaves its tag behind. Waiters take a lock over
once it is older than `lease_s`, measured from the tag's creation time in the store against this
machine's UTC clock (the clocks must roughly agree), or a person deletes it with
`zenml tag delete <name>`. A holder that runs past its lease can overlap with the next one; a stage
change takes about a second and the lease is two minutes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from uuid import UUID

from zenml.client import Client
from zenml.exceptions import EntityExistsError
from zenml.models import TagResponse

from registry.errors import RegistryError

logger = logging.getLogger(__name__)

LOCK_PREFIX = "stage-change-lock:"


def lock_name(model_id: UUID) -> str:
    return f"{LOCK_PREFIX}{model_id}"


def _try_create(client: Client, name: str) -> TagResponse | None:
    try:
        return client.create_tag(name=name)
    except EntityExistsError:
        return None


def _holder(client: Client, name: str) -> TagResponse | None:
    """The lock's tag as it is now; None when it went away since we failed to create it.

    One list query: `Client.get_tag(name)` counts, then fetches, and fails with IndexError
    when the holder releases the lock in between.
    """
    found = client.list_tags(name=f"equals:{name}", hydrate=True).items
    return found[0] if found else None


def _age_s(tag: TagResponse) -> float:
    created = tag.created if tag.created.tzinfo else tag.created.replace(tzinfo=UTC)
    return (datetime.now(UTC) - created).total_seconds()


def _delete(client: Client, tag_id: UUID) -> bool:
    """Delete by id, never by name: a lock someone else took meanwhile has another id."""
    try:
        client.delete_tag(tag_id)
    except KeyError:
        return False
    return True


def describe(tag: TagResponse) -> str:
    user = tag.user.name if tag.user is not None else "an unknown user"
    return f"held by {user} since {tag.created.isoformat(timespec='seconds')} UTC"


@contextmanager
def stage_lock(
    model_id: UUID,
    model_name: str,
    wait_s: float = 30.0,
    lease_s: float = 120.0,
    poll_s: float = 0.2,
) -> Iterator[TagResponse]:
    """Hold the model's stage lock; wait up to `wait_s` for another holder, then give up."""
    client = Client()
    name = lock_name(model_id)
    deadline = time.monotonic() + wait_s
    while (tag := _try_create(client, name)) is None:
        holder = _holder(client, name)
        if holder is None:
            continue
        if _age_s(holder) > lease_s:
            logger.warning("taking over the stage lock of %s (%s)", model_name, describe(holder))
            _delete(client, holder.id)
            continue
        if time.monotonic() > deadline:
            raise RegistryError(
                f"another stage change of model {model_name!r} is running (lock {name!r} "
                f"{describe(holder)}); nothing changed. If no stage change is running, "
                f"delete the lock with `zenml tag delete {name}`"
            )
        time.sleep(poll_s)
    try:
        yield tag
    finally:
        if not _delete(client, tag.id):
            logger.warning(
                "the stage lock of %s was taken over before this change finished; "
                "run registry.stages.check_invariants(%r)",
                model_name,
                model_name,
            )
