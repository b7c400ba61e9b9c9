"""Deleting an EcrRepository: Delete, Retain, and a repository that still holds images."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from operator_env import (
    Namespace,
    seed_spec,
)
from support import unique

from ecr_operator.runtime.handlers import FINALIZER

pytestmark = pytest.mark.e2e


def test_delete_policy_delete_removes_everything(ns: Namespace) -> None:
    name, repository = "doomed", unique("delete")
    spec = seed_spec(repository)
    spec["encryption"]["deletionWindowInDays"] = 7
    ns.create(name, spec)
    obj = ns.wait_ready(name)
    assert FINALIZER in obj["metadata"]["finalizers"]
    aws = ns.env.aws
    key_id = aws.alias_target(repository)
    assert key_id is not None

    ns.delete(name)
    ns.wait_gone(name)

    assert aws.repository(repository) is None
    assert aws.alias_target(repository) is None
    key = aws.key(key_id)
    assert key["KeyState"] == "PendingDeletion"
    # The window from the spec, not the default 30 days.
    expected = datetime.now(UTC) + timedelta(days=7)
    assert abs(key["DeletionDate"] - expected) < timedelta(hours=1), key["DeletionDate"]
    assert ns.events(name, type_="Warning") == []


def test_delete_policy_retain_keeps_everything(ns: Namespace) -> None:
    name, repository = "kept", unique("retain")
    spec = {**seed_spec(repository), "deletionPolicy": "Retain"}
    ns.create(name, spec)
    ns.wait_ready(name)
    aws = ns.env.aws
    before_repository = aws.repository(repository)
    before_tags = aws.repository_tags(repository)
    before_lifecycle = aws.lifecycle(repository)
    key_id = aws.alias_target(repository)
    assert key_id is not None and before_repository is not None

    ns.delete(name)
    ns.wait_gone(name)

    assert aws.repository(repository) == before_repository
    assert aws.repository_tags(repository) == before_tags
    assert aws.lifecycle(repository) == before_lifecycle
    assert aws.alias_target(repository) == key_id
    assert aws.key(key_id)["KeyState"] == "Enabled"
    assert aws.rotation(key_id)


def test_non_empty_repository_blocks_delete_until_force(ns: Namespace) -> None:
    name, repository = "busy", unique("busy")
    ns.create(name, seed_spec(repository))
    ns.wait_ready(name)
    aws = ns.env.aws
    digest = aws.put_image(repository)
    key_id = aws.alias_target(repository)
    assert key_id is not None

    ns.delete(name)
    obj = ns.wait_condition(name, "False", "RepositoryNotEmpty")
    assert obj["metadata"].get("deletionTimestamp")
    assert FINALIZER in obj["metadata"]["finalizers"]
    assert "forceDelete" in ns.ready_condition(obj)["message"]
    [warning, *_] = ns.wait_event(name, "RepositoryNotEmpty", "Warning")
    assert repository in warning.message
    # Nothing was deleted: the repository, its image and the key are intact.
    assert [i["imageDigest"] for i in aws.images(repository)] == [digest]
    assert aws.alias_target(repository) == key_id
    assert aws.key(key_id)["KeyState"] == "Enabled"

    # The user decides the images may go: a spec change while deleting retries the delete.
    ns.patch_spec(name, {"forceDelete": True})
    ns.wait_gone(name, timeout=10)
    assert aws.repository(repository) is None
    assert aws.alias_target(repository) is None
    assert aws.key(key_id)["KeyState"] == "PendingDeletion"
