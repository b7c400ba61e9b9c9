"""render.py: spec -> lifecycle JSON, repository policy, tags, key alias and defaults."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecr_operator.core.compare import to_json
from ecr_operator.core.ecr_policy import PULL_ACTIONS
from ecr_operator.core.repository_settings import render_lifecycle_policy
from ecr_operator.repository.render import (
    CLUSTER_TAG,
    NAME_TAG,
    NAMESPACE_TAG,
    Owner,
    key_alias_for,
    legacy_key_alias_for,
    owner_from_tags,
    render,
    render_repository_policy,
    render_tags,
)
from ecr_operator.repository.spec import REPOSITORY_NAME_PATTERN, EcrRepositorySpec, Lifecycle

OWNER = Owner("c1", "ns1", "web")


def lifecycle(**fields: object) -> Lifecycle:
    return Lifecycle.model_validate(fields)


# --- lifecycle -------------------------------------------------------------------------------------------------


def test_lifecycle_absent_renders_none() -> None:
    assert render_lifecycle_policy(None) is None


def test_lifecycle_max_image_count_only() -> None:
    document = render_lifecycle_policy(lifecycle(maxImageCount=25))
    assert document == {
        "rules": [
            {
                "rulePriority": 1,
                "description": "Keep the newest 25 images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 25},
                "action": {"type": "expire"},
            }
        ]
    }


def test_lifecycle_untagged_only() -> None:
    document = render_lifecycle_policy(lifecycle(expireUntaggedAfterDays=14))
    assert document == {
        "rules": [
            {
                "rulePriority": 1,
                "description": "Expire untagged images older than 14 days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 14,
                },
                "action": {"type": "expire"},
            }
        ]
    }


def test_lifecycle_both_rules_untagged_first_any_last() -> None:
    document = render_lifecycle_policy(lifecycle(maxImageCount=10, expireUntaggedAfterDays=3))
    assert document is not None
    rules = document["rules"]
    assert [r["rulePriority"] for r in rules] == [1, 2]
    assert rules[0]["selection"]["tagStatus"] == "untagged"
    assert rules[0]["selection"]["countNumber"] == 3
    assert rules[1]["selection"]["tagStatus"] == "any"
    assert rules[1]["selection"]["countNumber"] == 10
    # The 'any' rule must carry the highest priority number.
    assert max(rules, key=lambda r: r["rulePriority"])["selection"]["tagStatus"] == "any"


def test_lifecycle_policy_text_passthrough() -> None:
    raw = {
        "rules": [
            {
                "rulePriority": 5,
                "description": "custom",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["v"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 3,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    text = json.dumps(raw, indent=4)
    assert render_lifecycle_policy(lifecycle(policyText=text)) == raw


@pytest.mark.parametrize("fields", [{"maxImageCount": 1}, {"expireUntaggedAfterDays": 1}])
def test_rendered_lifecycle_json_meets_botocore_minimum_length(fields: dict[str, int]) -> None:
    # PutLifecyclePolicy's lifecyclePolicyText has a client-side minimum length of 100 characters.
    document = render_lifecycle_policy(lifecycle(**fields))
    assert document is not None
    assert len(to_json(document)) >= 100


def test_to_json_is_compact_and_sorted() -> None:
    assert to_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


# --- repository policy -----------------------------------------------------------------------------------------


def spec(**fields: object) -> EcrRepositorySpec:
    return EcrRepositorySpec.model_validate(fields)


def test_repository_policy_accounts_sorted_deduped_as_root_arns() -> None:
    document = render_repository_policy(
        spec(crossAccountPull={"enabled": True, "allowedAccountIds": ["222222222222", "111111111111", "222222222222"]}),
        "eu-west-1",
    )
    assert document is not None
    assert document["Version"] == "2012-10-17"
    [statement] = document["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root"]}
    assert statement["Action"] == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ]
    assert len(PULL_ACTIONS) == 3
    assert "Resource" not in statement  # a repository policy has an implicit resource


@pytest.mark.parametrize(
    "pull",
    [
        None,
        {"enabled": False, "allowedAccountIds": ["111111111111"]},
        {"enabled": True, "allowedAccountIds": []},
    ],
)
def test_repository_policy_none_when_disabled_or_absent(pull: dict[str, object] | None) -> None:
    fields = {} if pull is None else {"crossAccountPull": pull}
    assert render_repository_policy(spec(**fields), "eu-west-1") is None


# --- tags, ownership, alias, defaults --------------------------------------------------------------------------


def test_tags_include_ownership_tags() -> None:
    tags = render_tags(spec(tags={"team": "a", "env": "prod"}), OWNER)
    assert tags == {"team": "a", "env": "prod", CLUSTER_TAG: "c1", NAMESPACE_TAG: "ns1", NAME_TAG: "web"}


def test_ownership_tags_win_over_user_tags_with_same_key() -> None:
    # validate() rejects this prefix; render must still never let a user forge another owner.
    tags = render_tags(spec(tags={NAME_TAG: "someone-else"}), OWNER)
    assert tags[NAME_TAG] == "web"


def test_owner_roundtrip_through_tags() -> None:
    assert owner_from_tags({**OWNER.tags(), "x": "y"}) == OWNER
    assert owner_from_tags({"team": "a"}) is None
    assert owner_from_tags({NAME_TAG: "web"}) == Owner("", "", "web")
    assert OWNER.describe() == "ns1/web in cluster c1"


@pytest.mark.parametrize(
    ("name", "alias"),
    [
        ("web", "alias/ecr/web"),
        ("team/app", "alias/ecr/team/app"),
        ("my.app/v1.2", "alias/ecr/my_-app/v1_-2"),
        ("a-b_c", "alias/ecr/a-b__c"),
        ("team/app.v1", "alias/ecr/team/app_-v1"),
        ("team/app_v1", "alias/ecr/team/app__v1"),
    ],
)
def test_key_alias_naming(name: str, alias: str) -> None:
    assert key_alias_for(name) == alias
    assert alias.startswith("alias/") and not alias.startswith("alias/aws/")


_WORDS = st.text(alphabet="ab0", min_size=1, max_size=4)
_COMPONENTS = st.builds(
    lambda first, rest: first + "".join(sep + word for sep, word in rest),
    _WORDS,
    st.lists(st.tuples(st.sampled_from("._-"), _WORDS), max_size=4),
)
REPOSITORY_NAMES = st.lists(_COMPONENTS, min_size=1, max_size=4).map("/".join).filter(lambda name: len(name) >= 2)
"""Valid ECR names over a small alphabet, so that distinct names often differ only in '.' vs '_'."""
LONG_NAMES = st.builds(
    lambda body, cut: body[:cut].rstrip("._-") + "z",
    st.lists(st.tuples(st.sampled_from("._-"), _WORDS), min_size=120, max_size=130).map(
        lambda parts: "x" + "".join(sep + word for sep, word in parts)
    ),
    st.integers(min_value=200, max_value=255),
)
_ALIAS_CHARS = re.compile(r"^alias/[A-Za-z0-9/_-]+$")


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(REPOSITORY_NAMES | LONG_NAMES, REPOSITORY_NAMES | LONG_NAMES)
def test_distinct_repository_names_get_distinct_valid_aliases(first: str, second: str) -> None:
    for name in (first, second):
        assert re.fullmatch(REPOSITORY_NAME_PATTERN, name) and len(name) <= 256, name
        alias = key_alias_for(name)
        assert len(alias) <= 256 and _ALIAS_CHARS.match(alias), alias
        assert not alias.startswith("alias/aws/")
    if first != second:
        assert key_alias_for(first) != key_alias_for(second)
        # A key made under the first scheme for one name never carries the new alias of another.
        assert key_alias_for(first) != legacy_key_alias_for(second)


def test_the_example_pair_of_the_old_collision() -> None:
    assert legacy_key_alias_for("team/app.v1") == legacy_key_alias_for("team/app_v1")
    assert key_alias_for("team/app.v1") != key_alias_for("team/app_v1")


def test_too_long_names_are_hashed_and_stay_readable() -> None:
    name = "team/" + "a" * 120 + "." + "b" * 125
    alias = key_alias_for(name)
    assert len(alias) == 256
    assert alias.startswith("alias/ecr/_sha256/") and "/team/aaaa" in alias
    assert key_alias_for(name.replace(".", "_")) != alias


def test_legacy_alias_only_where_the_schemes_differ() -> None:
    assert render(spec(repositoryName="team/api"), OWNER, "us-east-1").legacy_key_alias is None
    assert render(spec(repositoryName="team/a.pi"), OWNER, "us-east-1").legacy_key_alias == "alias/ecr/team/a_pi"


def test_render_defaults() -> None:
    desired = render(spec(), OWNER, "us-east-2")
    assert desired.repository_name == "web"  # metadata.name
    assert desired.region == "us-east-2"  # operator default
    assert desired.key_alias == "alias/ecr/web"
    assert desired.encryption_type == "KMS"
    assert desired.manages_key is True
    assert desired.user_kms_key_arn is None
    assert desired.enable_key_rotation is True
    assert desired.deletion_window_in_days == 30
    assert desired.image_tag_mutability == "MUTABLE"
    assert desired.scan_on_push is True
    assert desired.lifecycle_policy is None
    assert desired.repository_policy is None
    assert desired.deletion_policy == "Delete"
    assert desired.force_delete is False
    assert desired.owner == OWNER
    assert desired.tags == OWNER.tags()


def test_render_explicit_name_and_region_win() -> None:
    desired = render(spec(repositoryName="team/api", region="ap-south-1"), OWNER, "us-east-2")
    assert desired.repository_name == "team/api"
    assert desired.region == "ap-south-1"
    assert desired.key_alias == "alias/ecr/team/api"


def test_render_user_key_is_not_managed() -> None:
    arn = "arn:aws:kms:eu-west-1:123456789012:key/abcd"
    desired = render(spec(encryption={"kmsKeyArn": arn}), OWNER, "eu-west-1")
    assert desired.user_kms_key_arn == arn
    assert desired.manages_key is False


def test_render_aes256_manages_no_key() -> None:
    desired = render(spec(encryption={"type": "AES256"}), OWNER, "eu-west-1")
    assert desired.encryption_type == "AES256"
    assert desired.manages_key is False
    assert desired.user_kms_key_arn is None


def test_render_carries_lifecycle_policy_and_deletion_settings() -> None:
    desired = render(
        spec(
            lifecycle={"maxImageCount": 5},
            crossAccountPull={"enabled": True, "allowedAccountIds": ["111111111111"]},
            deletionPolicy="Retain",
            forceDelete=True,
            imageTagMutability="IMMUTABLE",
            scanOnPush=False,
        ),
        OWNER,
        "eu-west-1",
    )
    assert desired.lifecycle_policy is not None
    assert desired.lifecycle_policy["rules"][0]["selection"]["countNumber"] == 5
    assert desired.repository_policy is not None
    assert desired.deletion_policy == "Retain"
    assert desired.force_delete is True
    assert desired.image_tag_mutability == "IMMUTABLE"
    assert desired.scan_on_push is False
