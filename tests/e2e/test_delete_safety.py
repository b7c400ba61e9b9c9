"""Nothing is lost on delete: images, retained resources, keys the user brings; the finalizer waits for AWS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from support import FINALIZER, Harness, full_spec, harness_fixture, unique, wait_for

from ecr_operator_dev import Fault

pytestmark = pytest.mark.e2e

REGION = "eu-central-1"


harness = harness_fixture(REGION, resync_seconds=5)


@pytest.fixture(autouse=True)
def clean_proxy(harness: Harness) -> Iterator[None]:
    harness.proxy.clear_faults()
    yield
    harness.proxy.clear_faults()


def ready_resource(harness: Harness, **overrides: Any) -> tuple[str, str, str]:
    namespace, name, repository_name = harness.namespace(), "app", unique("safety")
    harness.create(namespace, name, full_spec(repository_name, **overrides))
    harness.wait_ready(namespace, name)
    return namespace, name, repository_name


def assert_blocked(harness: Harness, namespace: str, name: str) -> dict[str, Any]:
    obj = harness.must_get(namespace, name)
    assert obj["metadata"].get("deletionTimestamp"), "the resource is not being deleted"
    assert FINALIZER in obj["metadata"].get("finalizers", []), "the finalizer was removed too early"
    return obj


def test_non_empty_repository_is_kept_without_force_delete(harness: Harness) -> None:
    namespace, name, repository_name = ready_resource(harness)
    digest = harness.aws.put_image(repository_name, "v1")
    [key] = harness.aws.live_keys(namespace, name)

    harness.delete(namespace, name)
    obj = harness.wait_condition(namespace, name, "False", "RepositoryNotEmpty")
    assert_blocked(harness, namespace, name)
    assert "forceDelete" in harness.ready_condition(obj)["message"]
    assert [i["imageDigest"] for i in harness.aws.images(repository_name)] == [digest]
    assert harness.aws.key(key["KeyId"])["KeyState"] == "Enabled", "the key went before the repository"
    assert harness.aws.alias_target(repository_name) == key["KeyId"]

    # The user decides: forceDelete on the object being deleted lets the finalizer finish.
    harness.patch_spec(namespace, name, {"forceDelete": True})
    harness.wait_gone(namespace, name)
    harness.aws.assert_deleted(namespace, name, repository_name)


def test_retain_leaves_repository_key_and_alias(harness: Harness) -> None:
    namespace, name, repository_name = ready_resource(harness, deletionPolicy="Retain")
    digest = harness.aws.put_image(repository_name, "v1")
    [key] = harness.aws.live_keys(namespace, name)

    harness.delete(namespace, name)
    harness.wait_gone(namespace, name)
    repository = harness.aws.repository(repository_name)
    assert repository is not None, "Retain deleted the repository"
    assert repository["encryptionConfiguration"]["kmsKey"] == key["Arn"]
    assert [i["imageDigest"] for i in harness.aws.images(repository_name)] == [digest]
    assert harness.aws.key(key["KeyId"])["KeyState"] == "Enabled"
    assert harness.aws.alias_target(repository_name) == key["KeyId"]
    assert harness.aws.ecr.get_lifecycle_policy(repositoryName=repository_name)["lifecyclePolicyText"]


def test_user_supplied_key_is_never_deleted_nor_tagged(harness: Harness) -> None:
    since = time.monotonic()
    user_key = harness.aws.kms.create_key(Description="brought by the user")["KeyMetadata"]
    encryption = {"type": "KMS", "kmsKeyArn": user_key["Arn"]}
    namespace, name, repository_name = ready_resource(harness, encryption=encryption)
    repository = harness.aws.repository(repository_name)
    assert repository is not None
    assert repository["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": user_key["Arn"]}
    assert harness.aws.owned_keys(namespace, name) == [], "the operator made or tagged a key of its own"

    harness.delete(namespace, name)
    harness.wait_gone(namespace, name)
    assert harness.aws.repository(repository_name) is None
    after = harness.aws.key(user_key["KeyId"])
    assert after["KeyState"] == "Enabled", after
    assert harness.aws.key_tags(user_key["KeyId"]) == {}
    assert not harness.aws.kms.get_key_rotation_status(KeyId=user_key["KeyId"])["KeyRotationEnabled"]
    kms_writes = [c.operation for c in harness.proxy.calls(since) if c.service == "kms" and not c.read]
    assert kms_writes == [], f"the operator wrote to KMS: {kms_writes}"


def test_key_already_pending_deletion_does_not_block_the_finalizer(harness: Harness) -> None:
    namespace, name, repository_name = ready_resource(harness)
    [key] = harness.aws.live_keys(namespace, name)
    harness.aws.kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    since = time.monotonic()

    harness.delete(namespace, name)
    harness.wait_gone(namespace, name)
    assert harness.aws.repository(repository_name) is None
    assert harness.aws.alias_target(repository_name) is None
    assert harness.aws.key(key["KeyId"])["KeyState"] == "PendingDeletion"
    operations = [c.operation for c in harness.proxy.calls(since)]
    if "CancelKeyDeletion" not in operations:  # unless a resync came first and (rightly) revived the key
        assert "ScheduleKeyDeletion" not in operations, operations


@pytest.mark.parametrize("kind", ["http503", "access_denied"])
def test_finalizer_stays_while_aws_fails(harness: Harness, kind: str) -> None:
    namespace, name, repository_name = ready_resource(harness)
    [key] = harness.aws.live_keys(namespace, name)
    fault = harness.proxy.add_fault(Fault(kind, "DeleteRepository", times=None))

    harness.delete(namespace, name)
    # Several failed attempts (botocore's retries and at least two passes of the delete handler for AccessDenied).
    wait_for(lambda: fault.injected >= 3, f"3 failed DeleteRepository ({kind})", context=harness.context)
    obj = assert_blocked(harness, namespace, name)
    reason = harness.ready_condition(obj).get("reason")
    assert reason in (None, "Synced", "AwsUnavailable", "AccessDenied"), reason
    assert harness.aws.repository(repository_name) is not None
    assert harness.aws.key(key["KeyId"])["KeyState"] == "Enabled", "the key went before the repository"
    if kind == "access_denied":
        harness.wait_condition(namespace, name, "False", "AccessDenied")
        assert_blocked(harness, namespace, name)

    harness.proxy.clear_faults()
    harness.wait_gone(namespace, name, timeout=180)
    harness.aws.assert_deleted(namespace, name, repository_name)
