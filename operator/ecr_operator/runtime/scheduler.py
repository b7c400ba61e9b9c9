"""The AWS thread pool with two classes of work: interactive passes (a create, a spec change, a delete, an AWS event)
never wait behind background ones (drift resyncs, inventory refreshes, a restart's resume passes).

A free thread always takes the oldest interactive pass first; background passes run only when none waits, and never
on the last ``reserved`` threads, so an interactive pass finds a thread even while every other one is busy with a
slow background pass. Each pass's wait for its thread is observed in ``ecr_operator_pass_queue_wait_seconds`` by
kind.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import Histogram

T = TypeVar("T")

QUEUE_WAIT = Histogram(
    "ecr_operator_pass_queue_wait_seconds",
    "Seconds a pass waited for an AWS worker thread, by kind (create, update, delete, event: interactive; resync, "
    "inventory, resume: background).",
    ["kind"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)


class Priority(enum.IntEnum):
    INTERACTIVE = 0
    BACKGROUND = 1


INTERACTIVE_KINDS = frozenset({"create", "update", "delete", "event", "probe"})
"""Kinds of work someone waits for: a user's change, an AWS event, the readiness probe."""


def priority_of(kind: str) -> Priority:
    return Priority.INTERACTIVE if kind in INTERACTIVE_KINDS else Priority.BACKGROUND


@dataclass
class _Job:
    fn: Callable[[], Any]
    future: Future[Any]
    kind: str
    queued_at: float


class PriorityExecutor:
    """``workers`` threads; background work on at most ``workers - reserved`` of them at once."""

    def __init__(
        self,
        workers: int,
        reserved: int | None = None,
        name: str = "aws",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self.reserved = min(workers - 1, max(1, workers // 4) if reserved is None else reserved)
        self._clock = clock
        self._cond = threading.Condition()
        self._queues: dict[Priority, deque[_Job]] = {p: deque() for p in Priority}
        self._background_running = 0
        self._shutdown = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True) for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, kind: str, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._cond:
            if self._shutdown:
                raise RuntimeError("the executor is shut down")
            self._queues[priority_of(kind)].append(_Job(fn, future, kind, self._clock()))
            self._cond.notify()
        return future

    def waiting(self) -> dict[Priority, int]:
        with self._cond:
            return {priority: len(queue) for priority, queue in self._queues.items()}

    def _next(self) -> _Job | None:
        """The next job this thread may run (under the lock), or None."""
        if self._queues[Priority.INTERACTIVE]:
            return self._queues[Priority.INTERACTIVE].popleft()
        if self._queues[Priority.BACKGROUND] and self._background_running < self.workers - self.reserved:
            self._background_running += 1
            return self._queues[Priority.BACKGROUND].popleft()
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                while (job := self._next()) is None:
                    if self._shutdown:
                        return
                    self._cond.wait()
            background = priority_of(job.kind) is Priority.BACKGROUND
            try:
                if job.future.set_running_or_notify_cancel():
                    QUEUE_WAIT.labels(job.kind).observe(max(0.0, self._clock() - job.queued_at))
                    try:
                        job.future.set_result(job.fn())
                    except BaseException as exc:  # handed to the awaiting pass, which maps it
                        job.future.set_exception(exc)
            finally:
                if background:
                    with self._cond:
                        self._background_running -= 1
                        self._cond.notify()

    def shutdown(self, wait: bool = True) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()
