"""What the API server refuses (schema + CEL) and what the operator refuses (required tags, ownership)."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest
from operator_env import (
    RESYNC_SECONDS,
    Namespace,
    seed_spec,
)
from support import unique, wait_for

pytestmark = pytest.mark.e2e


def _refused(call: Any, *args: Any) -> str:
    with pytest.raises(kubernetes.client.ApiException) as refused:
        call(*args)
    assert refused.value.status == 422, refused.value.body
    body = json.loads(refused.value.body)
    assert body["reason"] == "Invalid"
    message: str = body["message"]
    return message


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        ({"repositoryName": "renamed"}, "spec.repositoryName", "spec.repositoryName is immutable"),
        ({"region": "us-east-1"}, "spec.region", "spec.region is immutable"),
        ({"encryption": {"type": "AES256"}}, "spec.encryption.type", "spec.encryption.type is immutable"),
    ],
    ids=["repositoryName", "region", "encryption.type"],
)
def test_immutable_fields_are_refused(ns: Namespace, patch: dict[str, Any], field: str, message: str) -> None:
    name = "fixed"
    created = ns.create(name, seed_spec(unique("immutable")))
    text = _refused(ns.patch_spec, name, patch)
    assert field in text and message in text, text
    # Nothing changed: same generation, same spec.
    current = ns.must_get(name)
    assert current["metadata"]["generation"] == created["metadata"]["generation"]
    assert current["spec"] == created["spec"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"crossAccountPull": {"enabled": True, "allowedAccountIds": []}},
            "spec.crossAccountPull.allowedAccountIds",
            "must list at least one entry when enabled",
        ),
        (
            {"crossAccountPull": {"enabled": True, "allowedAccountIds": ["12345"]}},
            "spec.crossAccountPull.allowedAccountIds[0]",
            "should match",
        ),
        (
            {"encryption": {"type": "KMS", "deletionWindowInDays": 31}},
            "spec.encryption.deletionWindowInDays",
            "should be less than or equal to 30",
        ),
        ({"repositoryName": "Not_Valid"}, "spec.repositoryName", "should match"),
        ({"lifecycle": {}}, "spec.lifecycle", "needs maxImageCount, expireUntaggedAfterDays or policyText"),
    ],
    ids=["pull-without-accounts", "bad-account-id", "deletion-window-31", "bad-name", "empty-lifecycle"],
)
def test_invalid_create_is_refused(ns: Namespace, change: dict[str, Any], field: str, message: str) -> None:
    spec = {**seed_spec(unique("invalid")), **change}
    text = _refused(ns.create, "invalid", spec)
    assert field in text and message in text, text
    assert ns.get("invalid") is None


def test_missing_required_tag_creates_nothing(ns: Namespace) -> None:
    name, repository = "untagged", unique("untagged")
    spec = seed_spec(repository)
    del spec["tags"]["cost_center"]
    ns.create(name, spec)

    obj = ns.wait_condition(name, "False", "MissingRequiredTags")
    assert "cost_center" in ns.ready_condition(obj)["message"]
    [warning, *_] = ns.wait_event(name, "MissingRequiredTags", "Warning")
    assert "cost_center" in warning.message
    aws = ns.env.aws
    assert aws.repository(repository) is None
    assert aws.alias_target(repository) is None
    assert aws.owned_keys(ns.name, name) == []

    # Fixing the spec makes it converge.
    generation = ns.patch_spec(name, {"tags": {"cost_center": "engineering"}})["metadata"]["generation"]
    ns.wait_condition(name, "True", "Synced", generation=generation)
    assert aws.repository(repository) is not None
    assert len(aws.owned_keys(ns.name, name)) == 1


def test_default_settings_never_adopt_nor_delete_a_foreign_repository(ns: Namespace) -> None:
    """Adoption is off by default: asking for it changes nothing, and deleting the resource (even with
    forceDelete) leaves the repository, its images and its tags as they were."""
    name, repository = "legacy", unique("legacy")
    aws = ns.env.aws
    # Made by someone else: AES256, no lifecycle policy, no ownership tags, one image.
    aws.ecr.create_repository(
        repositoryName=repository,
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": False},
        encryptionConfiguration={"encryptionType": "AES256"},
        tags=[{"Key": "owner", "Value": "someone-else"}],
    )
    digest = aws.put_image(repository)
    before = (aws.snapshot(repository), aws.images(repository))
    assert before[1] == [{"imageDigest": digest, "imageTag": "v1"}]

    def untouched() -> None:
        assert (aws.snapshot(repository), aws.images(repository)) == before
        assert aws.alias_target(repository) is None
        assert aws.owned_keys(ns.name, name) == []

    spec = seed_spec(repository)
    spec.update(encryption={"type": "AES256"}, deletionPolicy="Delete", forceDelete=True)
    ns.create(name, spec)
    obj = ns.wait_condition(name, "False", "RepositoryNotOwned")
    message = ns.ready_condition(obj)["message"]
    assert "ecr.platform.dev/adopt" in message and "allowed by the platform" in message, message
    untouched()

    # Asking to adopt it: refused, with who can allow it; retried by the resync and still untouched.
    ns.patch(name, {"metadata": {"annotations": {"ecr.platform.dev/adopt": "true"}}})
    obj = ns.wait_condition(name, "False", "AdoptionNotAllowed")
    message = ns.ready_condition(obj)["message"]
    assert "platform team" in message and "--adoption" in message, message
    assert not (obj.get("status") or {}).get("adopted")
    ns.wait_event(name, "AdoptionNotAllowed", "Warning")
    _wait_for_another_attempt(ns, name, "AdoptionNotAllowed")
    untouched()

    ns.delete(name)
    ns.wait_gone(name)
    untouched()


def _wait_for_another_attempt(ns: Namespace, name: str, reason: str) -> None:
    """Until the operator has looked at the resource once more (a new warning), or one resync interval passed."""

    def attempts() -> int:
        return sum(e.count or 1 for e in ns.events(name, reason=reason, type_="Warning"))

    first = attempts()

    def another() -> bool:
        return attempts() > first

    wait_for(another, f"another {reason} attempt", timeout=RESYNC_SECONDS * 4, context=ns.context)
