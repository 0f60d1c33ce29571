"""The service's in-process batcher: answers in order, batches under load, never holds a request."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from serving.batching import MicroBatcher
from serving.memory import HeapTrimmer


class CountingModel:
    """Scores a text as its length; records the batches it was given."""

    def __init__(self, started: threading.Event | None = None, release=None) -> None:
        self.batches: list[list[str]] = []
        self.started = started
        self.release = release

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        if self.started is not None:
            self.started.set()
            self.release.wait(5)
        return np.array([[len(t), 0.0] for t in texts])


def test_concurrent_requests_share_a_forward_pass_and_get_their_own_rows():
    started, release = threading.Event(), threading.Event()
    model = CountingModel(started, release)

    async def scenario() -> list[np.ndarray]:
        batcher = MicroBatcher(model, max_items=8)
        first = asyncio.create_task(batcher(["a"]))
        await asyncio.to_thread(started.wait, 5)  # the model is busy with the first request
        rest = [asyncio.create_task(batcher(["b" * n, "c" * n])) for n in (2, 3, 4)]
        await asyncio.sleep(0.05)
        release.set()
        return [await first, *[await r for r in rest]]

    answers = asyncio.run(scenario())
    assert model.batches == [["a"], ["bb", "cc", "bbb", "ccc", "bbbb", "cccc"]]
    assert [a[:, 0].tolist() for a in answers] == [[1], [2, 2], [3, 3], [4, 4]]


def test_a_batch_never_exceeds_max_items():
    started, release = threading.Event(), threading.Event()
    model = CountingModel(started, release)

    async def scenario() -> None:
        batcher = MicroBatcher(model, max_items=4)
        first = asyncio.create_task(batcher(["x"]))
        await asyncio.to_thread(started.wait, 5)
        rest = [asyncio.create_task(batcher(["y"] * 3)) for _ in range(3)]
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(first, *rest)

    asyncio.run(scenario())
    assert [len(b) for b in model.batches] == [1, 3, 3, 3]


def test_a_lone_request_is_answered_without_waiting_for_company():
    model = CountingModel()

    async def scenario() -> np.ndarray:
        batcher = MicroBatcher(model, max_items=64)
        return await asyncio.wait_for(batcher(["alone"]), timeout=1)

    assert asyncio.run(scenario())[:, 0].tolist() == [5]


def test_a_failing_forward_fails_its_requests_and_the_next_one_is_served():
    calls = []

    def flaky(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return np.ones((len(texts), 2))

    async def scenario() -> np.ndarray:
        batcher = MicroBatcher(flaky, max_items=8)
        with pytest.raises(RuntimeError, match="out of memory"):
            await batcher(["first"])
        return await batcher(["second"])

    assert asyncio.run(scenario()).shape == (1, 2)


def test_more_texts_than_a_batch_holds_is_refused():
    async def scenario() -> None:
        await MicroBatcher(CountingModel(), max_items=2)(["a", "b", "c"])

    with pytest.raises(ValueError, match="at most 2 texts"):
        asyncio.run(scenario())


class RecordingTrimmer(HeapTrimmer):
    """A real trimmer that also notes when it was told of a batch or of idleness, and where."""

    def __init__(self, model: CountingModel) -> None:
        super().__init__()
        self.model = model
        self.calls: list[tuple[str, str, int]] = []
        self.idle = threading.Event()

    def after_batch(self) -> None:
        self.calls.append(("batch", threading.current_thread().name, len(self.model.batches)))
        super().after_batch()

    def when_idle(self) -> None:
        self.calls.append(("idle", threading.current_thread().name, len(self.model.batches)))
        super().when_idle()
        self.idle.set()


def test_the_trimmer_trims_on_the_forward_thread_once_requests_pause():
    model = CountingModel()
    trimmer = RecordingTrimmer(model)

    async def scenario() -> list[np.ndarray]:
        batcher = MicroBatcher(model, max_items=8, trimmer=trimmer, idle_s=0.2)
        answers = [await batcher(["a"]), await batcher(["bb"])]
        await asyncio.to_thread(trimmer.idle.wait, 5)
        return answers

    answers = asyncio.run(scenario())
    assert [a[:, 0].tolist() for a in answers] == [[1], [2]]
    assert [(how, n) for how, _, n in trimmer.calls[:3]] == [
        ("batch", 1),
        ("batch", 2),
        ("idle", 2),
    ]
    idle_thread = trimmer.calls[2][1]
    assert idle_thread.startswith("forward")
    assert trimmer.trims == 1


def test_an_idle_trimmer_trims_only_what_batches_left():
    trimmer = HeapTrimmer()
    assert trimmer.available  # glibc, as on every machine this project builds on
    trimmer.when_idle()
    assert trimmer.trims == 0
    for _ in range(5):
        trimmer.after_batch()
    assert trimmer.trims == 0
    trimmer.when_idle()
    trimmer.when_idle()
    assert trimmer.trims == 1
