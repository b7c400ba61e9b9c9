"""Observe-only (annotation ecr.platform.dev/observe-only): the plan shows in status, AWS is never written."""

from __future__ import annotations

import pytest
from operator_env import (
    Namespace,
    seed_spec,
)
from support import unique

pytestmark = pytest.mark.e2e

OBSERVE_ONLY = {"ecr.platform.dev/observe-only": "true"}


def test_observe_only_plans_without_writing_and_deletes_nothing(ns: Namespace) -> None:
    aws = ns.env.aws
    name, repository = "watched", unique("observe")
    ns.create(name, seed_spec(repository), annotations=OBSERVE_ONLY)
    obj = ns.wait_condition(name, "False", "OutOfSync")
    planned = obj["status"]["plannedChanges"]
    assert planned[0].startswith("create KMS key") and f"create repository {repository}" in planned
    assert aws.repository(repository) is None and aws.alias_target(repository) is None

    # Lifting the annotation applies the plan; a drift made while observing is only reported, not corrected.
    ns.patch(name, {"metadata": {"annotations": {"ecr.platform.dev/observe-only": None}}})
    ns.wait_condition(name, "True", "Synced")
    assert aws.repository(repository) is not None
    assert ns.must_get(name)["status"]["plannedChanges"] == []

    ns.patch(name, {"metadata": {"annotations": OBSERVE_ONLY}})
    aws.ecr.put_image_tag_mutability(repositoryName=repository, imageTagMutability="IMMUTABLE")
    obj = ns.wait_condition(name, "False", "OutOfSync")
    assert obj["status"]["plannedChanges"] == ["set tag mutability to MUTABLE"]
    details = aws.repository(repository)
    assert details is not None and details["imageTagMutability"] == "IMMUTABLE"

    # Deleting an observe-only resource leaves AWS as it is, key included.
    key_id = aws.alias_target(repository)
    ns.delete(name)
    ns.wait_gone(name)
    assert aws.repository(repository) is not None
    assert key_id is not None and aws.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
