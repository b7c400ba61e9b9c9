"""A restart's resume passes run after kopf's handler returned, write status themselves, are superseded by a change
pass of the same object, and are retried on retryable errors."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import kopf
import pytest

from ecr_operator.runtime import resume
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

        resumes = DeferredResumes(run, concurrency=2)
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

        resumes = DeferredResumes(run, concurrency=1)
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

        resumes = DeferredResumes(run, concurrency=1)
        resumes.defer(_kwargs("a"))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if len(attempts) == 3:
                break
        await _settle(resumes)

        async def failing(**kwargs: Any) -> None:
            attempts.append(kwargs["retry"])
            raise kopf.TemporaryError("throttled", delay=0.01)

        stopped = DeferredResumes(failing, concurrency=1)
        stopped.defer(_kwargs("b"))
        await _settle(stopped)
        stopped.supersede("b")
        await asyncio.sleep(0.1)

    asyncio.run(scenario())
    assert attempts == [0, 1, 2, 0], "retried until it passed; the superseded one not again"
    assert [name for name, _ in written] == ["r-a"] * 3, "the failure is reported in status each time"
