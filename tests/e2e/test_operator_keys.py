"""On the real API server: distinct names never share a key, a tenant cannot tie its repository to another
resource's managed key, and deleting a resource never schedules deletion of a key another repository uses."""

from __future__ import annotations

import pytest
from support import Harness, full_spec, harness_fixture, unique

pytestmark = pytest.mark.e2e

REGION = "ap-southeast-2"

harness = harness_fixture(REGION, resync_seconds=30)


def test_dot_and_underscore_names_both_become_ready_with_their_own_keys(harness: Harness) -> None:
    namespace, base = harness.namespace(), unique("team")
    dotted, underscored = f"{base}/app.v1", f"{base}/app_v1"
    harness.create(namespace, "dotted", full_spec(dotted))
    harness.create(namespace, "underscored", full_spec(underscored))
    first = harness.wait_ready(namespace, "dotted")
    second = harness.wait_ready(namespace, "underscored")
    harness.aws.assert_converged(namespace, "dotted", dotted)
    harness.aws.assert_converged(namespace, "underscored", underscored)
    assert first["status"]["kmsKeyArn"] != second["status"]["kmsKeyArn"]


def test_another_resources_managed_key_is_refused_and_nothing_is_created(harness: Harness) -> None:
    owner_ns, tenant_ns = harness.namespace(), harness.namespace()
    owner_repository, tenant_repository = unique("owner"), unique("tenant")
    harness.create(owner_ns, "owner", full_spec(owner_repository))
    key_arn = harness.wait_ready(owner_ns, "owner")["status"]["kmsKeyArn"]

    harness.create(tenant_ns, "tenant", full_spec(tenant_repository, encryption={"type": "KMS", "kmsKeyArn": key_arn}))
    obj = harness.wait_condition(tenant_ns, "tenant", "False", "KmsKeyNotOwned")
    assert f"{owner_ns}/owner" in harness.ready_condition(obj)["message"]
    assert harness.aws.repository(tenant_repository) is None
    harness.wait_event(tenant_ns, "tenant", "KmsKeyNotOwned", "Warning")


def test_a_key_another_repository_uses_is_kept_when_its_resource_goes(harness: Harness) -> None:
    namespace, repository_name = harness.namespace(), unique("shared-key")
    harness.create(namespace, "owner", full_spec(repository_name))
    key_arn = harness.wait_ready(namespace, "owner")["status"]["kmsKeyArn"]
    # Tied to the key outside Kubernetes (or by an operator version that did not refuse it).
    user = unique("user")
    harness.aws.ecr.create_repository(
        repositoryName=user, encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key_arn}
    )

    harness.delete(namespace, "owner")
    harness.wait_gone(namespace, "owner")
    assert harness.aws.repository(repository_name) is None
    assert harness.aws.key(key_arn)["KeyState"] == "Enabled", "the key another repository uses was kept"
    [event] = harness.wait_event(namespace, "owner", "KmsKeyInUse", "Warning")
    assert user in event.message
