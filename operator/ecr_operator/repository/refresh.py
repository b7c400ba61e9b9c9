"""The resync's batched views, fetched so that a slow account never holds the threads other accounts need.

A refresh of one (account, region) — DescribeRepositories and tag:GetResources pages, at that account's request
rates — runs on a thread of its own (never one of the runtime's AWS pool), one at a time per (account, region); the
passes that need it wait for it in the event loop, holding no thread, and share it. Passes of other accounts go on.
"""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

from ecr_operator.core import ratelimit
from ecr_operator.core.aws import AwsClients
from ecr_operator.repository.view import RegionView, RegionViews

MAX_REFRESHING = 32
"""(account, region) views refreshed at once (threads made on demand, up to this many)."""


class ViewRefresher:
    def __init__(self, views: RegionViews, max_refreshing: int = MAX_REFRESHING) -> None:
        self.views = views
        self._executor = ThreadPoolExecutor(max_workers=max_refreshing, thread_name_prefix="view")
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def view(self, clients: AwsClients, not_before: float) -> RegionView:
        """What :meth:`RegionViews.view` returns, waited for in the event loop."""
        target = clients.target
        cached = self.views.cached(target, not_before)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(target, asyncio.Lock())
        async with lock:
            cached = self.views.cached(target, not_before)  # refreshed while this pass waited
            if cached is not None:
                return cached
            context = contextvars.copy_context()
            context.run(ratelimit.YIELDING.set, True)  # a refresh serves resyncs: background work
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, context.run, self.views.refresh, clients
            )

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False)
