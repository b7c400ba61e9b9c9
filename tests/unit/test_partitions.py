"""Partition-aware ARNs: every ARN the operator writes into a policy is in the partition of the resource's region
(``arn:aws-cn:`` in China, ``arn:aws-us-gov:`` in GovCloud): IAM refuses a principal of another partition."""

from __future__ import annotations

import pytest

from ecr_operator.core.compare import policies_equal
from ecr_operator.core.regions import root_principal
from ecr_operator.registry.render import render_registry_policy
from ecr_operator.registry.spec import RegistryPolicy
from ecr_operator.repository.render import Owner, render
from ecr_operator.repository.spec import EcrRepositorySpec

PARTITIONS = [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]


@pytest.mark.parametrize(("region", "partition"), PARTITIONS)
def test_the_pull_policy_names_principals_in_the_regions_partition(region: str, partition: str) -> None:
    spec = EcrRepositorySpec.model_validate(
        {"region": region, "crossAccountPull": {"enabled": True, "allowedAccountIds": ["111111111111"]}}
    )
    desired = render(spec, Owner("c", "ns", "web"), "eu-west-1")
    assert desired.repository_policy is not None
    [statement] = desired.repository_policy["Statement"]
    assert statement["Principal"] == {"AWS": [f"arn:{partition}:iam::111111111111:root"]}


@pytest.mark.parametrize(("region", "partition"), PARTITIONS)
def test_the_registry_policy_names_principals_and_resource_in_the_regions_partition(
    region: str, partition: str
) -> None:
    policy = RegistryPolicy.model_validate({"allowReplicationFromAccounts": ["111111111111"]})
    document = render_registry_policy(policy, "222222222222", region)
    assert document is not None
    [statement] = document["Statement"]
    assert statement["Principal"] == {"AWS": [f"arn:{partition}:iam::111111111111:root"]}
    assert statement["Resource"] == f"arn:{partition}:ecr:{region}:222222222222:repository/*"


def test_a_root_principal_equals_its_account_id_in_any_partition() -> None:
    """AWS may store an account's root principal as the bare ID or as the ARN of the region's partition."""

    def policy(principal: str) -> dict[str, object]:
        return {"Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "ecr:BatchGetImage"}]}

    china = root_principal("111111111111", "cn-north-1")
    assert policies_equal(policy(china), policy("111111111111"))
    assert policies_equal(policy("111111111111"), policy("arn:aws-us-gov:iam::111111111111:root"))
    assert not policies_equal(policy(china), policy("arn:aws-cn:iam::999999999999:root"))
    assert not policies_equal(policy(china), policy("arn:aws-cn:iam::111111111111:role/x"))
