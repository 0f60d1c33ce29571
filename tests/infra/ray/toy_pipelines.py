"""Small pipelines with a known shape, for orchestrator tests: what ran, when, and where."""

from __future__ import annotations

import os
import time
from typing import Annotated

from zenml import pipeline, step
from zenml.config import ResourceSettings

BRANCH_SECONDS = 10.0  # longer than a cold worker takes to preload zenml


@step(enable_cache=False)
def source() -> Annotated[int, "seed"]:
    return 1


@step(enable_cache=False)
def branch(seed: int) -> Annotated[tuple[float, float, int], "window"]:
    """Busy for a while; returns when it ran and in which process."""
    started = time.time()
    time.sleep(BRANCH_SECONDS)
    return started, time.time(), os.getpid()


@step(enable_cache=False)
def join(
    left: tuple[float, float, int], right: tuple[float, float, int]
) -> Annotated[int, "total"]:
    return 2


@pipeline(enable_cache=False)
def diamond() -> None:
    seed = source()
    join(branch(seed, id="left"), branch(seed, id="right"))


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
