"""Per-object locks kept only while someone holds or waits for them: a fleet of idle objects keeps none."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class ObjectLocks:
    """``async with locks.hold(uid):`` -- a pass, the resync timer, the inventory timer and the delete of one object
    never overlap; the lock goes away with its last holder or waiter."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, uid: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(uid) or (asyncio.Lock(), 0)
        self._locks[uid] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[uid]
            if users > 1:
                self._locks[uid] = (lock, users - 1)
            else:
                del self._locks[uid]

    def __len__(self) -> int:
        return len(self._locks)

    def __contains__(self, uid: object) -> bool:
        return uid in self._locks
