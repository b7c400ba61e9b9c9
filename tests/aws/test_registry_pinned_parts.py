"""An EcrRegistry's parts (sections, creation templates, pull through cache rules) act in the pinned registry only,
against moto: the pin and the creation records are written together before the first write, another account
writes no part and reads no template or rule, a delete acts only in the recorded registry and deletes only
the recorded items, and with spec.awsRoleArn the pinned account is the role's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from aws_harness import ACCOUNT, QUAY, REGION, PartsHarness, desired_registry

from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.registry.items import Created
from ecr_operator.registry.parts.registry import RegistryDeps
from ecr_operator.registry.reconcile import RegistryPlacement, delete_registry, reconcile_registry
from ecr_operator.registry.render import DesiredRegistry

OTHER = "999988887777"
ROOT_TEMPLATE: dict[str, Any] = {"prefix": "ROOT", "appliedFor": ["CREATE_ON_PUSH", "REPLICATION"]}
SCANNING = {"scanType": "BASIC", "rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*"}]}]}


def every_part(**extra: Any) -> DesiredRegistry:
    return desired_registry(scanning=SCANNING, creationTemplates=[ROOT_TEMPLATE], pullThroughCacheRules=[QUAY], **extra)


class Recorder:
    """``Host.record``'s stand-in: what was recorded, and which writes had been sent when it was."""

    def __init__(self, aws: PartsHarness) -> None:
        self.aws = aws
        self.records: list[tuple[dict[str, Any], list[str]]] = []

    def __call__(self, fields: Mapping[str, Any], what: str) -> None:
        self.records.append((dict(fields), list(self.aws.calls.writes)))


def test_the_pin_and_the_creation_records_are_written_once_before_any_part(aws: PartsHarness) -> None:
    record = Recorder(aws)
    outcome = reconcile_registry(aws.clients, every_part(), RegistryDeps(), record=record)
    [(fields, writes_before)] = record.records
    assert writes_before == [], "recorded before the first write"
    assert (fields["registryId"], fields["region"]) == (ACCOUNT, REGION)
    assert [(i["name"], i["createdByOperator"]) for i in fields["pullThroughCacheRules"]] == [("quay", True)]
    assert [(i["name"], i["createdByOperator"]) for i in fields["creationTemplates"]] == [("ROOT", True)]
    assert len(outcome.applied) == 3

    # Pinned already: a later write (a template changed by hand) records nothing more.
    aws.ecr.update_repository_creation_template(prefix="ROOT", description="changed by hand")
    later = Recorder(aws)
    deps = RegistryDeps(created=Created(rules=frozenset({"quay"}), templates=frozenset({"ROOT"})))
    pinned = RegistryPlacement(ACCOUNT, REGION)
    reconcile_registry(aws.clients, every_part(), deps, pinned=pinned, record=later)
    assert later.records == [] and aws.calls.writes[-1] == "ecr:UpdateRepositoryCreationTemplate"


def test_another_account_writes_no_part_and_reads_no_template_or_rule(aws: PartsHarness) -> None:
    record = Recorder(aws)
    with pytest.raises(OperatorError) as refused:
        reconcile_registry(
            aws.clients, every_part(), RegistryDeps(), pinned=RegistryPlacement(OTHER, REGION), record=record
        )
    assert refused.value.reason == Reason.ACCOUNT_CHANGED and OTHER in refused.value.message
    assert aws.calls.writes == [] and record.records == []
    assert aws.calls.reads == ["ecr:DescribeRegistry", "ecr:GetRegistryScanningConfiguration"]
    assert aws.ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []


def test_a_delete_acts_only_in_the_pinned_registry_and_only_on_recorded_items(aws: PartsHarness) -> None:
    reconcile_registry(aws.clients, every_part(), RegistryDeps())
    aws.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="theirs", upstreamRegistryUrl="public.ecr.aws")
    deps = RegistryDeps(created=Created(rules=frozenset({"quay"}), templates=frozenset({"ROOT"})))
    delete = every_part(deletionPolicy="Delete")
    aws.calls.clear()
    with pytest.raises(OperatorError) as held:
        delete_registry(aws.clients, delete, deps, RegistryPlacement(OTHER, REGION))
    assert held.value.reason == Reason.ACCOUNT_CHANGED and "deletionPolicy: Retain" in held.value.message
    assert aws.calls.writes == [] and aws.calls.reads == [
        "ecr:DescribeRegistry",
        "ecr:GetRegistryScanningConfiguration",
    ]

    aws.calls.clear()
    delete_registry(aws.clients, delete, deps, RegistryPlacement(ACCOUNT, REGION))
    assert aws.calls.writes == [
        "ecr:DeletePullThroughCacheRule",
        "ecr:DeleteRepositoryCreationTemplate",
        "ecr:PutRegistryScanningConfiguration",
    ]
    rules = aws.ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert [r["ecrRepositoryPrefix"] for r in rules] == ["theirs"], "a rule it did not create stays"


def test_with_aws_role_arn_the_pinned_account_is_the_roles(
    aws: PartsHarness, aws_session: boto3.session.Session
) -> None:
    role_account = "222233334444"
    want = desired_registry(awsRoleArn=f"arn:aws:iam::{role_account}:role/ecr-operator", pullThroughCacheRules=[QUAY])
    clients = ClientFactory(aws_session).for_region(REGION, want.role_arn)
    recorded: list[Mapping[str, Any]] = []
    reconcile_registry(clients, want, RegistryDeps(), record=lambda fields, what: recorded.append(fields))
    assert [(r["registryId"], r["region"]) for r in recorded] == [(role_account, REGION)]

    # A record of another account (the operator's own) is refused through the role too: nothing is written.
    with pytest.raises(OperatorError) as refused:
        reconcile_registry(clients, want, RegistryDeps(), pinned=RegistryPlacement(ACCOUNT, REGION))
    assert refused.value.reason == Reason.ACCOUNT_CHANGED and "spec.awsRoleArn" in refused.value.message
