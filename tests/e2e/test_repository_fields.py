"""Issue 23 item 3 on the real control plane: the operator process, moto over HTTP, changes made by hand with boto3.

For each field — tag-mutability exclusion filters, organization-wide pull, extra policy statements — the
resource converges, an in-sync resync makes no AWS write for it (moto's recorder), and a change behind the
operator's back is put back by the resync with a DriftCorrected event."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from admission_corpus import LAMBDA_PULL
from operator_env import RESYNC_SECONDS, MotoRecorder, Namespace, seed_spec
from support import unique, wait_for

pytestmark = pytest.mark.e2e

DRIFT_TIMEOUT = RESYNC_SECONDS * 5
ORG = "o-a1b2c3d4e5"
OU = f"{ORG}/r-ab12/ou-ab12-11111111/*"


def _no_write_while_in_sync(ns: Namespace, name: str, repository: str) -> None:
    """Two resyncs of the resource, recorded by moto: none writes anything of this repository."""
    recorder: MotoRecorder = ns.env.recorder
    before = ns.must_get(name)["status"]["lastSyncTime"]
    recorder.start()
    try:
        seen: list[str] = []

        def resynced_twice() -> bool:
            stamp = ns.must_get(name)["status"]["lastSyncTime"]
            if stamp != before and stamp not in seen:
                seen.append(stamp)
            return len(seen) >= 2

        wait_for(resynced_twice, "two resyncs", timeout=DRIFT_TIMEOUT * 2, context=ns.context)
    finally:
        calls = recorder.stop()
    assert any(repository in c["body"] for c in calls), "the resyncs did not read this repository"
    ours = [c for c in MotoRecorder.writes(calls) if repository in c["body"]]
    assert ours == [], f"AWS writes by an in-sync resync: {ours}"


def _corrected(ns: Namespace, name: str, check: Callable[[], bool], change: str) -> None:
    wait_for(check, "the drift to be corrected", timeout=DRIFT_TIMEOUT, context=ns.context)
    events = ns.wait_event(name, "DriftCorrected", "Normal")
    messages = " ".join(e.message for e in events)
    assert change in messages, messages


def _filters(ns: Namespace, repository: str) -> tuple[str, list[str]]:
    found = ns.env.aws.repository(repository)
    assert found is not None
    filters = sorted(f["filter"] for f in found.get("imageTagMutabilityExclusionFilters") or [])
    return found["imageTagMutability"], filters


def test_exclusion_filters_converge_stay_in_sync_and_come_back(ns: Namespace) -> None:
    name, repository = "exclusions", unique("excl")
    spec = seed_spec(repository)
    spec["imageTagMutability"] = "IMMUTABLE_WITH_EXCLUSION"
    spec["imageTagMutabilityExclusionFilters"] = [{"filter": "latest"}, {"filter": "dev-*"}]
    ns.create(name, spec)
    ns.wait_ready(name)
    assert _filters(ns, repository) == ("IMMUTABLE_WITH_EXCLUSION", ["dev-*", "latest"])

    _no_write_while_in_sync(ns, name, repository)

    ns.env.aws.ecr.put_image_tag_mutability(repositoryName=repository, imageTagMutability="IMMUTABLE")
    _corrected(
        ns,
        name,
        lambda: _filters(ns, repository) == ("IMMUTABLE_WITH_EXCLUSION", ["dev-*", "latest"]),
        "excluding tags",
    )

    # An update of the set converges too (and the API server fills filterType in).
    generation = ns.patch_spec(
        name,
        {"imageTagMutability": "MUTABLE_WITH_EXCLUSION", "imageTagMutabilityExclusionFilters": [{"filter": "v*"}]},
    )["metadata"]["generation"]
    ns.wait_condition(name, "True", "Synced", generation=generation)
    assert _filters(ns, repository) == ("MUTABLE_WITH_EXCLUSION", ["v*"])
    assert ns.must_get(name)["spec"]["imageTagMutabilityExclusionFilters"] == [
        {"filter": "v*", "filterType": "WILDCARD"}
    ]


def _statements(ns: Namespace, repository: str) -> dict[str | None, dict[str, Any]]:
    policy = ns.env.aws.policy(repository)
    assert policy is not None
    return {s.get("Sid"): s for s in policy["Statement"]}


def test_organization_pull_converges_stays_in_sync_and_comes_back(ns: Namespace) -> None:
    name, repository = "org-pull", unique("org")
    spec = seed_spec(repository)
    spec["crossAccountPull"] = {
        "enabled": True,
        "allowedAccountIds": ["111122223333"],
        "organizationIds": [ORG],
        "organizationPaths": [OU],
    }
    ns.create(name, spec)
    ns.wait_ready(name)
    statements = _statements(ns, repository)
    assert sorted(statements) == [
        "CrossAccountPull",
        "CrossAccountPullOrganizationalUnits",
        "CrossAccountPullOrganizations",
    ]
    assert statements["CrossAccountPullOrganizations"]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": [ORG]}}
    assert statements["CrossAccountPullOrganizationalUnits"]["Condition"] == {
        "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [OU]}
    }

    _no_write_while_in_sync(ns, name, repository)

    # By hand: only the accounts' statement is left.
    ns.env.aws.ecr.set_repository_policy(
        repositoryName=repository,
        policyText=json.dumps({"Version": "2012-10-17", "Statement": [statements["CrossAccountPull"]]}),
    )

    def back() -> bool:
        return sorted(_statements(ns, repository)) == sorted(statements)

    _corrected(ns, name, back, "cross-account pull policy")


def test_extra_statements_converge_stay_in_sync_and_come_back(ns: Namespace) -> None:
    name, repository = "extra-statements", unique("stmt")
    spec = seed_spec(repository)
    spec["crossAccountPull"] = {"enabled": True, "organizationIds": [ORG]}
    spec["repositoryPolicy"] = {"statements": [LAMBDA_PULL]}
    ns.create(name, spec)
    ns.wait_ready(name)
    statements = _statements(ns, repository)
    assert sorted(statements) == ["CrossAccountPullOrganizations", "LambdaPull"]
    assert statements["LambdaPull"] == LAMBDA_PULL

    _no_write_while_in_sync(ns, name, repository)

    # By hand: the Lambda statement allowed every ECR action.
    changed = dict(LAMBDA_PULL, Action=["ecr:*"])
    ns.env.aws.ecr.set_repository_policy(
        repositoryName=repository,
        policyText=json.dumps(
            {"Version": "2012-10-17", "Statement": [changed, statements["CrossAccountPullOrganizations"]]}
        ),
    )
    _corrected(
        ns,
        name,
        lambda: _statements(ns, repository)["LambdaPull"] == LAMBDA_PULL,
        "spec.repositoryPolicy statements",
    )

    # A reserved Sid never reaches the operator: the API server refuses it, naming the field.
    bad = dict(LAMBDA_PULL, Sid="CrossAccountPull")
    with pytest.raises(Exception) as caught:
        ns.patch_spec(name, {"repositoryPolicy": {"statements": [bad]}})
    assert "spec.repositoryPolicy.statements[0].Sid" in str(caught.value)
