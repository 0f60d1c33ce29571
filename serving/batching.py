"""Concurrent requests merged into one forward pass, inside the API process.

Why not BentoML's adaptive batcher: it lives in a second process, so every request crosses a
second HTTP hop and is (de)serialised twice, and on 2 cores that hop cost more than the model
(README, Serving). Its hold rule also waits for a fuller batch, and after a burst it kept lone
requests waiting ~80 ms. The rule here never waits: while the model runs, requests queue; when it
is free, everything queued (up to `max_items` texts) is the next batch. A lone request goes
straight to the model, and under load the batches grow by themselves.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from serving.memory import HeapTrimmer


@dataclass
class _Waiting:
    texts: list[str]
    answer: asyncio.Future = field(repr=False)


class MicroBatcher:
    """One model, one thread for its forward passes (ONNX Runtime and torch release the GIL, so
    the event loop keeps reading requests meanwhile), one loop that feeds it."""

    def __init__(
        self,
        predict_proba: Callable[[list[str]], np.ndarray],
        max_items: int,
        trimmer: HeapTrimmer | None = None,
        idle_s: float = 1.0,
    ) -> None:
        """`trimmer` hears of every batch, and trims on the forward thread once no request came
        for `idle_s`."""
        self._predict_proba = predict_proba
        self._max_items = max_items
        self._trimmer = trimmer
        self._idle_s = idle_s
        self._queue: deque[_Waiting] = deque()
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forward")
        self._feeder: asyncio.Task | None = None

    async def __call__(self, texts: list[str]) -> np.ndarray:
        """Class probabilities for `texts`, in their order."""
        if not texts:
            return np.empty((0, 0))
        if len(texts) > self._max_items:
            raise ValueError(f"at most {self._max_items} texts a request, got {len(texts)}")
        if self._feeder is None:
            self._feeder = asyncio.create_task(self._feed())
        waiting = _Waiting(texts, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        self._arrived.set()
        return await waiting.answer

    def _next_batch(self) -> list[_Waiting]:
        batch = [self._queue.popleft()]
        size = len(batch[0].texts)
        while self._queue and size + len(self._queue[0].texts) <= self._max_items:
            size += len(self._queue[0].texts)
            batch.append(self._queue.popleft())
        return batch

    async def _feed(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                # without a trimmer there is nothing to do when idle: wait as long as it takes
                idle_s = self._idle_s if self._trimmer is not None else None
                await asyncio.wait_for(self._arrived.wait(), idle_s)
            except TimeoutError:
                await loop.run_in_executor(self._executor, self._trimmer.when_idle)
                continue
            self._arrived.clear()
            while self._queue:
                batch = self._next_batch()
                texts = [text for waiting in batch for text in waiting.texts]
                try:
                    rows = await loop.run_in_executor(self._executor, self._predict_proba, texts)
                except Exception as exc:  # noqa: BLE001 - handed to every request of the batch
                    for waiting in batch:
                        if not waiting.answer.done():
                            waiting.answer.set_exception(exc)
                    continue
                start = 0
                for waiting in batch:
                    end = start + len(waiting.texts)
                    if not waiting.answer.done():  # its caller may have gone (a cancelled request)
                        waiting.answer.set_result(rows[start:end])
                    start = end
                if self._trimmer is not None:
                    self._trimmer.after_batch()
