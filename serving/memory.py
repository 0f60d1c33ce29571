"""Handing the heap memory a forward pass freed back to the operating system.

glibc's malloc keeps freed blocks in its arenas for reuse. A server's batches come in ever
different shapes (texts x tokens), so the activations of one batch rarely fit the holes another
left, and the process's resident memory climbs with traffic: in one process, 600 batches of 1-64
texts on the torch backend took it from 1.1 to 2.1 GB, and with a trim after a batch at most once
a second it ended at 0.6 GB, in the same time (README, Benchmarks). `malloc_trim(0)` costs about
10 ms there, hence the rate limit. C libraries without it (musl, macOS) make the trimmer a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import time
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    return getattr(ctypes.CDLL(name), "malloc_trim", None)


class HeapTrimmer:
    """Trims the heap after a forward pass if `every_s` has passed since the last trim, and
    once more when the model has gone idle, so memory a burst took goes back when it ends."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self.trims = 0
        self._trim = _malloc_trim()
        self._last = -math.inf  # never trimmed
        self._untrimmed = False

    @property
    def available(self) -> bool:
        return self._trim is not None

    def after_batch(self) -> None:
        self._untrimmed = True
        if time.monotonic() - self._last >= self.every_s:
            self._run()

    def when_idle(self) -> None:
        if self._untrimmed:
            self._run()

    def _run(self) -> None:
        if self._trim is not None:
            self._trim(0)
            self.trims += 1
        self._last = time.monotonic()
        self._untrimmed = False
