"""kopf keeps each object's progress and the spec it last handled in annotations (ecr.platform.dev/reconcile,
ecr.platform.dev/last-handled-configuration, ...), which a tenant with edit rights on its EcrRepository can write.

kopf reads them with json.loads and trusts their shape; a value it cannot use raised before any handler ran, at every
event of the object: kopf's error throttling kept the other objects served, but that object was never handled again
(nor deleted: its finalizer stayed) while the value was there. The operator reads a value it cannot use as absent
(the object is then handled as new, which a pass makes good, and kopf rewrites the annotation)."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import kopf
import pytest
from kopf._core.actions import progression

from ecr_operator.runtime.handlers import build_settings

SETTINGS = build_settings(None)
PROGRESS = "ecr.platform.dev/reconcile"
DIFFBASE = "ecr.platform.dev/last-handled-configuration"
MALFORMED = [
    "not json",
    "[1, 2]",
    '"a string"',
    "42",
    "null",
    '{"started": "yesterday"}',
    '{"delayed": 7}',
    '{"retries": "many"}',
    '{"success": "yes"}',
    '{"subrefs": "abc"}',
    '{"message": ["x"]}',
    "[" * 200_000 + "]" * 200_000,
]


def _body(annotations: dict[str, str]) -> kopf.Body:
    raw: Any = {"metadata": {"name": "app", "namespace": "team-a", "uid": "u", "annotations": annotations}}
    return kopf.Body(raw)


@pytest.mark.parametrize("value", MALFORMED, ids=lambda v: v[:20])
def test_a_malformed_progress_annotation_reads_as_none(value: str) -> None:
    body = _body({PROGRESS: value})
    assert SETTINGS.persistence.progress_storage.fetch(key=kopf.HandlerId("reconcile"), body=body) is None


@pytest.mark.parametrize("value", [v for v in MALFORMED if not v.startswith("{")] + ['{"spec": 1, "metadata": []}'])
def test_a_malformed_diffbase_annotation_reads_as_none(value: str) -> None:
    assert SETTINGS.persistence.diffbase_storage.fetch(body=_body({DIFFBASE: value})) is None


def test_well_formed_annotations_are_read_as_kopf_writes_them() -> None:
    record = '{"started":"2026-12-03T10:00:00.000000","retries":1,"success":false,"delayed":"2026-12-03T10:01:00"}'
    body = _body({PROGRESS: record, DIFFBASE: '{"spec":{"region":"eu-west-1"},"metadata":{"labels":{"a":"b"}}}'})
    found = SETTINGS.persistence.progress_storage.fetch(key=kopf.HandlerId("reconcile"), body=body)
    assert found is not None and found.get("retries") == 1

    async def state() -> progression.HandlerState:
        return progression.HandlerState.from_storage(found, basetime=datetime.datetime(2026, 1, 1))

    assert asyncio.run(state()).retries == 1
    assert SETTINGS.persistence.diffbase_storage.fetch(body=body) == {
        "spec": {"region": "eu-west-1"},
        "metadata": {"labels": {"a": "b"}},
    }
