"""The operator can die between any two AWS calls; the next pass finds what it made and never makes a second key."""

from __future__ import annotations

from typing import Any

import pytest
from aws_harness import ALIAS, NAME, Crash, PartsHarness

from ecr_operator.core.errors import OperatorError
from ecr_operator.repository.parts.key import KeyCreation, creation_description
from ecr_operator.repository.render import Desired, key_alias_for

CROSS_ON = {"crossAccountPull": {"enabled": True, "allowedAccountIds": ["111122223333"]}}
CREATE = [
    "kms:CreateKey",
    "kms:CreateAlias",
    "kms:EnableKeyRotation",
    "ecr:CreateRepository",
    "ecr:PutLifecyclePolicy",
    "ecr:SetRepositoryPolicy",
]
DELETE = ["ecr:DeleteRepository", "kms:ScheduleKeyDeletion", "kms:DeleteAlias"]


def _assert_converged(aws: PartsHarness, desired: Desired) -> str:
    """Exactly one live key of ours, aliased, used by exactly one repository; a further pass writes nothing."""
    keys = aws.owned_keys(desired.owner)
    assert len(keys) == 1, keys
    assert aws.owned_keys(desired.owner, live_only=False) == keys, "no abandoned key either"
    assert aws.alias_target(ALIAS) == keys[0]
    assert aws.repository_names() == [NAME]
    arn = aws.key(keys[0])["Arn"]
    assert aws.existing_repository()["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": arn}
    assert aws.rotation(keys[0]) is True
    aws.assert_in_sync(desired)
    return keys[0]


def _key_by_hand(aws: PartsHarness, tags: dict[str, str], description: str = "") -> str:
    """What CreateKey leaves behind when the operator dies right after it."""
    response = aws.kms.create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()], Description=description)
    return str(response["KeyMetadata"]["KeyId"])


def _index_lags(parsed: dict[str, Any], **_: Any) -> None:
    """The Resource Groups Tagging API has not indexed the new key yet."""
    parsed["ResourceTagMappingList"] = []


@pytest.mark.parametrize(
    ("recorded", "tags"),
    [("key-id", "all"), ("token", "all"), ("token", "ownership"), ("token", "not-indexed")],
    ids=["key-id-recorded", "token-found-by-tags", "token-ownership-tags-only", "token-not-in-tag-index"],
)
def test_crash_between_create_key_and_create_alias(aws: PartsHarness, recorded: str, tags: str) -> None:
    """The status recorded the creation (its token, and the key id if CreateKey answered): the key is found.

    "not-indexed": the tagging index does not show the key yet (eventually consistent on AWS), so the key is
    found by its token with ListKeys + DescribeKey.
    """
    desired = aws.desired()
    # Someone else's unaliased key, to show the search matches the owner, not just "a key without alias".
    other = _key_by_hand(aws, aws.desired(namespace="other").tags)
    key_id = _key_by_hand(
        aws, desired.owner.tags() if tags == "ownership" else desired.tags, creation_description(desired, "tok-1")
    )
    aws.record(KeyCreation("tok-1", key_id if recorded == "key-id" else None))

    if tags == "not-indexed":
        aws.clients.tagging.meta.events.register("after-call.*.GetResources", _index_lags)
    try:
        aws.reconcile(desired)
    finally:
        aws.clients.tagging.meta.events.unregister("after-call.*.GetResources", _index_lags)
    expected = ["kms:CreateAlias", "kms:EnableKeyRotation"]
    if tags == "ownership":
        expected.append("kms:TagResource")
    assert aws.calls.writes == [*expected, "ecr:CreateRepository", "ecr:PutLifecyclePolicy"]
    assert ("kms:ListKeys" in aws.calls.reads) == (tags == "not-indexed")
    assert _assert_converged(aws, desired) == key_id
    assert aws.key_tags(key_id) == desired.tags
    assert aws.alias_target(ALIAS) == key_id
    assert aws.key_tags(other)["ecr.platform.dev/namespace"] == "other"


def test_a_first_create_searches_for_no_key(aws: PartsHarness) -> None:
    """Nothing recorded: no CreateKey was ever sent for this resource, so no search (and no second key later)."""
    desired = aws.desired()
    aws.reconcile(desired)
    assert not [op for op in aws.calls.reads if op in ("tagging:GetResources", "kms:ListKeys")]
    _assert_converged(aws, desired)


def test_a_recorded_creation_that_never_reached_kms_creates_the_key(aws: PartsHarness) -> None:
    desired = aws.desired()
    aws.record(KeyCreation("tok-never-sent"))
    aws.reconcile(desired)
    assert aws.calls.writes[0] == "kms:CreateKey"
    _assert_converged(aws, desired)
    assert "tok-never-sent" in aws.key(aws.owned_keys(desired.owner)[0])["Description"], "the token is reused"


def test_crash_between_create_alias_and_create_repository(aws: PartsHarness) -> None:
    desired = aws.desired()
    key_id = _key_by_hand(aws, desired.tags)
    aws.kms.create_alias(AliasName=ALIAS, TargetKeyId=key_id)
    aws.kms.enable_key_rotation(KeyId=key_id)

    aws.reconcile(desired)
    assert aws.calls.writes == ["ecr:CreateRepository", "ecr:PutLifecyclePolicy"]
    assert _assert_converged(aws, desired) == key_id


@pytest.mark.parametrize("survived", range(len(CREATE)))
def test_interrupted_create_converges(aws: PartsHarness, survived: int) -> None:
    desired = aws.desired(CROSS_ON)
    undo = aws.crash_after(survived)
    with pytest.raises(OperatorError) as raised:
        aws.reconcile(desired)
    assert isinstance(raised.value.__cause__, Crash)
    undo()
    assert aws.calls.writes == CREATE[: survived + 1], "the writes that ran, then the one that 'crashed'"

    aws.reconcile(desired)
    assert aws.calls.writes == CREATE[survived:], "picks up exactly where it died: nothing twice"
    _assert_converged(aws, desired)


def test_crash_twice_in_a_row_still_converges(aws: PartsHarness) -> None:
    desired = aws.desired(CROSS_ON)
    for survived in (1, 2):
        undo = aws.crash_after(survived)
        with pytest.raises(OperatorError):
            aws.reconcile(desired)
        undo()
    aws.reconcile(desired)
    assert aws.calls.writes == CREATE[3:]
    _assert_converged(aws, desired)


UPDATE = [
    "kms:DisableKeyRotation",
    "kms:TagResource",
    "ecr:TagResource",
    "ecr:PutImageTagMutability",
    "ecr:PutLifecyclePolicy",
    "ecr:SetRepositoryPolicy",
]


@pytest.mark.parametrize("survived", [0, 2, 4])
def test_interrupted_update_converges(aws: PartsHarness, survived: int) -> None:
    aws.reconcile(aws.desired())
    changed = aws.desired(
        CROSS_ON,
        {
            "imageTagMutability": "IMMUTABLE",
            "lifecycle": {"maxImageCount": 3},
            "tags": {"team": "payments"},
            "encryption": {"enableKeyRotation": False},
        },
    )
    undo = aws.crash_after(survived)
    with pytest.raises(OperatorError):
        aws.reconcile(changed)
    undo()
    aws.reconcile(changed)
    assert aws.calls.writes == UPDATE[survived:]
    aws.assert_in_sync(changed)


@pytest.mark.parametrize("survived", range(len(DELETE)))
def test_interrupted_delete_converges(aws: PartsHarness, survived: int) -> None:
    desired = aws.desired({"encryption": {"deletionWindowInDays": 7}})
    aws.reconcile(desired)
    key_id = aws.alias_target()
    assert key_id is not None

    undo = aws.crash_after(survived)
    with pytest.raises(OperatorError):
        aws.delete(desired)
    undo()
    aws.delete(desired)
    assert aws.calls.writes == DELETE[survived:]
    assert aws.repository() is None
    assert aws.key(key_id)["KeyState"] == "PendingDeletion"
    assert aws.alias_target() is None
    assert aws.owned_keys(desired.owner) == []


def test_delete_after_a_crash_that_left_only_a_key(aws: PartsHarness) -> None:
    """CreateKey ran, then the resource was deleted: the unaliased key is found by its recorded id and scheduled."""
    desired = aws.desired({"encryption": {"deletionWindowInDays": 7}})
    key_id = _key_by_hand(aws, desired.tags, creation_description(desired, "tok-1"))
    aws.record(KeyCreation("tok-1", key_id))
    aws.delete(desired)
    assert aws.calls.writes == ["kms:ScheduleKeyDeletion"]
    assert aws.key(key_id)["KeyState"] == "PendingDeletion"


def test_a_replica_that_loses_the_alias_race_discards_its_new_key(aws: PartsHarness) -> None:
    """Two replicas during a failover: the other one's key gets the alias between our CreateKey and CreateAlias."""
    desired = aws.desired()
    rival: dict[str, str] = {}

    def rival_takes_the_alias(**_: Any) -> None:
        if rival:
            return
        tags = [{"TagKey": k, "TagValue": v} for k, v in desired.tags.items()]
        rival["key"] = aws.kms.create_key(Tags=tags)["KeyMetadata"]["KeyId"]
        aws.kms.create_alias(AliasName=ALIAS, TargetKeyId=rival["key"])

    aws.clients.kms.meta.events.register("before-call.kms.CreateAlias", rival_takes_the_alias)
    try:
        with pytest.raises(OperatorError) as raised:
            aws.reconcile(desired)
    finally:
        aws.clients.kms.meta.events.unregister("before-call.kms.CreateAlias", rival_takes_the_alias)
    assert raised.value.reason == "AlreadyExists" and raised.value.retryable
    assert aws.owned_keys(desired.owner) == [rival["key"]], "our unused key is scheduled for deletion"
    assert len(aws.owned_keys(desired.owner, live_only=False)) == 2

    outcome = aws.reconcile(desired)
    assert outcome.problems == []
    assert aws.existing_repository()["encryptionConfiguration"]["kmsKey"].endswith(rival["key"])
    aws.assert_in_sync(desired)


RENAMED = {"repositoryName": "renamed/app"}


def _crash_before_the_key_id_is_recorded(aws: PartsHarness, desired: Desired) -> None:
    """A checkpoint that records the creation's token, then 'dies' before the key id CreateKey answered is stored."""

    def record(creation: KeyCreation | None) -> None:
        if creation is not None and creation.key_id is not None:
            raise Crash("crash after CreateKey, before its key id is recorded")
        aws.record(creation)

    with pytest.raises(Crash):
        aws.reconcile(desired, checkpoint=record)


@pytest.mark.parametrize("index", ["shows-the-new-key", "lags"])
def test_recovery_after_a_retain_delete_and_a_new_name_takes_the_key_of_the_token(
    aws: PartsHarness, index: str
) -> None:
    """Retain-delete, then the same resource (same owner tags) made again under another repositoryName, and a crash
    right after CreateKey: the owner's tags fit the retained key too; only the creation token tells them apart.

    "lags": the tagging index shows only the old key (eventually consistent on AWS), so the new one is found by
    ListKeys + DescribeKey on the token.
    """
    first = aws.desired()
    aws.reconcile(first)
    old_key = aws.alias_target(ALIAS)
    assert old_key is not None
    assert aws.delete(aws.desired({"deletionPolicy": "Retain"})).skipped == "deletionPolicy is Retain"

    renamed = aws.desired(RENAMED)
    _crash_before_the_key_id_is_recorded(aws, renamed)
    assert aws.recorded is not None and aws.recorded.key_id is None
    [new_key] = [k for k in aws.owned_keys(first.owner) if k != old_key]
    assert aws.recorded.token in aws.key(new_key)["Description"]

    if index == "lags":
        old_arn = aws.key(old_key)["Arn"]

        def only_the_old_key(parsed: dict[str, Any], **_: Any) -> None:
            parsed["ResourceTagMappingList"] = [
                m for m in parsed.get("ResourceTagMappingList", []) if m["ResourceARN"] == old_arn
            ]

        aws.clients.tagging.meta.events.register("after-call.*.GetResources", only_the_old_key)
    try:
        outcome = aws.reconcile(renamed)
    finally:
        if index == "lags":
            aws.clients.tagging.meta.events.unregister("after-call.*.GetResources", only_the_old_key)
    assert outcome.problems == []
    assert "kms:CreateKey" not in aws.calls.writes, "the key of the crashed pass is used, no third one"
    assert aws.alias_target(key_alias_for("renamed/app")) == new_key, "the new name's alias is on the new key"
    new_arn = aws.key(new_key)["Arn"]
    assert aws.existing_repository("renamed/app")["encryptionConfiguration"]["kmsKey"] == new_arn
    assert outcome.kms_key_arn == new_arn
    # The retained repository keeps its key and alias, untouched.
    assert aws.alias_target(ALIAS) == old_key
    assert aws.existing_repository(NAME)["encryptionConfiguration"]["kmsKey"] == aws.key(old_key)["Arn"]
    assert sorted(aws.owned_keys(first.owner)) == sorted([old_key, new_key]), "no orphan, nothing discarded"
    aws.assert_in_sync(renamed)


def test_a_recorded_key_id_counts_only_with_the_token(aws: PartsHarness) -> None:
    """A key id in the record whose key does not carry the creation's token (a status edited by hand, say) is not
    taken for the creation's key: neither aliased nor deleted."""
    desired = aws.desired()
    stranger = _key_by_hand(aws, desired.tags, "some key of the same owner tags")
    aws.record(KeyCreation("tok-1", stranger))
    aws.reconcile(desired)
    assert aws.calls.writes[0] == "kms:CreateKey"
    [created] = [k for k in aws.owned_keys(desired.owner) if k != stranger]
    assert aws.alias_target(ALIAS) == created and "tok-1" in aws.key(created)["Description"]
    assert aws.key(stranger)["KeyState"] == "Enabled"
