"""A restart's resume passes run after kopf's handler returned, write status themselves, are superseded by a change
pass of the same object, and are retried on retryable errors."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits import aiotoggles

from ecr_operator.runtime import resume
from ecr_operator.runtime.locks import ObjectLocks
from ecr_operator.runtime.peering import PauseFollower
from ecr_operator.runtime.resume import DeferredResumes


def _kwargs(uid: str) -> dict[str, Any]:
    meta = SimpleNamespace(uid=uid, namespace="team", name=f"r-{uid}")
    return {
        "meta": meta,
        "patch": kopf.Patch(),
        "logger": SimpleNamespace(warning=lambda *a: None),
        "resource": "ecrrepositories",
        "memo": SimpleNamespace(kopf_settings=None),
        "retry": 0,
    }


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The status patches the deferred passes write (instead of the API server)."""
    patches: list[tuple[str, dict[str, Any]]] = []

    async def patch_status(resource: Any, namespace: str, name: str, status: Any, *_: Any) -> None:
        patches.append((name, dict(status)))

    monkeypatch.setattr(resume, "patch_status", patch_status)
    return patches


async def _settle(resumes: DeferredResumes) -> None:
    """Let the consumers run until they wait again."""
    for _ in range(50):
        await asyncio.sleep(0)


def test_the_handler_returns_at_once_and_the_pass_writes_status_after(
    written: list[tuple[str, dict[str, Any]]],
) -> None:
    started: list[str] = []

    async def scenario() -> None:
        gate = asyncio.Event()

        async def run(**kwargs: Any) -> None:
            started.append(kwargs["meta"].uid)
            await gate.wait()
            kwargs["patch"].status["lastSyncTime"] = "now"

        resumes = DeferredResumes(run, concurrency=2, hold=ObjectLocks().hold)
        for uid in ("a", "b", "c"):
            resumes.defer(_kwargs(uid))  # returns without running anything
        assert started == []
        await _settle(resumes)
        assert started == ["a", "b"], "two at a time"
        gate.set()
        await _settle(resumes)
        assert started == ["a", "b", "c"]

    asyncio.run(scenario())
    assert sorted(name for name, _ in written) == ["r-a", "r-b", "r-c"]
    assert all(status == {"lastSyncTime": "now"} for _, status in written)


def test_a_change_pass_supersedes_a_waiting_resume(written: list[tuple[str, dict[str, Any]]]) -> None:
    ran = []

    async def scenario() -> None:
        async def run(**kwargs: Any) -> None:
            ran.append(kwargs["meta"].uid)
            kwargs["patch"].status["lastSyncTime"] = "now"

        resumes = DeferredResumes(run, concurrency=1, hold=ObjectLocks().hold)
        resumes.defer(_kwargs("a"))
        resumes.defer(_kwargs("b"))
        resumes.supersede("b")  # e.g. its spec changed after the restart: the update pass read the new spec
        assert len(resumes) == 1
        await _settle(resumes)

    asyncio.run(scenario())
    assert ran == ["a"]
    assert [name for name, _ in written] == ["r-a"]


def test_a_retryable_failure_is_retried_with_its_delay_and_a_change_pass_stops_the_retries(
    written: list[tuple[str, dict[str, Any]]],
) -> None:
    attempts: list[int] = []

    async def scenario() -> None:
        async def run(**kwargs: Any) -> None:
            attempts.append(kwargs["retry"])
            kwargs["patch"].status["conditions"] = [{"type": "Ready", "status": "False"}]
            if len(attempts) < 3:
                raise kopf.TemporaryError("throttled", delay=0.01)

        resumes = DeferredResumes(run, concurrency=1, hold=ObjectLocks().hold)
        resumes.defer(_kwargs("a"))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if len(attempts) == 3:
                break
        await _settle(resumes)

        async def failing(**kwargs: Any) -> None:
            attempts.append(kwargs["retry"])
            raise kopf.TemporaryError("throttled", delay=0.01)

        stopped = DeferredResumes(failing, concurrency=1, hold=ObjectLocks().hold)
        stopped.defer(_kwargs("b"))
        await _settle(stopped)
        stopped.supersede("b")
        await asyncio.sleep(0.1)

    asyncio.run(scenario())
    assert attempts == [0, 1, 2, 0], "retried until it passed; the superseded one not again"
    assert [name for name, _ in written] == ["r-a"] * 3, "the failure is reported in status each time"


async def _after_timers_due_within(seconds: float) -> None:
    """Return once every loop timer due within ``seconds`` has fired and what it started has settled: the event
    loop fires timers in the order they are due, so a retry scheduled sooner has run by then."""
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(seconds, done.set_result, None)
    await done
    for _ in range(50):
        await asyncio.sleep(0)


@pytest.mark.parametrize("outcome", ["passed", "retryable-failure"])
def test_a_resume_superseded_while_it_ran_writes_no_status_and_is_not_retried(
    written: list[tuple[str, dict[str, Any]]], outcome: str
) -> None:
    """A change pass (update) of the object arrives while its resume pass runs over the body listed at the restart:
    the change pass supersedes it and writes its status; the resume finishes, but its stale status never lands
    after the change pass's, and it is not retried over the old body."""
    attempts: list[int] = []
    order: list[str] = []

    async def scenario() -> None:
        locks = ObjectLocks()
        running, finish = asyncio.Event(), asyncio.Event()

        async def run(**kwargs: Any) -> None:  # the resume pass, holding the object's lock as passes.reconcile does
            attempts.append(kwargs["retry"])
            async with locks.hold(kwargs["meta"].uid):
                running.set()
                await finish.wait()
                kwargs["patch"].status["observedGeneration"] = 1  # from the old body
            if outcome == "retryable-failure":
                raise kopf.TemporaryError("throttled", delay=0.001)

        async def change_pass(uid: str) -> None:  # as passes.reconcile: supersede, then the lock, then the status
            resumes.supersede(uid)
            async with locks.hold(uid):
                order.append("change pass wrote")
            written.append((f"r-{uid}", {"observedGeneration": 2}))

        resumes = DeferredResumes(run, concurrency=1, hold=locks.hold)
        resumes.defer(_kwargs("a"))
        await running.wait()
        change = asyncio.create_task(change_pass("a"))
        await _settle(resumes)
        assert order == [], "the change pass waits for the resume to release the object"
        finish.set()
        await change
        await _after_timers_due_within(0.05)

    asyncio.run(scenario())
    assert written == [("r-a", {"observedGeneration": 2})], "only the change pass's status"
    assert attempts == [0], "not retried"


def test_a_resume_writing_its_status_makes_a_change_pass_wait_until_it_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The resume was not superseded when its pass ended and is writing its status when the change pass arrives:
    the change pass's status comes after it, never before (the write holds the object's lock)."""
    order: list[str] = []

    async def scenario() -> None:
        locks = ObjectLocks()
        writing, written = asyncio.Event(), asyncio.Event()

        async def patch_status(resource: Any, namespace: str, name: str, status: Any, *_: Any) -> None:
            writing.set()
            await written.wait()
            order.append("resume wrote")

        monkeypatch.setattr(resume, "patch_status", patch_status)

        async def run(**kwargs: Any) -> None:
            async with locks.hold(kwargs["meta"].uid):
                kwargs["patch"].status["observedGeneration"] = 1

        async def change_pass(uid: str) -> None:
            resumes.supersede(uid)
            async with locks.hold(uid):
                order.append("change pass wrote")

        resumes = DeferredResumes(run, concurrency=1, hold=locks.hold)
        resumes.defer(_kwargs("a"))
        await writing.wait()
        change = asyncio.create_task(change_pass("a"))
        await _settle(resumes)
        assert order == []
        written.set()
        await change

    asyncio.run(scenario())
    assert order == ["resume wrote", "change pass wrote"]


def test_a_replica_put_on_standby_drops_its_waiting_resumes_and_the_running_one_writes_nothing(
    written: list[tuple[str, dict[str, Any]]],
) -> None:
    """kopf's peering pauses this replica (another of higher priority serves): the bodies of its deferred resumes
    are as it listed them, and it sees no change pass any more to supersede them. Run on, they would apply an old
    spec over the serving replica's passes (reverting an edit until a resync) and write old status."""
    ran: list[str] = []

    async def scenario() -> None:
        gate = asyncio.Event()

        async def run(**kwargs: Any) -> None:
            ran.append(kwargs["meta"].uid)
            await gate.wait()
            kwargs["patch"].status["lastSyncTime"] = "then"
            raise kopf.TemporaryError("throttled", delay=0.01)

        resumes = DeferredResumes(run, concurrency=1, hold=ObjectLocks().hold)
        for uid in ("a", "b", "c"):
            resumes.defer(_kwargs(uid))
        await _settle(resumes)
        assert ran == ["a"]
        resumes.stand_by()
        resumes.defer(_kwargs("d"))  # a handler kopf was already running when it paused
        gate.set()
        await _after_timers_due_within(0.05)
        assert len(resumes) == 0
        resumes.serve()
        resumes.defer(_kwargs("e"))
        await _settle(resumes)

    asyncio.run(scenario())
    assert ran == ["a", "e"], "nothing more ran while on standby, nor was retried"
    assert [name for name, _ in written] == ["r-e"], "the pass under way at the pause wrote no status"


def test_the_deferred_resumes_follow_kopfs_peering_pause() -> None:
    """kopf hands its operator-wide pause to every watch stream it starts; the follower, tapped into them, puts
    the deferred resumes on standby while it is on and back when it is off."""

    async def scenario() -> list[int]:
        resumes = DeferredResumes(lambda **_: asyncio.sleep(0), concurrency=1, hold=ObjectLocks().hold)
        paused = aiotoggles.ToggleSet(any)
        toggle = await paused.make_toggle(name="peering")
        follower = PauseFollower(resumes)
        assert follower.started("ecrrepositories", None, paused) is False, "it observes no event"
        follower.started("ecrregistries", None, paused)  # one follower for every stream
        counts = []
        await toggle.turn_to(True)
        await _settle(resumes)
        resumes.defer(_kwargs("a"))
        counts.append(len(resumes))
        await toggle.turn_to(False)
        await _settle(resumes)
        resumes.defer(_kwargs("b"))
        counts.append(len(resumes))
        assert follower.task is not None
        follower.task.cancel()
        return counts

    assert asyncio.run(scenario()) == [0, 1], "dropped while paused, kept once it serves again"
