"""A fair scheduler for model inference: a few requests run at once (ONNX Runtime sessions may be called from
several threads), heavy requests (many or large photos) may hold only some of the places, and small requests
waiting go before heavy ones, so that a detect stays fast while a big enrollment runs.

Each request's work is measured in megapixels from its image headers before anything is decoded; a request above
the per-request budget is refused, and one that waits too long for a place is answered 503."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from faceprint.web.errorhandlers import ApiError

HEAVY_HEADSTART_S = 5.0
"""A heavy request waits as if it had arrived this much later than it did: small requests go first, but a heavy one
is not starved by a steady stream of them."""


def default_slots() -> int:
    """Requests computed at once by default: half the cores (each network already uses several), 2 to 8."""
    return max(2, min(8, len(os.sched_getaffinity(0)) // 2))


class ServerBusy(ApiError):
    """No place to compute this request became free in time."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="busy", http_status=503)


@dataclass(order=True)
class _Ticket:
    due: float
    sequence: int
    heavy: bool = field(compare=False)


@dataclass
class SchedulerStats:
    """What the scheduler is doing now."""

    running: int
    heavy_running: int
    waiting: int


class InferenceScheduler:
    """Admits at most ``slots`` requests to the models at once, at most ``heavy_slots`` of them heavy (cost above
    ``heavy_cost``); waiting requests are admitted in order of arrival, heavy ones ``HEAVY_HEADSTART_S`` later."""

    def __init__(
        self,
        slots: int,
        heavy_slots: int = 1,
        heavy_cost: float = 4.0,
        max_waiting: int = 64,
        timeout_s: float = 60.0,
    ) -> None:
        self.slots = max(1, slots)
        # With several places one is always kept for small requests.
        self.heavy_slots = max(1, min(heavy_slots, self.slots - 1)) if self.slots > 1 else 1
        self.heavy_cost = heavy_cost
        self.max_waiting = max_waiting
        self.timeout_s = timeout_s
        self._condition = threading.Condition()
        self._waiting: list[_Ticket] = []
        self._running = 0
        self._heavy_running = 0
        self._sequence = itertools.count()

    def stats(self) -> SchedulerStats:
        """Requests running, heavy ones among them, and waiting."""
        with self._condition:
            return SchedulerStats(self._running, self._heavy_running, len(self._waiting))

    def _next(self) -> _Ticket | None:
        """The waiting ticket to admit now, if any place is free for it."""
        if self._running >= self.slots:
            return None
        heavy_free = self._heavy_running < self.heavy_slots
        for ticket in sorted(self._waiting):
            if not ticket.heavy or heavy_free:
                return ticket
        return None

    @contextlib.contextmanager
    def slot(self, cost: float) -> Iterator[None]:
        """Wait for a place for a request of ``cost`` megapixels, hold it while the block runs."""
        heavy = cost > self.heavy_cost
        arrived = time.monotonic()
        ticket = _Ticket(arrived + (HEAVY_HEADSTART_S if heavy else 0.0), next(self._sequence), heavy)
        with self._condition:
            if len(self._waiting) >= self.max_waiting:
                raise ServerBusy(f"the server is busy ({len(self._waiting)} requests waiting); try again shortly")
            self._waiting.append(ticket)
            try:
                while self._next() is not ticket:
                    remaining = arrived + self.timeout_s - time.monotonic()
                    if remaining <= 0:
                        raise ServerBusy(
                            f"the server is busy: no place to compute this request within {self.timeout_s:g} s; "
                            "try again shortly"
                        )
                    self._condition.wait(remaining)
            finally:
                self._waiting.remove(ticket)
                self._condition.notify_all()
            self._running += 1
            self._heavy_running += heavy
        try:
            yield
        finally:
            with self._condition:
                self._running -= 1
                self._heavy_running -= heavy
                self._condition.notify_all()
