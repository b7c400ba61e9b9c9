"""Spec changes converge in AWS: settings, lifecycle, cross-account pull on and off, tags."""

from __future__ import annotations

from typing import Any

import pytest
from operator_env import (
    CLUSTER_ID,
    PULL_ACTIONS,
    Namespace,
    seed_spec,
)
from support import unique

pytestmark = pytest.mark.e2e


def _update(ns: Namespace, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    patched = ns.patch_spec(name, spec)
    generation = patched["metadata"]["generation"]
    obj = ns.wait_condition(name, "True", "Synced", generation=generation)
    assert obj["metadata"]["generation"] == generation
    return obj


def test_updates_converge(ns: Namespace) -> None:
    name, repository = "app", unique("update")
    ns.create(name, seed_spec(repository))
    first = ns.wait_ready(name)
    aws = ns.env.aws
    key_arn = first["status"]["kmsKeyArn"]

    # Settings and lifecycle in one change.
    obj = _update(
        ns, name, {"imageTagMutability": "IMMUTABLE", "scanOnPush": False, "lifecycle": {"maxImageCount": 10}}
    )
    assert obj["metadata"]["generation"] == 2
    details = aws.repository(repository)
    assert details is not None
    assert details["imageTagMutability"] == "IMMUTABLE"
    assert details["imageScanningConfiguration"] == {"scanOnPush": False}
    lifecycle = aws.lifecycle(repository)
    assert lifecycle is not None
    [rule] = lifecycle["rules"]
    assert rule["selection"]["countNumber"] == 10
    ns.wait_event(name, "Updated", "Normal")

    # Cross-account pull on: one statement, the three pull actions, root principals of the listed accounts.
    _update(ns, name, {"crossAccountPull": {"enabled": True, "allowedAccountIds": ["222222222222", "111111111111"]}})
    policy = aws.policy(repository)
    assert policy is not None, "the cross-account pull policy was not set"
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    actions = statement["Action"]
    assert set([actions] if isinstance(actions, str) else actions) == PULL_ACTIONS
    principals = statement["Principal"]["AWS"]
    principals = [principals] if isinstance(principals, str) else principals
    assert sorted(principals) == ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root"]

    # ... and off again: the policy is removed.
    _update(ns, name, {"crossAccountPull": {"enabled": False}})
    assert aws.policy(repository) is None

    # Tags: add one, change one, remove one; the ownership tags stay; the key's tags follow the repository's.
    obj = _update(ns, name, {"tags": {"team": "payments", "owner": "payments-team", "environment": None}})
    expected = {
        **obj["spec"]["tags"],
        "ecr.platform.dev/cluster": CLUSTER_ID,
        "ecr.platform.dev/namespace": ns.name,
        "ecr.platform.dev/name": name,
    }
    assert "environment" not in expected
    assert expected["team"] == "payments" and expected["owner"] == "payments-team"
    assert aws.repository_tags(repository) == expected
    key_id = aws.alias_target(repository)
    assert key_id is not None
    assert aws.key(key_id)["Arn"] == key_arn
    assert aws.key_tags(key_id) == expected

    # Through all of it: the same key and repository, never a second key.
    assert [k["Arn"] for k in aws.owned_keys(ns.name, name)] == [key_arn]
    assert obj["status"]["kmsKeyArn"] == key_arn
    assert obj["status"]["repositoryArn"] == first["status"]["repositoryArn"]
    assert ns.events(name, type_="Warning") == []
