"""The kopf settings and patches behind throughput and memory (issue 13), and moto's cheap symmetric keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kopf._cogs.clients import watching

from ecr_operator.runtime.handlers import WORKER_IDLE_SECONDS, build_settings
from ecr_operator.runtime.kube import drop_managed_fields_from_watches
from ecr_operator_dev._motomain import _LazyPrivateKey


def test_workers_are_bounded_and_give_their_slot_back_at_once() -> None:
    settings = build_settings(None, concurrency=16)
    assert settings.queueing.worker_limit == 16  # bounds the API connections, so the memory
    assert settings.queueing.idle_timeout == WORKER_IDLE_SECONDS
    assert WORKER_IDLE_SECONDS <= 0.1  # kopf's 5 s default capped throughput at worker_limit / 5 s


def test_watches_drop_managed_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[Any] = [
        {"type": "ADDED", "object": {"metadata": {"name": "a", "managedFields": [{"manager": "kopf"}]}, "spec": {}}},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}},
        "a kopf bookmark marker",
    ]

    async def fake_watch(**_: Any) -> AsyncIterator[Any]:
        for event in events:
            yield event

    monkeypatch.setattr(watching, "infinite_watch", fake_watch)
    drop_managed_fields_from_watches()
    drop_managed_fields_from_watches()  # idempotent: wrapped once

    async def collect() -> list[Any]:
        return [event async for event in watching.infinite_watch()]

    seen = asyncio.run(collect())
    assert seen[0] == {"type": "ADDED", "object": {"metadata": {"name": "a"}, "spec": {}}}
    assert seen[1:] == events[1:]


def test_lazy_private_key_is_made_only_when_used() -> None:
    made: list[str] = []

    class Real:
        def public_key(self) -> bytes:
            return b"public"

        key_size = 2048

    def make(spec: str) -> Real:
        made.append(spec)
        return Real()

    key = _LazyPrivateKey(make, "SYMMETRIC_DEFAULT")
    assert made == []
    assert key.public_key() == b"public"
    assert key.key_size == 2048
    assert made == ["SYMMETRIC_DEFAULT"]  # once
    with pytest.raises(AttributeError):
        key.__deepcopy__  # noqa: B018 (dunder lookups never build the key)


def test_no_registries_is_a_run_flag_with_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from ecr_operator.cli.main import build_parser

    monkeypatch.delenv("ECR_OPERATOR_NO_REGISTRIES", raising=False)
    assert build_parser().parse_args(["run"]).no_registries is False
    assert build_parser().parse_args(["run", "--no-registries"]).no_registries is True
    monkeypatch.setenv("ECR_OPERATOR_NO_REGISTRIES", "true")
    assert build_parser().parse_args(["run"]).no_registries is True
