"""repository/parts/repository.py: plan, plan_delete and ownership, driven by hand-made observations."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecr_operator.core.actions import NEW_REGISTRY_ID, NEW_REPOSITORY_ARN, NEW_REPOSITORY_URI, Action
from ecr_operator.core.errors import OperatorError
from ecr_operator.repository.adoption import NO_ADOPTION, Adoption
from ecr_operator.repository.parts import repository as repository_part
from ecr_operator.repository.parts.repository import ObservedRepository, RepositoryDeps, RepositoryPlan
from ecr_operator.repository.render import Desired, Owner


def plan(
    desired: Desired, observed: ObservedRepository | None, key_arn: str | None, adoption: Adoption = NO_ADOPTION
) -> RepositoryPlan:
    return repository_part.plan(desired, observed, RepositoryDeps(key_arn, adoption))


def check_ownership(desired: Desired, observed: ObservedRepository, adoption: Adoption) -> None:
    """The ownership refusal, raised as reconcile raises it."""
    refusal = repository_part.ownership_refusal(desired, observed, adoption)
    if refusal is not None:
        raise refusal


def plan_delete(desired: Desired, observed: ObservedRepository | None) -> list[Action]:
    return repository_part.plan_delete(desired, observed).actions


MakeDesired = Callable[..., Desired]
MakeRepo = Callable[..., ObservedRepository]

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = "arn:aws:kms:eu-west-1:123456789012:key/ffffffff-0000-0000-0000-000000000000"
FULL = {
    "lifecycle": {"maxImageCount": 30, "expireUntaggedAfterDays": 7},
    "crossAccountPull": {"enabled": True, "allowedAccountIds": ["222222222222", "111111111111"]},
}


def ops(actions: list[Action]) -> list[str]:
    return [a.operation for a in actions]


# --- in sync: the "zero writes" promise ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {},
        FULL,
        {**FULL, "imageTagMutability": "IMMUTABLE", "scanOnPush": False},
        {"encryption": {"type": "AES256"}},
        {"encryption": {"kmsKeyArn": KEY_ARN}},
    ],
    ids=["defaults", "full", "immutable-noscan", "aes256", "user-key"],
)
def test_in_sync_plans_nothing(make_desired: MakeDesired, make_observed_repository: MakeRepo, fields: Any) -> None:
    desired = make_desired(**fields)
    result = plan(desired, make_observed_repository(desired), KEY_ARN)
    assert result.actions == []
    assert result.problems == []


def test_semantically_equal_policies_serialised_differently_plan_nothing(
    make_desired: MakeDesired, make_observed_repository: MakeRepo
) -> None:
    desired = make_desired(**FULL)
    assert desired.lifecycle_policy is not None
    # What AWS might hand back: rules reordered, keys reordered, principals as account IDs and single strings.
    lifecycle = json.loads(json.dumps({"rules": list(reversed(desired.lifecycle_policy["rules"]))}, sort_keys=True))
    policy = {
        "Statement": {
            "Action": ["ecr:GetDownloadUrlForLayer", "ecr:batchgetimage", "ecr:BatchCheckLayerAvailability"],
            "Principal": {"AWS": ["222222222222", "arn:aws:iam::111111111111:root"]},
            "Effect": "Allow",
            "Sid": "CrossAccountPull",
        },
        "Version": "2012-10-17",
    }
    observed = make_observed_repository(desired, lifecycle_policy=lifecycle, repository_policy=policy)
    assert plan(desired, observed, KEY_ARN).actions == []


# --- absent: create --------------------------------------------------------------------------------------------


def test_absent_creates_with_kms_key_tags_then_policies(make_desired: MakeDesired) -> None:
    desired = make_desired(**FULL)
    result = plan(desired, None, KEY_ARN)
    assert result.problems == []
    assert ops(result.actions) == ["create_repository", "put_lifecycle_policy", "set_repository_policy"]
    create, lifecycle, policy = result.actions
    assert create.params == {
        "repositoryName": "web",
        "imageTagMutability": "MUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": KEY_ARN},
        "tags": [{"Key": k, "Value": v} for k, v in sorted(desired.tags.items())],
    }
    assert json.loads(lifecycle.params["lifecyclePolicyText"]) == desired.lifecycle_policy
    assert lifecycle.params["repositoryName"] == "web"
    assert json.loads(policy.params["policyText"]) == desired.repository_policy


def test_absent_aes256_creates_without_key(make_desired: MakeDesired) -> None:
    desired = make_desired(encryption={"type": "AES256"}, imageTagMutability="IMMUTABLE", scanOnPush=False)
    [create] = plan(desired, None, None).actions
    assert create.params["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert create.params["imageTagMutability"] == "IMMUTABLE"
    assert create.params["imageScanningConfiguration"] == {"scanOnPush": False}


def test_absent_with_user_key(make_desired: MakeDesired) -> None:
    desired = make_desired(encryption={"kmsKeyArn": OTHER_KEY})
    [create] = plan(desired, None, OTHER_KEY).actions
    assert create.params["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": OTHER_KEY}


# --- one change -> exactly one action --------------------------------------------------------------------------


def test_mutability_change_is_one_action(make_desired: MakeDesired, make_observed_repository: MakeRepo) -> None:
    desired = make_desired(**FULL, imageTagMutability="IMMUTABLE")
    [action] = plan(desired, make_observed_repository(desired, image_tag_mutability="MUTABLE"), KEY_ARN).actions
    assert action.operation == "put_image_tag_mutability"
    assert action.params == {"repositoryName": "web", "imageTagMutability": "IMMUTABLE"}


def test_scan_on_push_change_is_one_action(make_desired: MakeDesired, make_observed_repository: MakeRepo) -> None:
    desired = make_desired(**FULL, scanOnPush=False)
    [action] = plan(desired, make_observed_repository(desired, scan_on_push=True), KEY_ARN).actions
    assert action.operation == "put_image_scanning_configuration"
    assert action.params == {"repositoryName": "web", "imageScanningConfiguration": {"scanOnPush": False}}


def test_max_image_count_change_is_one_put_never_delete(
    make_desired: MakeDesired, make_observed_repository: MakeRepo
) -> None:
    before = make_desired(**FULL)
    after = make_desired(**{**FULL, "lifecycle": {"maxImageCount": 31, "expireUntaggedAfterDays": 7}})
    observed = make_observed_repository(before)
    [action] = plan(after, observed, KEY_ARN).actions
    assert action.operation == "put_lifecycle_policy"
    assert json.loads(action.params["lifecyclePolicyText"]) == after.lifecycle_policy


def test_lifecycle_added_is_one_put(make_desired: MakeDesired, make_observed_repository: MakeRepo) -> None:
    desired = make_desired(lifecycle={"maxImageCount": 3})
    assert ops(plan(desired, make_observed_repository(desired, lifecycle_policy=None), KEY_ARN).actions) == [
        "put_lifecycle_policy"
    ]


def test_lifecycle_removed_is_one_delete(make_desired: MakeDesired, make_observed_repository: MakeRepo) -> None:
    before = make_desired(**FULL)
    after = make_desired(crossAccountPull=FULL["crossAccountPull"])
    [action] = plan(after, make_observed_repository(before), KEY_ARN).actions
    assert action.operation == "delete_lifecycle_policy"
    assert action.params == {"repositoryName": "web"}


def test_cross_account_disabled_is_one_delete(make_desired: MakeDesired, make_observed_repository: MakeRepo) -> None:
    before = make_desired(**FULL)
    after = make_desired(lifecycle=FULL["lifecycle"], crossAccountPull={"enabled": False})
    [action] = plan(after, make_observed_repository(before), KEY_ARN).actions
    assert action.operation == "delete_repository_policy"
    assert action.params == {"repositoryName": "web"}


def test_cross_account_account_added_is_one_set(make_desired: MakeDesired, make_observed_repository: MakeRepo) -> None:
    before = make_desired(**FULL)
    pull = {"enabled": True, "allowedAccountIds": ["111111111111", "222222222222", "333333333333"]}
    after = make_desired(lifecycle=FULL["lifecycle"], crossAccountPull=pull)
    [action] = plan(after, make_observed_repository(before), KEY_ARN).actions
    assert action.operation == "set_repository_policy"
    assert json.loads(action.params["policyText"]) == after.repository_policy


def test_foreign_policy_on_repository_without_pull_is_removed(
    make_desired: MakeDesired, make_observed_repository: MakeRepo
) -> None:
    desired = make_desired()
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}]}
    assert ops(plan(desired, make_observed_repository(desired, repository_policy=policy), KEY_ARN).actions) == [
        "delete_repository_policy"
    ]


def test_tag_drift_sets_and_removes_differences_only(
    make_desired: MakeDesired, make_observed_repository: MakeRepo
) -> None:
    desired = make_desired()
    tags = {**desired.tags, "service": "old", "stale": "1", "aws:ecr:managed": "x"}
    observed = make_observed_repository(desired, tags=tags)
    actions = plan(desired, observed, KEY_ARN).actions
    # Removals first: a swap never holds more than AWS's 50 tags at once.
    assert ops(actions) == ["untag_resource", "tag_resource"]
    assert actions[0].params == {"resourceArn": observed.arn, "tagKeys": ["stale"]}
    assert actions[1].params == {"resourceArn": observed.arn, "tags": [{"Key": "service", "Value": "web"}]}


def tags_after_each(tags: dict[str, str], actions: list[Action]) -> list[int]:
    """How many tags the repository holds after each of the plan's tag writes, as AWS would apply them."""
    counts = []
    for action in actions:
        if action.operation == "tag_resource":
            tags = {**tags, **{t["Key"]: t["Value"] for t in action.params["tags"]}}
        elif action.operation == "untag_resource":
            tags = {k: v for k, v in tags.items() if k not in action.params["tagKeys"]}
        else:
            continue
        counts.append(len(tags))
    return counts


def test_swapping_30_tags_for_30_others_removes_first(
    make_desired: MakeDesired, make_observed_repository: MakeRepo
) -> None:
    kept = {"owner": "team-a", "service": "web"}
    desired = make_desired(tags={**kept, **{f"new{i}": "v" for i in range(30)}})
    before = {**desired.owner.tags(), **kept, **{f"old{i}": "v" for i in range(30)}}
    actions = plan(desired, make_observed_repository(desired, tags=before), KEY_ARN).actions
    assert ops(actions) == ["untag_resource", "tag_resource"]
    # 35 -> 5 -> 35: never above AWS's 50 (adding first would hold 65).
    assert tags_after_each(before, actions) == [5, 35]


def test_adopting_a_repository_with_45_foreign_tags_stays_within_50(
    make_desired: MakeDesired, make_observed_repository: MakeRepo
) -> None:
    desired = make_desired()  # five user tags and three ownership tags
    assert len(desired.tags) == 8
    foreign = {f"legacy{i}": "v" for i in range(45)}
    actions = plan(desired, make_observed_repository(desired, tags=foreign), KEY_ARN, ASKS_AND_ALLOWED).actions
    # The ownership tags alone first (IAM allows nothing else on a repository nobody owns), then the removals,
    # then the user's tags: 48 -> 3 -> 8 (all tags first would hold 53).
    assert ops(actions) == ["tag_resource", "untag_resource", "tag_resource"]
    assert {t["Key"] for t in actions[0].params["tags"]} == set(desired.owner.tags())
    assert tags_after_each(foreign, actions) == [48, 3, 8]


def test_several_changes_plan_in_order(make_desired: MakeDesired, make_observed_repository: MakeRepo) -> None:
    desired = make_desired(**FULL)
    observed = make_observed_repository(
        desired,
        image_tag_mutability="IMMUTABLE",
        scan_on_push=False,
        lifecycle_policy=None,
        repository_policy=None,
        tags={},
    )
    # tags={}: nobody's, so this is an adoption (allowed here); our tags go first.
    assert ops(plan(desired, observed, KEY_ARN, ASKS_AND_ALLOWED).actions) == [
        "tag_resource",
        "put_image_tag_mutability",
        "put_image_scanning_configuration",
        "put_lifecycle_policy",
        "set_repository_policy",
    ]


# --- encryption mismatch is a problem, not silently ignored ----------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "observed_type", "observed_key", "key_arn"),
    [
        ({}, "AES256", None, KEY_ARN),
        ({"encryption": {"type": "AES256"}}, "KMS", KEY_ARN, None),
        ({}, "KMS", OTHER_KEY, KEY_ARN),
        ({"encryption": {"kmsKeyArn": KEY_ARN}}, "KMS", OTHER_KEY, KEY_ARN),
    ],
    ids=["want-kms-have-aes", "want-aes-have-kms", "other-managed-key", "other-user-key"],
)
def test_encryption_mismatch_is_a_problem(
    make_desired: MakeDesired,
    make_observed_repository: MakeRepo,
    fields: Any,
    observed_type: str,
    observed_key: str | None,
    key_arn: str | None,
) -> None:
    desired = make_desired(**fields)
    observed = make_observed_repository(desired, encryption_type=observed_type, kms_key=observed_key)
    result = plan(desired, observed, key_arn)
    [problem] = result.problems
    assert problem.reason == "EncryptionMismatch"
    assert problem.retryable is False
    assert "cannot re-encrypt" in problem.message
    assert result.actions == []  # nothing else differs, and nothing tries to re-create the repository


# --- ownership -------------------------------------------------------------------------------------------------


ASKS_AND_ALLOWED = Adoption(requested=True, refusal=None)
ASKS_NOT_ALLOWED = Adoption(requested=True)
ALLOWED_NOT_ASKED = Adoption(requested=False, refusal=None)
ADOPTIONS = [NO_ADOPTION, ASKS_NOT_ALLOWED, ALLOWED_NOT_ASKED, ASKS_AND_ALLOWED]
ADOPTION_IDS = ["not-asked-not-allowed", "asked-not-allowed", "allowed-not-asked", "asked-and-allowed"]


@pytest.mark.parametrize("adoption", ADOPTIONS, ids=ADOPTION_IDS)
def test_own_repository_is_ours(
    make_desired: MakeDesired, make_observed_repository: MakeRepo, adoption: Adoption
) -> None:
    desired = make_desired()
    check_ownership(desired, make_observed_repository(desired), adoption)


@pytest.mark.parametrize("adoption", ADOPTIONS, ids=ADOPTION_IDS)
def test_other_owner_is_not_owned_even_with_adoption(
    make_desired: MakeDesired, make_observed_repository: MakeRepo, adoption: Adoption
) -> None:
    desired = make_desired()
    observed = make_observed_repository(desired, tags={"team": "x", **Owner("c2", "team-b", "web").tags()})
    with pytest.raises(OperatorError) as caught:
        check_ownership(desired, observed, adoption)
    assert caught.value.reason == "RepositoryNotOwned"
    assert caught.value.retryable is False
    assert "team-b/web in cluster c2" in caught.value.message


def test_same_name_other_cluster_is_not_owned(make_desired: MakeDesired, make_observed_repository: MakeRepo) -> None:
    desired = make_desired()
    observed = make_observed_repository(desired, tags=Owner("elsewhere", "team-a", "web").tags())
    with pytest.raises(OperatorError, match="elsewhere"):
        check_ownership(desired, observed, ASKS_AND_ALLOWED)


def test_untagged_asked_and_allowed_is_adoptable(make_desired: MakeDesired, make_observed_repository: MakeRepo) -> None:
    desired = make_desired()
    observed = make_observed_repository(desired, tags={"team": "x"})
    check_ownership(desired, observed, ASKS_AND_ALLOWED)
    # Adopting then writes our ownership tags.
    [action] = plan(desired, observed, KEY_ARN, ASKS_AND_ALLOWED).actions[:1]
    assert action.operation == "tag_resource"


def test_untagged_asked_but_not_allowed_says_who_can_allow_it(
    make_desired: MakeDesired, make_observed_repository: MakeRepo
) -> None:
    desired = make_desired()
    with pytest.raises(OperatorError) as caught:
        check_ownership(desired, make_observed_repository(desired, tags={}), ASKS_NOT_ALLOWED)
    assert caught.value.reason == "AdoptionNotAllowed"
    assert caught.value.retryable is False
    assert "platform team" in caught.value.message
    assert "--adoption" in caught.value.message and "ecr.platform.dev/allow-adoption" in caught.value.message


@pytest.mark.parametrize(
    ("adoption", "mentions_platform"),
    [(NO_ADOPTION, True), (ALLOWED_NOT_ASKED, False)],
    ids=["not-allowed", "allowed"],
)
def test_untagged_without_adopt_is_not_owned(
    make_desired: MakeDesired, make_observed_repository: MakeRepo, adoption: Adoption, mentions_platform: bool
) -> None:
    desired = make_desired()
    with pytest.raises(OperatorError) as caught:
        check_ownership(desired, make_observed_repository(desired, tags={}), adoption)
    assert caught.value.reason == "RepositoryNotOwned"
    assert "ecr.platform.dev/adopt=true" in caught.value.message
    assert ("allowed by the platform" in caught.value.message) is mentions_platform


# --- plan_delete -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("force", [False, True])
def test_delete_passes_force_flag(make_desired: MakeDesired, make_observed_repository: MakeRepo, force: bool) -> None:
    desired = make_desired(forceDelete=force)
    [action] = plan_delete(desired, make_observed_repository(desired))
    assert action.service == "ecr"
    assert action.operation == "delete_repository"
    assert action.params == {"repositoryName": "web", "force": force}
    assert ("images" in action.summary) is force


def test_delete_not_ours_or_absent_does_nothing(make_desired: MakeDesired, make_observed_repository: MakeRepo) -> None:
    desired = make_desired(forceDelete=True)
    assert plan_delete(desired, None) == []
    assert plan_delete(desired, make_observed_repository(desired, tags={})) == []
    assert plan_delete(desired, make_observed_repository(desired, tags=Owner("c", "ns", "x").tags())) == []


# --- property: whatever the spec, an in-sync repository (as AWS re-serialises it) plans zero writes -------------

_accounts = st.lists(st.from_regex(r"[0-9]{12}", fullmatch=True), min_size=1, max_size=5)
_lifecycles = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "maxImageCount": st.integers(1, 10000),
            "expireUntaggedAfterDays": st.integers(1, 3650),
        },
    ).filter(bool),
)


@settings(max_examples=60, deadline=None)
@given(
    mutability=st.sampled_from(["MUTABLE", "IMMUTABLE"]),
    scan=st.booleans(),
    lifecycle=_lifecycles,
    accounts=st.one_of(st.none(), _accounts),
    tags=st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), st.text("abc xyz-", max_size=8)),
    data=st.data(),
)
def test_property_in_sync_plans_nothing(
    make_desired: MakeDesired,
    make_observed_repository: MakeRepo,
    mutability: str,
    scan: bool,
    lifecycle: dict[str, int] | None,
    accounts: list[str] | None,
    tags: dict[str, str],
    data: st.DataObject,
) -> None:
    fields: dict[str, Any] = {"imageTagMutability": mutability, "scanOnPush": scan, "tags": tags}
    if lifecycle is not None:
        fields["lifecycle"] = lifecycle
    if accounts is not None:
        fields["crossAccountPull"] = {"enabled": True, "allowedAccountIds": accounts}
    desired = make_desired(**fields)
    observed_lifecycle = None
    if desired.lifecycle_policy is not None:
        rules = data.draw(st.permutations(desired.lifecycle_policy["rules"]))
        observed_lifecycle = json.loads(json.dumps({"rules": rules}, sort_keys=data.draw(st.booleans())))
    observed_policy = None
    if desired.repository_policy is not None:
        statement = dict(desired.repository_policy["Statement"][0])
        ids = [a if data.draw(st.booleans()) else f"arn:aws:iam::{a}:root" for a in accounts or []]
        statement["Principal"] = {"AWS": data.draw(st.permutations(ids))}
        statement["Action"] = data.draw(st.permutations(statement["Action"]))
        observed_policy = {"Version": "2012-10-17", "Statement": statement}
    observed = make_observed_repository(desired, lifecycle_policy=observed_lifecycle, repository_policy=observed_policy)
    result = plan(desired, observed, KEY_ARN)
    assert result.actions == []
    assert result.problems == []


def test_outputs_are_the_observed_identifiers_or_placeholders(
    make_desired: Callable[..., Desired], make_observed_repository: Callable[..., ObservedRepository]
) -> None:
    desired = make_desired()
    created = plan(desired, None, KEY_ARN)
    assert (created.uri, created.arn, created.registry_id) == (NEW_REPOSITORY_URI, NEW_REPOSITORY_ARN, NEW_REGISTRY_ID)
    observed = make_observed_repository(desired)
    existing = plan(desired, observed, KEY_ARN)
    assert (existing.uri, existing.arn, existing.registry_id) == (observed.uri, observed.arn, observed.registry_id)


def test_a_repository_that_is_not_ours_is_a_refusal_with_nothing_planned(
    make_desired: Callable[..., Desired], make_observed_repository: Callable[..., ObservedRepository]
) -> None:
    desired = make_desired()
    result = plan(desired, make_observed_repository(desired, tags=Owner("c", "x", "y").tags()), KEY_ARN)
    assert result.refusal is not None and result.refusal.reason == "RepositoryNotOwned"
    assert result.actions == [] and result.adopting is False
