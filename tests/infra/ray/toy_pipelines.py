"""Small pipelines with a known shape, for orchestrator tests: what ran, when, and where."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Annotated

from zenml import pipeline, step
from zenml.config import ResourceSettings

# how long a branch waits for its sibling: far longer than a cold Ray worker takes to start and
# preload zenml, even on a loaded machine; a branch that waits in vain proves serial execution
RENDEZVOUS_SECONDS = 120.0


@step(enable_cache=False)
def source() -> Annotated[int, "seed"]:
    return 1


@step(enable_cache=False)
def branch(seed: int, rendezvous: str, name: str) -> Annotated[tuple[float, float, int], "window"]:
    """Says it started, then waits until every branch has: branches run one after the other
    would wait forever, so finishing proves they ran side by side, without timing a race.
    Returns when it ran and in which process."""
    started = time.time()
    Path(rendezvous, name).touch()
    while len(list(Path(rendezvous).iterdir())) < 2:
        if time.time() - started > RENDEZVOUS_SECONDS:
            raise TimeoutError(f"branch {name}: no other branch started while it ran")
        time.sleep(0.2)
    return started, time.time(), os.getpid()


@step(enable_cache=False)
def join(
    left: tuple[float, float, int], right: tuple[float, float, int]
) -> Annotated[int, "total"]:
    return 2


@pipeline(enable_cache=False)
def diamond(rendezvous: str = "") -> None:
    """`rendezvous`: an empty directory every step can reach (a new one by default)."""
    rendezvous = rendezvous or tempfile.mkdtemp(prefix="diamond-")
    seed = source()
    left = branch(seed, rendezvous, "left", id="left")
    right = branch(seed, rendezvous, "right", id="right")
    join(left, right)


@step(enable_cache=False)
def explode(seed: int) -> Annotated[int, "never"]:
    raise ValueError("the toy step failed on purpose")


@step(enable_cache=False)
def after(value: int) -> Annotated[int, "unreachable"]:
    return value


@pipeline(enable_cache=False)
def failing() -> None:
    after(explode(source()))


@step(enable_cache=False, settings={"resources": ResourceSettings(cpu_count=2, memory="256MB")})
def heavy(seed: int) -> Annotated[int, "heavy_result"]:
    print("heavy step ran with two CPUs")
    return seed


@pipeline(enable_cache=False)
def resourceful() -> None:
    heavy(source())


@step(enable_cache=False)
def nap(seed: int) -> Annotated[int, "rested"]:
    time.sleep(120)
    return seed


@pipeline(enable_cache=False)
def sleepy() -> None:
    after(nap(source()))


@step(enable_cache=False)
def process_ids() -> Annotated[tuple[int, int], "process_ids"]:
    """The step process's id and its parent's: the forkserver it was forked from."""
    return os.getpid(), os.getppid()


@pipeline(enable_cache=False)
def whereabouts() -> None:
    process_ids()
