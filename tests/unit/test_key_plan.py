"""repository/parts/key.py: the managed KMS key's plan, delete plan and ownership check (pure, no AWS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ecr_operator.core.actions import NEW_KEY_ARN, NEW_KEY_ID, Action
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.repository.parts import key as key_part
from ecr_operator.repository.parts.key import PENDING_DELETION, KeyDeps, ObservedKey, UserKey
from ecr_operator.repository.render import NAME_TAG, Desired, Owner

NO_REPOSITORY = KeyDeps(repository_exists=False, repository_key=None, token="tok")
USER_KEY = "arn:aws:kms:eu-west-1:123456789012:key/user"


def plan(desired: Desired, observed: ObservedKey | None, token: str = "tok") -> list[Action]:
    """The key plan's actions before the repository exists; a refusal raises (as reconcile raises it)."""
    result = key_part.plan(desired, observed, KeyDeps(False, None, token))
    if result.refusal is not None:
        raise result.refusal
    return result.actions


def check_ownership(desired: Desired, observed: ObservedKey) -> None:
    plan(desired, observed)


def plan_delete(desired: Desired, observed: ObservedKey | None) -> list[Action]:
    return key_part.plan_delete(desired, observed).actions


MakeDesired = Callable[..., Desired]
MakeKey = Callable[..., ObservedKey]


def ops(actions: list[Action]) -> list[str]:
    return [a.operation for a in actions]


def test_in_sync_key_plans_nothing(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    assert plan(desired, make_observed_key(desired)) == []


def test_in_sync_key_with_rotation_off_plans_nothing(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired(encryption={"enableKeyRotation": False})
    assert plan(desired, make_observed_key(desired)) == []


def test_absent_key_create_alias_rotation_in_order(make_desired: MakeDesired) -> None:
    desired = make_desired(repositoryName="team/my.app")
    actions = plan(desired, None)
    assert ops(actions) == ["create_key", "create_alias", "enable_key_rotation"]
    create, alias, rotation = actions
    assert create.service == "kms"
    assert create.params["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert create.params["KeySpec"] == "SYMMETRIC_DEFAULT"
    tags = {t["TagKey"]: t["TagValue"] for t in create.params["Tags"]}
    assert tags == desired.tags  # user tags and ownership tags, so a crash before the alias is recoverable
    assert tags[NAME_TAG] == "web"
    assert alias.params == {"AliasName": "alias/ecr/team/my_-app", "TargetKeyId": NEW_KEY_ID}
    assert rotation.params == {"KeyId": NEW_KEY_ID}
    assert create.produces == ((NEW_KEY_ID, ("KeyMetadata", "KeyId")), (NEW_KEY_ARN, ("KeyMetadata", "Arn")))


def test_absent_key_without_rotation(make_desired: MakeDesired) -> None:
    desired = make_desired(encryption={"enableKeyRotation": False})
    assert ops(plan(desired, None)) == ["create_key", "create_alias"]


@pytest.mark.parametrize("encryption", [{"type": "AES256"}, {"kmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/u"}])
def test_unmanaged_key_plans_nothing(
    make_desired: MakeDesired, make_observed_key: MakeKey, encryption: dict[str, Any]
) -> None:
    desired = make_desired(encryption=encryption)
    assert desired.manages_key is False
    assert plan(desired, None) == []
    assert plan(desired, make_observed_key(desired, rotation_enabled=False, tags={})) == []


@pytest.mark.parametrize(
    ("wanted", "observed", "operation"),
    [(True, False, "enable_key_rotation"), (False, True, "disable_key_rotation")],
)
def test_rotation_drift(
    make_desired: MakeDesired, make_observed_key: MakeKey, wanted: bool, observed: bool, operation: str
) -> None:
    desired = make_desired(encryption={"enableKeyRotation": wanted})
    key = make_observed_key(desired, rotation_enabled=observed)
    [action] = plan(desired, key)
    assert action.operation == operation
    assert action.params == {"KeyId": key.key_id}


def test_pending_deletion_key_is_cancelled_then_enabled(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    key = make_observed_key(desired, state=PENDING_DELETION, rotation_enabled=False)
    actions = plan(desired, key)
    assert ops(actions)[:2] == ["cancel_key_deletion", "enable_key"]
    assert ops(actions) == ["cancel_key_deletion", "enable_key", "enable_key_rotation"]
    assert all(a.params["KeyId"] == key.key_id for a in actions)


def test_disabled_key_is_enabled(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    assert ops(plan(desired, make_observed_key(desired, state="Disabled"))) == ["enable_key"]


def test_key_found_by_tags_gets_its_alias(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    key = make_observed_key(desired, has_alias=False)
    [action] = plan(desired, key)
    assert action.operation == "create_alias"
    assert action.params == {"AliasName": desired.key_alias, "TargetKeyId": key.key_id}


def test_tag_drift_sets_and_removes_only_differences(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    tags = dict(desired.tags)
    tags["owner"] = "someone-else"
    del tags["service"]
    tags["stale"] = "x"
    tags["aws:created-by"] = "console"
    key = make_observed_key(desired, tags=tags)
    actions = plan(desired, key)
    # Removals first: a swap never holds more than AWS's 50 tags at once.
    assert ops(actions) == ["untag_resource", "tag_resource"]
    untag, tag = actions
    assert tag.params == {
        "KeyId": key.key_id,
        "Tags": [{"TagKey": "owner", "TagValue": desired.tags["owner"]}, {"TagKey": "service", "TagValue": "web"}],
    }
    assert untag.params == {"KeyId": key.key_id, "TagKeys": ["stale"]}


def test_swapping_30_tags_for_30_others_removes_first(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    kept = {"owner": "team-a", "service": "web"}
    desired = make_desired(tags={**kept, **{f"new{i}": "v" for i in range(30)}})
    key = make_observed_key(desired, tags={**desired.owner.tags(), **kept, **{f"old{i}": "v" for i in range(30)}})
    untag, tag = plan(desired, key)
    # 35 -> 5 -> 35 tags: never above AWS's 50 (adding first would hold 65).
    assert (untag.operation, sorted(untag.params["TagKeys"])) == (
        "untag_resource",
        sorted(f"old{i}" for i in range(30)),
    )
    assert (tag.operation, len(tag.params["Tags"])) == ("tag_resource", 30)


def test_only_extra_tag_plans_only_untag(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    key = make_observed_key(desired, tags={**desired.tags, "stale": "x"})
    assert ops(plan(desired, key)) == ["untag_resource"]


def test_key_owned_by_someone_else_is_alias_taken(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    other = Owner("other-cluster", "team-b", "web")
    key = make_observed_key(desired, tags={**desired.tags, **other.tags()})
    with pytest.raises(OperatorError) as caught:
        plan(desired, key)
    assert caught.value.reason == "KmsAliasTaken"
    assert caught.value.retryable is False
    assert "team-b/web in cluster other-cluster" in caught.value.message
    assert desired.key_alias in caught.value.message


def test_key_without_owner_tags_is_alias_taken(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    key = make_observed_key(desired, tags={"team": "x"})
    with pytest.raises(OperatorError) as caught:
        check_ownership(desired, key)
    assert caught.value.reason == "KmsAliasTaken"
    assert "no ecr-operator owner" in caught.value.message


def test_check_ownership_accepts_own_key(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    check_ownership(desired, make_observed_key(desired))


# --- plan_delete -----------------------------------------------------------------------------------------------


def test_delete_schedules_with_window_then_drops_alias(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired(encryption={"deletionWindowInDays": 7})
    key = make_observed_key(desired)
    actions = plan_delete(desired, key)
    assert ops(actions) == ["schedule_key_deletion", "delete_alias"]
    assert actions[0].params == {"KeyId": key.key_id, "PendingWindowInDays": 7}
    assert actions[1].params == {"AliasName": desired.key_alias}


def test_delete_pending_deletion_key_is_not_rescheduled(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    key = make_observed_key(desired, state=PENDING_DELETION)
    assert ops(plan_delete(desired, key)) == ["delete_alias"]
    assert plan_delete(desired, make_observed_key(desired, state=PENDING_DELETION, has_alias=False)) == []


def test_delete_unaliased_key_only_schedules(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    assert ops(plan_delete(desired, make_observed_key(desired, has_alias=False))) == ["schedule_key_deletion"]


def test_delete_user_supplied_key_does_nothing(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired(encryption={"kmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/user"})
    assert plan_delete(desired, make_observed_key(desired)) == []


def test_delete_foreign_or_absent_key_does_nothing(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    assert plan_delete(desired, None) == []
    foreign = make_observed_key(desired, tags=Owner("c", "ns", "other").tags())
    assert plan_delete(desired, foreign) == []
    untagged = make_observed_key(desired, tags={})
    assert plan_delete(desired, untagged) == []


def test_dot_and_underscore_names_no_longer_share_an_alias(make_desired: MakeDesired) -> None:
    # "my.app" and "my_app" shared alias/ecr/my_app under the first scheme; now each has its own key.
    first = make_desired(owner=Owner("c", "ns", "a"), repositoryName="my.app")
    second = make_desired(owner=Owner("c", "ns", "b"), repositoryName="my_app")
    assert first.key_alias != second.key_alias
    assert first.legacy_key_alias == second.legacy_key_alias == "alias/ecr/my_app"


def test_a_key_aliased_to_another_owner_is_reported(make_desired: MakeDesired) -> None:
    first = make_desired(owner=Owner("c", "ns", "a"), repositoryName="my-app")
    second = make_desired(owner=Owner("c", "ns", "b"), repositoryName="my-app")
    key = ObservedKey("k1", "arn:aws:kms:eu-west-1:123456789012:key/k1", "Enabled", True, dict(first.tags), True)
    assert plan(first, key) == []
    with pytest.raises(OperatorError) as caught:
        plan(second, key)
    assert caught.value.reason == "KmsAliasTaken"
    assert plan_delete(second, key) == []


def test_legacy_alias_is_replaced_then_removed(make_desired: MakeDesired) -> None:
    desired = make_desired(repositoryName="team/my.app")
    key = ObservedKey(
        "k1",
        "arn:aws:kms:eu-west-1:123456789012:key/k1",
        "Enabled",
        True,
        dict(desired.tags),
        False,
        legacy_alias="alias/ecr/team/my_app",
    )
    actions = plan(desired, key)
    assert [(a.operation, a.params.get("AliasName")) for a in actions] == [
        ("create_alias", "alias/ecr/team/my_-app"),
        ("delete_alias", "alias/ecr/team/my_app"),
    ]


def test_new_key_description_carries_the_creation_token(make_desired: MakeDesired) -> None:
    create = plan(make_desired(), None, "tok123")[0]
    assert create.operation == "create_key"
    assert "tok123" in create.params["Description"]


# --- the key decisions: which key the repository uses ----------------------------------------------------------


def test_a_new_key_is_the_repositorys_key_by_placeholder(make_desired: MakeDesired) -> None:
    result = key_part.plan(make_desired(), None, NO_REPOSITORY)
    assert result.key_arn == NEW_KEY_ARN and result.refusal is None and result.problems == []


def test_an_existing_key_is_the_repositorys_key(make_desired: MakeDesired, make_observed_key: MakeKey) -> None:
    desired = make_desired()
    observed = make_observed_key(desired)
    assert key_part.plan(desired, observed, NO_REPOSITORY).key_arn == observed.arn


@pytest.mark.parametrize(
    ("user_key", "reason"),
    [
        (UserKey(USER_KEY, None, {}), Reason.KMS_KEY_NOT_FOUND),
        (UserKey(USER_KEY, "Disabled", {}), Reason.KMS_KEY_UNAVAILABLE),
        (UserKey(USER_KEY, "Enabled", Owner("c", "other-ns", "app").tags()), Reason.KMS_KEY_NOT_OWNED),
    ],
)
def test_a_key_the_user_brings_is_refused_when_unusable_or_someone_elses(
    make_desired: MakeDesired, user_key: UserKey, reason: Reason
) -> None:
    desired = make_desired(encryption={"kmsKeyArn": USER_KEY})
    result = key_part.plan(desired, user_key, NO_REPOSITORY)
    assert result.refusal is not None and result.refusal.reason == reason
    assert result.actions == []


@pytest.mark.parametrize("tags", [{}, {"team": "a"}, "own"])
def test_a_usable_key_the_user_brings_is_used_as_is(make_desired: MakeDesired, tags: Any) -> None:
    desired = make_desired(encryption={"kmsKeyArn": USER_KEY})
    owned = desired.owner.tags() if tags == "own" else tags
    result = key_part.plan(desired, UserKey(USER_KEY, "Enabled", owned), NO_REPOSITORY)
    assert (result.refusal, result.actions, result.key_arn) == (None, [], USER_KEY)


def test_a_repository_on_a_key_we_do_not_own_is_reported_and_the_key_left_alone(
    make_desired: MakeDesired, make_observed_key: MakeKey
) -> None:
    desired = make_desired()
    foreign = make_observed_key(desired, tags=Owner("c", "x", "y").tags(), has_alias=False)
    result = key_part.plan(desired, foreign, KeyDeps(True, foreign.arn, "tok"))
    assert [p.reason for p in result.problems] == [Reason.KMS_KEY_NOT_OWNED]
    assert (result.actions, result.key_arn, result.refusal) == ([], foreign.arn, None)


def test_a_repository_whose_key_is_gone_gets_no_new_key(make_desired: MakeDesired) -> None:
    desired = make_desired()
    gone = "arn:aws:kms:eu-west-1:123456789012:key/gone"
    result = key_part.plan(desired, None, KeyDeps(True, gone, "tok"))
    assert [p.reason for p in result.problems] == [Reason.KMS_KEY_NOT_FOUND]
    assert (result.actions, result.key_arn) == ([], gone)
    aes = key_part.plan(desired, None, KeyDeps(True, None, "tok"))
    assert (aes.actions, aes.problems, aes.key_arn) == ([], [], None), "AES256: EncryptionMismatch is the repository's"


def test_a_key_still_in_use_keeps_the_key_and_drops_the_aliases(
    make_desired: MakeDesired, make_observed_key: MakeKey
) -> None:
    desired = make_desired(repositoryName="team/my.app")
    observed = make_observed_key(desired, legacy_alias="alias/ecr/team/my_app")
    actions = key_part.plan_delete(desired, observed, keep_key=True).actions
    assert [(a.operation, a.params.get("AliasName")) for a in actions] == [
        ("delete_alias", desired.key_alias),
        ("delete_alias", "alias/ecr/team/my_app"),
    ]


def test_the_discarded_key_is_the_one_just_created() -> None:
    [action] = key_part.plan_discard().actions
    assert (action.operation, action.params) == (
        "schedule_key_deletion",
        {"KeyId": NEW_KEY_ID, "PendingWindowInDays": 7},
    )
