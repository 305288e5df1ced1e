"""The inference scheduler on its own: places, the heavy lane, order, waiting limits (no models)."""

from __future__ import annotations

import threading
import time

import pytest

from faceprint.web.scheduler import InferenceScheduler, ServerBusy


def hold(scheduler: InferenceScheduler, cost: float, release: threading.Event, log: list, name: str):
    """A thread that takes a place for ``cost``, notes when, and keeps it until ``release``."""

    def run() -> None:
        try:
            with scheduler.slot(cost):
                log.append(name)
                release.wait(10)
        except ServerBusy:
            log.append(f"{name}: busy")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_heavy_request_leaves_a_place_for_small_ones():
    scheduler = InferenceScheduler(slots=2, heavy_slots=2, heavy_cost=4)
    assert scheduler.heavy_slots == 1  # one place is always kept for small requests
    release, log = threading.Event(), []
    heavy = [hold(scheduler, 100, release, log, f"heavy{i}") for i in range(2)]
    wait_for(lambda: scheduler.stats().heavy_running == 1 and scheduler.stats().waiting == 1)
    started = time.perf_counter()
    with scheduler.slot(0.3):
        assert time.perf_counter() - started < 0.5
    release.set()
    for thread in heavy:
        thread.join(5)
    assert sorted(log) == ["heavy0", "heavy1"]


def test_waiting_small_requests_go_before_a_heavy_one():
    scheduler = InferenceScheduler(slots=1, heavy_cost=4)
    release, log = threading.Event(), []
    first = hold(scheduler, 0.3, release, log, "first")
    wait_for(lambda: log == ["first"])
    later = [hold(scheduler, 50, release, log, "heavy")]
    wait_for(lambda: scheduler.stats().waiting == 1)
    later += [hold(scheduler, 0.3, release, log, f"small{i}") for i in range(2)]
    wait_for(lambda: scheduler.stats().waiting == 3)
    release.set()
    for thread in [first, *later]:
        thread.join(5)
    assert log == ["first", "small0", "small1", "heavy"]


def test_a_request_that_waits_too_long_is_told_the_server_is_busy():
    scheduler = InferenceScheduler(slots=1, timeout_s=0.2)
    release, log = threading.Event(), []
    holder = hold(scheduler, 0, release, log, "holder")
    wait_for(lambda: log == ["holder"])
    with pytest.raises(ServerBusy, match=r"within 0\.2 s") as caught, scheduler.slot(0):
        pass
    assert caught.value.http_status == 503 and caught.value.code == "busy"
    assert scheduler.stats().waiting == 0
    release.set()
    holder.join(5)
    with scheduler.slot(0):  # the place is free again
        assert scheduler.stats().running == 1
    assert scheduler.stats().running == 0


def test_the_waiting_line_is_bounded():
    scheduler = InferenceScheduler(slots=1, max_waiting=2)
    release, log = threading.Event(), []
    threads = [hold(scheduler, 0, release, log, "running")]
    wait_for(lambda: log == ["running"])
    threads += [hold(scheduler, 0, release, log, f"waiting{i}") for i in range(2)]
    wait_for(lambda: scheduler.stats().waiting == 2)
    with pytest.raises(ServerBusy, match="2 requests waiting"), scheduler.slot(0):
        pass
    release.set()
    for thread in threads:
        thread.join(5)
    assert len(log) == 3


def test_an_error_inside_gives_the_place_back():
    scheduler = InferenceScheduler(slots=1)
    with pytest.raises(RuntimeError), scheduler.slot(10):
        raise RuntimeError("model failed")
    assert scheduler.stats().running == 0 and scheduler.stats().heavy_running == 0
