"""Per-object locks: exclusive per object, independent across objects, none kept for idle objects."""

from __future__ import annotations

import asyncio

from ecr_operator.runtime.locks import ObjectLocks


def test_passes_of_one_object_never_overlap_and_idle_objects_keep_no_lock() -> None:
    locks = ObjectLocks()
    trace: list[str] = []

    async def one(uid: str, name: str, release: asyncio.Event | None = None) -> None:
        async with locks.hold(uid):
            trace.append(f"{name} in")
            if release is not None:
                await release.wait()
            else:
                await asyncio.sleep(0)
            trace.append(f"{name} out")

    async def scenario() -> None:
        release = asyncio.Event()
        first = asyncio.create_task(one("a", "a1", release))
        await asyncio.sleep(0)
        second = asyncio.create_task(one("a", "a2"))
        other = asyncio.create_task(one("b", "b1"))
        await other  # another object is not held up by "a"
        assert "a" in locks and "b" not in locks
        release.set()
        await asyncio.gather(first, second)

    asyncio.run(scenario())
    assert trace.index("b1 out") < trace.index("a1 out")
    assert trace.index("a1 out") < trace.index("a2 in"), "one object's holders one after the other"
    assert len(locks) == 0


def test_a_cancelled_waiter_leaves_no_lock_behind() -> None:
    locks = ObjectLocks()

    async def scenario() -> None:
        release = asyncio.Event()

        async def hold() -> None:
            async with locks.hold("a"):
                await release.wait()

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0)
        waiter = asyncio.create_task(hold())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        release.set()
        await holder

    asyncio.run(scenario())
    assert len(locks) == 0
