"""SIGKILL the operator at awkward moments: after a restart there is exactly one key and one repository."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from operator_env import (
    CLUSTER_ID,
    Namespace,
    seed_spec,
)
from support import OWNER_TAGS, Aws, unique, wait_for

from ecr_operator.repository.render import key_alias_for

pytestmark = pytest.mark.e2e


def _assert_converged_once(ns: Namespace, name: str, repository: str) -> None:
    obj = ns.wait_ready(name, timeout=60)
    aws = ns.env.aws
    keys = aws.owned_keys(ns.name, name)
    assert [k["KeyState"] for k in keys] == ["Enabled"], f"expected exactly one key, found {keys}"
    [key] = keys
    assert obj["status"]["kmsKeyArn"] == key["Arn"]
    assert aws.alias_target(repository) == key["KeyId"]
    assert aws.rotation(key["KeyId"])
    details = aws.repository(repository)
    assert details is not None
    assert details["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key["Arn"]}
    names = [r["repositoryName"] for r in aws.ecr.describe_repositories()["repositories"]]
    assert names.count(repository) == 1
    assert aws.lifecycle(repository) is not None


def _new_key(aws: Aws, before: set[str]) -> Callable[[], set[str]]:
    return lambda: aws.key_ids() - before


@pytest.mark.parametrize("moment", ["right-after-create", "key-exists", "repository-exists"])
def test_sigkill_then_restart_converges_without_duplicates(ns: Namespace, moment: str) -> None:
    name, repository = "crashy", unique("crash")
    operator, aws = ns.env.operator, ns.env.aws
    keys_before = aws.key_ids()

    ns.create(name, seed_spec(repository))
    if moment == "key-exists":
        wait_for(_new_key(aws, keys_before), "the operator to create a KMS key", interval=0.01, timeout=20)
    elif moment == "repository-exists":
        wait_for(lambda: aws.repository(repository), "the repository", interval=0.01, timeout=20)
    operator.kill()
    state = {
        "keys": len(aws.key_ids() - keys_before),
        "alias": aws.alias_target(repository) is not None,
        "repository": aws.repository(repository) is not None,
    }
    print(f"killed the operator at {moment}: AWS then held {state}")

    operator.start()
    _assert_converged_once(ns, name, repository)


@pytest.mark.parametrize(
    "leftover", ["key-without-alias", "key-id-recorded-without-alias", "key-and-alias-without-repository"]
)
def test_restart_finds_the_key_of_a_crashed_run(ns: Namespace, leftover: str) -> None:
    """The exact states a crash between two AWS calls leaves behind, made with boto3 while the operator is down:
    the key creation the crashed operator recorded in status (its token; the key id if CreateKey answered)."""
    name, repository = "resumed", unique("resume")
    operator, aws = ns.env.operator, ns.env.aws
    operator.kill()
    spec = seed_spec(repository)
    owner = {OWNER_TAGS[0]: CLUSTER_ID, OWNER_TAGS[1]: ns.name, OWNER_TAGS[2]: name}
    tags = {**spec["tags"], **owner}
    key = aws.kms.create_key(
        Description="left behind by a crashed ecr-operator; ecr-operator creation tok-crashed",
        Tags=[{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())],
    )["KeyMetadata"]
    if leftover == "key-and-alias-without-repository":
        aws.kms.create_alias(AliasName=key_alias_for(repository), TargetKeyId=key["KeyId"])
    ns.create(name, spec)
    recorded_id = key["KeyId"] if leftover == "key-id-recorded-without-alias" else None
    ns.patch_status(name, {"keyCreation": {"token": "tok-crashed", "keyId": recorded_id}})

    operator.start()
    _assert_converged_once(ns, name, repository)
    status = ns.must_get(name)["status"]
    assert status["kmsKeyArn"] == key["Arn"], "the leftover key was not reused"
    assert status.get("keyCreation") is None, "the record is cleared once the key is aliased"


def test_restart_finishes_a_delete_interrupted_after_the_repository_went(ns: Namespace) -> None:
    name, repository = "halfgone", unique("halfgone")
    operator, aws = ns.env.operator, ns.env.aws
    ns.create(name, seed_spec(repository))
    ns.wait_ready(name)
    key_id = aws.alias_target(repository)
    assert key_id is not None

    # Crashed right after DeleteRepository: the CR is still there (finalizer), the key and alias too.
    operator.kill()
    ns.delete(name)
    aws.ecr.delete_repository(repositoryName=repository)
    operator.start()

    ns.wait_gone(name)
    assert aws.alias_target(repository) is None
    assert aws.key(key_id)["KeyState"] == "PendingDeletion"
    assert [k["KeyId"] for k in aws.owned_keys(ns.name, name)] == [key_id]
