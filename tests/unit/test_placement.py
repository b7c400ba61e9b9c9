"""placement.py and its registry counterpart: where a resource lives is pinned, and every later pass and the delete
act there — a changed Namespace role or default region is refused, never followed into a second, empty repository."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ecr_operator.core.api import AWS_ROLE_ARN_ANNOTATION
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.kind import Subject
from ecr_operator.core.reasons import PERMANENT, Reason
from ecr_operator.core.settings import Settings
from ecr_operator.registry.manifest import desired_registry_for_delete
from ecr_operator.registry.reconcile import RegistryPlacement, claim_of
from ecr_operator.registry.reconcile import moved as registry_moved
from ecr_operator.registry.reconcile import recorded as registry_recorded
from ecr_operator.repository import kind as repository_kind
from ecr_operator.repository.manifest import desired_for_delete, request_for
from ecr_operator.repository.placement import Placement, delete_role, moved, needs_pin, recorded
from ecr_operator.repository.reconcile import DeleteOutcome, Outcome
from ecr_operator.repository.spec import EcrRepositoryStatus
from ecr_operator.repository.status import report

ROLE_B = "arn:aws:iam::222233334444:role/ecr-operator-team-b"
ROLE_B2 = "arn:aws:iam::222233334444:role/ecr-operator-team-b-renamed"
ROLE_C = "arn:aws:iam::333344445555:role/ecr-operator-team-c"
OWN = "123456789012"
HERE = Placement("222233334444", "eu-west-1", "team/app", ROLE_B)
SETTINGS = Settings(region="eu-west-1", required_tags=())
NOT_JSON = '{"rules": [ this is not JSON, but long enough for the CRD minimum of one hundred characters ....... ]}'


def accounts(role_arn: str | None) -> str:
    """Which account an identity acts in, as ClientFactory.account answers it (no AWS here)."""
    return OWN if role_arn is None else role_arn.split(":")[4]


def status_of(where: Placement) -> dict[str, Any]:
    return where.status_fields()


# -- the record -----------------------------------------------------------------------------------------------


def test_the_record_round_trips_through_status_and_is_declared_in_the_status_model() -> None:
    fields = HERE.status_fields()
    assert recorded(fields) == HERE
    # Every field is in the model the CRD is generated from (an undeclared one would be pruned by the API server).
    assert EcrRepositoryStatus.model_validate(fields).model_dump(by_alias=True, exclude_none=True) == {
        k: v for k, v in fields.items() if v is not None
    } | {"plannedChanges": [], "conditions": []}


def test_a_status_from_before_the_account_was_recorded_uses_the_registry_id() -> None:
    old = {"registryId": "222233334444", "region": "eu-west-1", "repositoryName": "team/app"}
    assert recorded(old) == Placement("222233334444", "eu-west-1", "team/app", None)
    assert needs_pin(old, HERE), "the explicit account and the role are written before the next write"


def test_nothing_is_recorded_until_an_account_is_known() -> None:
    # An observe-only pass writes region and name for a repository that does not exist: no place is pinned.
    assert recorded({"region": "eu-west-1", "repositoryName": "team/app"}) is None
    assert recorded({}) is None
    assert needs_pin({}, HERE)


def test_a_pinned_place_is_written_again_only_when_another_role_of_the_account_reaches_it() -> None:
    assert not needs_pin(status_of(HERE), HERE)
    renamed = Placement(HERE.account, HERE.region, HERE.repository_name, ROLE_B2)
    assert needs_pin(status_of(HERE), renamed)


# -- a pass ---------------------------------------------------------------------------------------------------


def test_a_pass_in_the_recorded_place_or_with_nothing_recorded_goes_on() -> None:
    assert moved(None, HERE, region_from_spec=False) is None
    assert moved(HERE, HERE, region_from_spec=False) is None
    same_account_other_role = Placement(HERE.account, HERE.region, HERE.repository_name, ROLE_B2)
    assert moved(HERE, same_account_other_role, region_from_spec=False) is None


def test_a_namespace_now_mapped_to_another_account_is_account_changed_and_stalled() -> None:
    elsewhere = Placement("333344445555", HERE.region, HERE.repository_name, ROLE_C)
    refusal = moved(HERE, elsewhere, region_from_spec=False)
    assert refusal is not None and refusal.reason == Reason.ACCOUNT_CHANGED
    assert refusal.reason in PERMANENT and not refusal.retryable
    assert "222233334444" in refusal.message and "333344445555" in refusal.message and ROLE_C in refusal.message
    assert "docs/moving.md" in refusal.message
    # Unmapped now (the operator's own account): the same refusal.
    own = Placement(OWN, HERE.region, HERE.repository_name, None)
    refusal = moved(HERE, own, region_from_spec=False)
    assert refusal is not None and refusal.reason == Reason.ACCOUNT_CHANGED
    assert "the operator's own identity" in refusal.message


def test_an_operator_default_region_that_moved_is_region_changed_and_a_spec_region_that_moved_is_invalid() -> None:
    other_region = Placement(HERE.account, "us-west-2", HERE.repository_name, HERE.role_arn)
    refusal = moved(HERE, other_region, region_from_spec=False)
    assert refusal is not None and refusal.reason == Reason.REGION_CHANGED and refusal.reason in PERMANENT
    assert "--region eu-west-1" in refusal.message and "us-west-2" in refusal.message
    refusal = moved(HERE, other_region, region_from_spec=True)
    assert refusal is not None and refusal.reason == Reason.INVALID_SPEC
    assert "spec.region is immutable" in refusal.message


def test_another_repository_name_is_refused_as_an_immutable_field() -> None:
    renamed = Placement(HERE.account, HERE.region, "team/other", HERE.role_arn)
    refusal = moved(HERE, renamed, region_from_spec=False)
    assert refusal is not None and refusal.reason == Reason.INVALID_SPEC
    assert "spec.repositoryName is immutable" in refusal.message and "team/app" in refusal.message


def test_a_pass_reports_where_the_repository_is_only_once_it_exists_there() -> None:
    base = {"repository_name": "team/app", "region": "eu-west-1", "account": "222233334444", "role_arn": ROLE_B}
    found = Outcome(**base, repository_uri="222233334444.dkr.ecr.eu-west-1.amazonaws.com/team/app")
    status = report(found, {}, 1, "2026-01-01T00:00:00Z", observe_only=False, resync=False).status
    assert (status["account"], status["roleArn"]) == ("222233334444", ROLE_B)
    own = Outcome(**{**base, "role_arn": None}, repository_uri="x")
    assert report(own, {}, 1, "t", observe_only=False, resync=False).status["roleArn"] is None, "cleared"
    # Observe-only, no repository: nothing pinned (region and name are reported as before).
    missing = Outcome(**base)
    status = report(missing, {}, 1, "t", observe_only=True, resync=False).status
    assert "account" not in status and "roleArn" not in status


# -- a delete -------------------------------------------------------------------------------------------------


def test_a_delete_uses_the_current_role_when_it_reaches_the_recorded_account() -> None:
    assert delete_role(HERE, ROLE_B2, accounts) == ROLE_B2


def test_a_delete_falls_back_to_the_recorded_role_when_the_mapping_points_elsewhere_or_is_gone() -> None:
    assert delete_role(HERE, ROLE_C, accounts) == ROLE_B
    unmapped = OperatorError(Reason.ACCOUNT_NOT_MAPPED, "Namespace team is not mapped")
    assert delete_role(HERE, unmapped, accounts) == ROLE_B
    assert delete_role(HERE, None, accounts) == ROLE_B


def test_a_delete_of_a_resource_of_the_operators_own_account_uses_its_identity() -> None:
    own = Placement(OWN, "eu-west-1", "team/app", None)
    assert delete_role(own, ROLE_C, accounts) is None
    unmapped = OperatorError(Reason.ACCOUNT_NOT_MAPPED, "Namespace team is not mapped")
    assert delete_role(own, unmapped, accounts) is None


def test_a_delete_no_identity_reaches_keeps_the_finalizer_with_account_changed() -> None:
    elsewhere = Placement("999988887777", "eu-west-1", "team/app", None)
    with pytest.raises(OperatorError) as caught:
        delete_role(elsewhere, ROLE_C, accounts)
    assert caught.value.reason == Reason.ACCOUNT_CHANGED
    assert "999988887777" in caught.value.message and "deletionPolicy: Retain" in caught.value.message


def test_a_delete_does_not_need_a_spec_that_renders() -> None:
    spec = {
        "repositoryName": "team/app",
        "lifecycle": {"policyText": NOT_JSON},
        "forceDelete": True,
        "encryption": {"deletionWindowInDays": 7},
    }
    with pytest.raises(Exception):  # noqa: B017 - whatever a pass makes of it, the delete must not depend on it
        request_for(spec, "team", "app", {}, SETTINGS)
    desired = desired_for_delete(spec, {}, "team", "app", SETTINGS)
    assert (desired.repository_name, desired.region, desired.force_delete) == ("team/app", "eu-west-1", True)
    assert desired.manages_key and desired.deletion_window_in_days == 7
    assert desired.lifecycle_policy is None


def test_a_delete_acts_on_the_recorded_region_and_name_whatever_the_default_region_is_now() -> None:
    status = status_of(Placement(OWN, "ap-northeast-2", "team/app", None))
    desired = desired_for_delete({}, status, "team", "app", SETTINGS)
    assert (desired.region, desired.repository_name) == ("ap-northeast-2", "team/app")
    assert desired_for_delete({"deletionPolicy": "Retain"}, {}, "team", "app", SETTINGS).deletion_policy == "Retain"


# -- EcrRegistry ----------------------------------------------------------------------------------------------


def test_a_registry_is_pinned_to_its_account_and_region() -> None:
    pinned = registry_recorded({"registryId": OWN, "region": "eu-west-1"})
    assert pinned == RegistryPlacement(OWN, "eu-west-1")
    assert registry_recorded({"region": "eu-west-1"}) is None
    assert registry_moved(pinned, "eu-west-1", None, region_from_spec=False) is None
    assert registry_moved(pinned, "eu-west-1", OWN, region_from_spec=False) is None
    region = registry_moved(pinned, "us-east-1", None, region_from_spec=False)
    assert region is not None and region.reason == Reason.REGION_CHANGED
    spec_region = registry_moved(pinned, "us-east-1", None, region_from_spec=True)
    assert spec_region is not None and spec_region.reason == Reason.INVALID_SPEC
    account = registry_moved(pinned, "eu-west-1", "999988887777", region_from_spec=False)
    assert account is not None and account.reason == Reason.ACCOUNT_CHANGED and "999988887777" in account.message


def test_a_registry_claims_the_recorded_region() -> None:
    obj = {"metadata": {"name": "dr", "creationTimestamp": "t"}, "spec": {}, "status": {"region": "eu-west-1"}}
    assert claim_of(obj, "us-east-1").region == "eu-west-1"
    assert claim_of({**obj, "status": {}}, "us-east-1").region == "us-east-1"


def test_a_registry_delete_reads_which_sections_are_managed_never_their_contents() -> None:
    spec = {"deletionPolicy": "Delete", "registryPolicy": {"policyText": '{"Statement": "abc"}'}, "scanning": {}}
    desired = desired_registry_for_delete(spec, {"region": "eu-west-1", "registryId": OWN}, "dr", SETTINGS)
    assert desired.region == "eu-west-1" and desired.deletion_policy == "Delete"
    assert desired.replication is None and desired.scanning is not None and desired.registry_policy is not None


def test_a_registry_with_aws_role_arn_claims_the_roles_account_and_the_recorded_region() -> None:
    obj = {
        "metadata": {"name": "dr", "creationTimestamp": "t"},
        "spec": {"awsRoleArn": ROLE_B, "region": "us-east-1"},
        "status": {"region": "eu-west-1", "registryId": "222233334444"},
    }
    assert (claim_of(obj, "us-west-2").account, claim_of(obj, "us-west-2").region) == ("222233334444", "eu-west-1")


def test_with_aws_role_arn_another_recorded_account_is_refused_naming_the_role() -> None:
    pinned = RegistryPlacement(OWN, "eu-west-1")
    refused = registry_moved(pinned, "eu-west-1", "222233334444", region_from_spec=False, role_arn=ROLE_B)
    assert refused is not None and refused.reason == Reason.ACCOUNT_CHANGED
    assert "spec.awsRoleArn" in refused.message and "immutable" in refused.message
    assert (
        registry_moved(
            RegistryPlacement("222233334444", "eu-west-1"),
            "eu-west-1",
            "222233334444",
            region_from_spec=False,
            role_arn=ROLE_B,
        )
        is None
    )


def test_a_registry_delete_reads_the_role_and_which_item_lists_are_managed_never_their_contents() -> None:
    broken_rule = {"ecrRepositoryPrefix": "x", "upstreamRegistryUrl": "quay.io", "credentialArn": "not an ARN"}
    spec = {"awsRoleArn": ROLE_B, "deletionPolicy": "Delete", "pullThroughCacheRules": [broken_rule]}
    desired = desired_registry_for_delete(spec, {"region": "eu-west-1", "registryId": "222233334444"}, "dr", SETTINGS)
    assert desired.role_arn == ROLE_B and desired.region == "eu-west-1"
    assert desired.pull_through_cache_rules == () and desired.creation_templates is None


# -- the EcrRepository controller's delete: which place and identity it acts with (no AWS: the delete is recorded) --


class _Clients:
    """ClientFactory's surface the delete uses; ``for_region`` hands out (region, role) instead of clients."""

    def known_account(self, role_arn: str | None) -> str | None:
        return accounts(role_arn)

    def account(self, role_arn: str | None) -> str:
        return accounts(role_arn)

    def region_refusal(self, region: str) -> None:
        return None

    def for_region(self, region: str, role_arn: str | None = None) -> tuple[str, str | None]:
        return (region, role_arn)


class _Host:
    """Runs what the delete runs, except the AWS delete itself, which it records."""

    def __init__(self) -> None:
        self.deleted: list[tuple[Any, Any]] = []

    async def run(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        if fn is repository_kind.delete:
            clients, desired, _creation = args
            self.deleted.append((clients, desired))
            return DeleteOutcome()
        return fn(*args, **kwargs)


def _delete(status: dict[str, Any], spec: dict[str, Any], role: str | None) -> tuple[_Host, Any]:
    settings = Settings(region="us-east-1", required_tags=(), require_account_mapping=True)
    controller = repository_kind.RepositoryController(settings, _Clients())
    controller.namespace("team", {} if role is None else {AWS_ROLE_ARN_ANNOTATION: role})
    subject = Subject(uid="u", name="app", namespace="team", generation=3, spec=spec, status=status, annotations={})
    host = _Host()
    deleted = asyncio.run(controller.delete(subject, host))
    return host, deleted


def test_a_delete_after_the_mapping_is_removed_cleans_the_recorded_place_with_the_recorded_role() -> None:
    spec = {"repositoryName": "team/app", "lifecycle": {"policyText": NOT_JSON}}
    host, _ = _delete(status_of(HERE), spec, role=None)
    [(clients, desired)] = host.deleted
    assert clients == ("eu-west-1", ROLE_B), "the recorded region and role, not the default region or no role"
    assert desired.repository_name == "team/app"


def test_a_delete_with_nothing_recorded_and_no_mapping_lets_go_without_aws() -> None:
    host, deleted = _delete({}, {"repositoryName": "team/app"}, role=None)
    assert host.deleted == [] and "no place recorded" in str(deleted.skipped)


def test_a_delete_with_a_key_creation_but_no_place_keeps_the_finalizer_rather_than_claim_nothing_exists() -> None:
    status = {"keyCreation": {"token": "t-1"}}
    with pytest.raises(OperatorError) as refused:
        _delete(status, {"repositoryName": "team/app"}, role=None)
    assert refused.value.reason == Reason.ACCOUNT_NOT_MAPPED


def test_a_delete_no_identity_reaches_keeps_the_finalizer_with_account_changed_before_any_aws_call() -> None:
    own_role_less = Placement("222233334444", "eu-west-1", "team/app", None)
    with pytest.raises(OperatorError) as refused:
        _delete(status_of(own_role_less), {"repositoryName": "team/app"}, role=ROLE_C)
    assert refused.value.reason == Reason.ACCOUNT_CHANGED
