"""A restart's resume passes, deferred: kopf's handler returns at once, the pass runs afterwards as background work.

kopf handles each object's events in a worker, at most ``queueing.worker_limit`` at once, first come first served.
At a restart the initial listing queues every existing object's resume pass there, so a create or an edit arriving
meanwhile would wait for a worker behind all of them. Returning from the resume handler at once frees the worker;
the pass itself then waits in the AWS pool's background class (scheduler.py), behind interactive passes, and writes
the object's status itself. A change pass of the object (create, update, delete) supersedes its deferred resume:
that pass read the current spec, the deferred one holds the body as it was listed. One still waiting is dropped; one
already running finishes, but neither writes its status nor is retried. The check and the write hold the object's
lock, which the change pass waits for after superseding: a resume's status never lands after a change pass's.

A replica kopf's peering puts on standby (:meth:`DeferredResumes.stand_by`, ``runtime/peering.py``) drops every
resume it holds, as kopf stops its own timers: the serving replica resumes every object itself, and this one sees
no change pass any more to supersede a body it listed earlier (run on, it would apply an old spec over the serving
replica's passes).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import kopf

from ecr_operator.runtime.kube import patch_status

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
"""A deferred pass that keeps failing with a retryable error is left to the resync timer after this many."""

Pass = Callable[..., Awaitable[None]]
"""The handler's pass: called with kopf's keyword arguments and a fresh ``patch``."""

Hold = Callable[[str], AbstractAsyncContextManager[None]]
"""The per-object lock (``Runtime.lock``) that the passes of one object hold."""


@dataclass
class _Running:
    """One resume pass under way; a change pass of its object marks it superseded."""

    superseded: bool = False


class DeferredResumes:
    def __init__(self, run: Pass, concurrency: int, hold: Hold) -> None:
        self._run = run
        self._concurrency = concurrency
        self._hold = hold
        self._pending: dict[str, dict[str, Any]] = {}
        """uid -> kopf's keyword arguments of the resume, until it runs or a change pass supersedes it."""
        self._running: dict[str, list[_Running]] = {}
        """uid -> its resume passes under way (kept only while one runs)."""
        self._order: deque[str] = deque()
        self._attempts: dict[str, int] = {}
        self._wakeup: asyncio.Event | None = None
        self._consumers: list[asyncio.Task[None]] = []
        self._standby = False

    def __len__(self) -> int:
        return len(self._pending)

    def defer(self, kwargs: Mapping[str, Any]) -> None:
        """Run this resume later (call from the event loop); not on standby (another replica serves)."""
        uid = str(kwargs["meta"].uid)
        if self._standby:
            log.info("resume of %s/%s dropped: this replica stands by", kwargs["meta"].namespace, kwargs["meta"].name)
            return
        if uid not in self._pending:
            self._order.append(uid)
        self._pending[uid] = {key: value for key, value in kwargs.items() if key != "patch"}
        self._start()
        assert self._wakeup is not None
        self._wakeup.set()

    def supersede(self, uid: str) -> None:
        """A change pass of ``uid`` runs now: its deferred resume is not needed any more, and one already running
        must not write its status after the change pass's (call before the change pass takes the object's lock)."""
        self._pending.pop(uid, None)
        self._attempts.pop(uid, None)
        for running in self._running.get(uid, ()):
            running.superseded = True

    def stand_by(self) -> None:
        """kopf's peering paused this replica: drop what waits (and its retries); a pass under way finishes but
        writes no status and is not retried."""
        self._standby = True
        if self._pending:
            log.info("this replica stands by: %d deferred resume passes dropped", len(self._pending))
        for uid in [*self._pending, *self._running, *self._attempts]:
            self.supersede(uid)
        self._order.clear()

    def serve(self) -> None:
        """kopf's peering let this replica serve again."""
        self._standby = False

    def _start(self) -> None:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        if not self._consumers:
            loop = asyncio.get_running_loop()
            self._consumers = [loop.create_task(self._consume()) for _ in range(self._concurrency)]

    async def _consume(self) -> None:
        assert self._wakeup is not None
        while True:
            while not self._order:
                self._wakeup.clear()
                await self._wakeup.wait()
            uid = self._order.popleft()
            kwargs = self._pending.pop(uid, None)
            if kwargs is None:  # superseded
                continue
            try:
                await self._one(uid, kwargs)
            except asyncio.CancelledError:
                raise
            except Exception:  # never lose the consumer; the resync timer comes back to the object
                log.exception("a deferred resume pass failed")

    async def _one(self, uid: str, kwargs: dict[str, Any]) -> None:
        running = _Running()
        self._running.setdefault(uid, []).append(running)
        try:
            await self._pass(uid, kwargs, running)
        finally:
            runs = self._running[uid]
            runs.remove(running)
            if not runs:
                del self._running[uid]

    async def _pass(self, uid: str, kwargs: dict[str, Any], running: _Running) -> None:
        patch = kopf.Patch()
        logger = kwargs["logger"]
        retry_after: float | None = None
        try:
            await self._run(**kwargs, patch=patch)
        except kopf.TemporaryError as error:
            retry_after = error.delay or 1.0
        except kopf.PermanentError:
            pass
        status = patch.get("status")
        if status:
            async with self._hold(uid):
                # Not superseded while it ran (a change pass's status is newer), nor deferred again (a newer body).
                if not running.superseded and uid not in self._pending:
                    meta = kwargs["meta"]
                    try:
                        await patch_status(
                            kwargs["resource"],
                            meta.namespace,
                            meta.name,
                            dict(status),
                            kwargs["memo"].kopf_settings,
                            logger,
                        )
                    except Exception as exc:  # the next pass writes it again
                        logger.warning("resume: could not write status: %r", exc)
        if running.superseded:
            return  # the change pass took over: no retry of a pass over the old body
        attempts = self._attempts.pop(uid, 0) + 1
        if retry_after is not None and attempts < MAX_ATTEMPTS and uid not in self._pending:
            self._attempts[uid] = attempts  # until the retry, or a change pass superseding it
            asyncio.get_running_loop().call_later(retry_after, self._retry, uid, kwargs, attempts)

    def _retry(self, uid: str, kwargs: dict[str, Any], attempts: int) -> None:
        if self._attempts.get(uid) != attempts or uid in self._pending:
            return  # superseded meanwhile
        self.defer({**kwargs, "retry": attempts})
