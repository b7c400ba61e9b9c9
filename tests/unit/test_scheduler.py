"""The AWS thread pool's two classes: interactive passes first, background ones never on the reserved threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import REGISTRY

from ecr_operator.runtime.scheduler import Priority, PriorityExecutor, priority_of

TIMEOUT = 10.0


@pytest.fixture
def executors() -> Iterator[list[PriorityExecutor]]:
    made: list[PriorityExecutor] = []
    yield made
    for executor in made:
        executor.shutdown(wait=False)


def gate() -> tuple[threading.Event, Callable[[], str], threading.Event]:
    """A job that holds its thread until ``release`` is set; ``running`` is set once it runs."""
    release, running = threading.Event(), threading.Event()

    def job() -> str:
        running.set()
        assert release.wait(TIMEOUT)
        return "released"

    return release, job, running


def test_kinds_of_passes_and_their_class() -> None:
    for kind in ("create", "update", "delete", "event", "probe"):
        assert priority_of(kind) is Priority.INTERACTIVE, kind
    for kind in ("resync", "inventory", "resume"):
        assert priority_of(kind) is Priority.BACKGROUND, kind


def test_a_free_thread_takes_every_waiting_interactive_pass_before_any_background_one(
    executors: list[PriorityExecutor],
) -> None:
    executor = PriorityExecutor(1, reserved=0)
    executors.append(executor)
    release, hold, running = gate()
    holding = executor.submit("create", hold)
    assert running.wait(TIMEOUT)
    order: list[str] = []
    lock = threading.Lock()

    def record(name: str) -> Callable[[], None]:
        def job() -> None:
            with lock:
                order.append(name)

        return job

    futures = [
        executor.submit("resync", record("resync-1")),
        executor.submit("inventory", record("inventory-1")),
        executor.submit("create", record("create-1")),
        executor.submit("resume", record("resume-1")),
        executor.submit("delete", record("delete-1")),
        executor.submit("update", record("update-1")),
    ]
    assert executor.waiting() == {Priority.INTERACTIVE: 3, Priority.BACKGROUND: 3}
    release.set()
    assert holding.result(TIMEOUT) == "released"
    for future in futures:
        future.result(TIMEOUT)
    # Interactive first in arrival order, then background in arrival order.
    assert order == ["create-1", "delete-1", "update-1", "resync-1", "inventory-1", "resume-1"]


def test_background_passes_never_take_the_reserved_threads(executors: list[PriorityExecutor]) -> None:
    executor = PriorityExecutor(3, reserved=1)
    executors.append(executor)
    releases = []
    held = []
    for _ in range(2):  # two slow background passes hold two threads
        release, hold, running = gate()
        releases.append(release)
        held.append(executor.submit("resync", hold))
        assert running.wait(TIMEOUT)
    started = threading.Event()
    third = executor.submit("resync", started.set)
    # The third thread is free, but reserved: the background pass waits for one of the two.
    assert not started.wait(0.2)
    assert executor.waiting() == {Priority.INTERACTIVE: 0, Priority.BACKGROUND: 1}
    # An interactive pass runs at once on the reserved thread.
    assert executor.submit("create", lambda: "created").result(TIMEOUT) == "created"
    assert not third.done()
    releases[0].set()
    third.result(TIMEOUT)
    releases[1].set()
    for future in held:
        future.result(TIMEOUT)


def test_interactive_passes_may_use_every_thread(executors: list[PriorityExecutor]) -> None:
    executor = PriorityExecutor(2, reserved=1)
    executors.append(executor)
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    futures = [executor.submit("update", barrier.wait) for _ in range(2)]  # both must run at once to pass
    for future in futures:
        future.result(TIMEOUT)


def test_errors_reach_the_caller_and_the_thread_goes_on(executors: list[PriorityExecutor]) -> None:
    executor = PriorityExecutor(1, reserved=0)
    executors.append(executor)

    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        executor.submit("resync", fail).result(TIMEOUT)
    assert executor.submit("resync", lambda: 1).result(TIMEOUT) == 1


def test_queue_wait_is_observed_by_kind(executors: list[PriorityExecutor]) -> None:
    times = iter([10.0, 17.5])  # queued at 10.0, started at 17.5
    executor = PriorityExecutor(1, reserved=0, clock=lambda: next(times))
    executors.append(executor)

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(f"ecr_operator_pass_queue_wait_seconds_{name}", {"kind": "inventory"}) or 0.0

    count, total = sample("count"), sample("sum")
    executor.submit("inventory", lambda: None).result(TIMEOUT)
    assert sample("count") == count + 1
    assert sample("sum") == pytest.approx(total + 7.5)


def test_a_cancelled_pass_never_runs(executors: list[PriorityExecutor]) -> None:
    executor = PriorityExecutor(1, reserved=0)
    executors.append(executor)
    release, hold, running = gate()
    holding = executor.submit("create", hold)
    assert running.wait(TIMEOUT)
    ran = threading.Event()
    cancelled = executor.submit("resync", ran.set)
    assert cancelled.cancel()
    release.set()
    holding.result(TIMEOUT)
    executor.submit("resync", lambda: None).result(TIMEOUT)
    assert not ran.is_set()


def test_background_passes_also_yield_in_the_rate_limiters_queues() -> None:
    import asyncio

    from ecr_operator.core import ratelimit
    from ecr_operator.core.settings import Settings
    from ecr_operator.runtime.process import Runtime

    memo = Runtime(Settings(region="eu-west-1"))

    async def yielding() -> list[bool]:
        kinds = ("create", "update", "delete", "resync", "inventory", "resume")
        return [await memo.run(ratelimit.YIELDING.get, kind=kind) for kind in kinds]

    try:
        assert asyncio.run(yielding()) == [False, False, False, True, True, True]
    finally:
        memo.executor.shutdown(wait=False)
