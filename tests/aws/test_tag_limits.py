"""AWS's 50 tags per repository and per key, which moto does not enforce: a hook on the operator's clients refuses a
TagResource that would leave a resource with more than 50 tags, as AWS does (ECR ``TooManyTagsException``, KMS
``LimitExceededException``). Swapping 30 tags for 30 others, or adopting a repository with 45 foreign tags, must
converge under it: removals go before additions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aws_harness import PartsHarness
from botocore.exceptions import ClientError

from ecr_operator.repository.adoption import Adoption

AWS_MAX_TAGS = 50
ADOPT = Adoption(requested=True, refusal=None)


class TagLimit:
    """``before-parameter-build`` hook: counts the tags a TagResource would leave, from the resource's current tags
    (read through the harness's unrecorded clients), and refuses more than 50 like AWS."""

    def __init__(self, aws: PartsHarness) -> None:
        self.aws = aws
        self.refused: list[str] = []

    def ecr(self, params: dict[str, Any], **_: Any) -> None:
        name = params["resourceArn"].split(":repository/", 1)[1]
        current = self.aws.repository_tags(name)
        self._check("TagResource", "TooManyTagsException", current, [t["Key"] for t in params["tags"]])

    def kms(self, params: dict[str, Any], **_: Any) -> None:
        current = self.aws.key_tags(params["KeyId"])
        self._check("TagResource", "LimitExceededException", current, [t["TagKey"] for t in params["Tags"]])

    def _check(self, operation: str, code: str, current: dict[str, str], keys: list[str]) -> None:
        total = len(set(current) | set(keys))
        if total > AWS_MAX_TAGS:
            self.refused.append(code)
            message = f"{total} tags exceed the limit of {AWS_MAX_TAGS}"
            raise ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.fixture
def limited(aws: PartsHarness) -> Iterator[TagLimit]:
    limit = TagLimit(aws)
    aws.clients.ecr.meta.events.register("before-parameter-build.ecr.TagResource", limit.ecr)
    aws.clients.kms.meta.events.register("before-parameter-build.kms.TagResource", limit.kms)
    yield limit
    aws.clients.ecr.meta.events.unregister("before-parameter-build.ecr.TagResource", limit.ecr)
    aws.clients.kms.meta.events.unregister("before-parameter-build.kms.TagResource", limit.kms)


def _key_id(aws: PartsHarness) -> str:
    key_id = aws.alias_target()
    assert key_id is not None
    return key_id


def test_the_hook_refuses_what_aws_would(aws: PartsHarness, limited: TagLimit) -> None:
    """Control: without it the tests below could pass on moto's leniency alone."""
    desired = aws.desired()
    aws.reconcile(desired)
    with pytest.raises(ClientError) as caught:
        aws.clients.ecr.tag_resource(
            resourceArn=aws.existing_repository()["repositoryArn"],
            tags=[{"Key": f"extra{i}", "Value": "v"} for i in range(50)],
        )
    assert caught.value.response["Error"]["Code"] == "TooManyTagsException"
    with pytest.raises(ClientError):
        aws.clients.kms.tag_resource(
            KeyId=_key_id(aws), Tags=[{"TagKey": f"extra{i}", "TagValue": "v"} for i in range(50)]
        )


def test_swapping_30_tags_for_30_others_stays_within_the_limit(aws: PartsHarness, limited: TagLimit) -> None:
    old = {f"old{i}": "v" for i in range(30)}
    new = {f"new{i}": "v" for i in range(30)}
    first = aws.desired({"tags": old})
    aws.reconcile(first)
    assert len(aws.repository_tags()) == len(first.tags) == 39  # 6 seed, 30 old, 3 ownership
    key_id = _key_id(aws)

    second = aws.desired({"tags": {**{key: None for key in old}, **new}})
    outcome = aws.reconcile(second)
    assert outcome.problems == [] and limited.refused == []
    # Removals before additions, on the repository and on the key.
    assert [op for op in aws.calls.writes if op.split(":")[1] in ("TagResource", "UntagResource")] == [
        "kms:UntagResource",
        "kms:TagResource",
        "ecr:UntagResource",
        "ecr:TagResource",
    ]
    assert aws.repository_tags() == second.tags
    assert aws.key_tags(key_id) == second.tags
    aws.assert_in_sync(second)


def test_adopting_a_repository_with_45_foreign_tags_stays_within_the_limit(
    aws: PartsHarness, limited: TagLimit
) -> None:
    foreign = {f"legacy{i}": "v" for i in range(45)}
    aws.ecr.create_repository(
        repositoryName="my-application",
        encryptionConfiguration={"encryptionType": "AES256"},
        tags=[{"Key": k, "Value": v} for k, v in foreign.items()],
    )
    desired = aws.desired({"encryption": {"type": "AES256"}})
    outcome = aws.reconcile(desired, adoption=ADOPT)
    assert outcome.problems == [] and limited.refused == []
    assert outcome.adopted is True
    # The ownership tags alone first (IAM allows nothing else on an unowned repository), then 45 removals, then
    # the user's 6 tags: at most 48 at once, where tagging first would need 54.
    assert aws.calls.writes[:3] == ["ecr:TagResource", "ecr:UntagResource", "ecr:TagResource"]
    assert aws.repository_tags() == desired.tags
    aws.assert_in_sync(desired)
