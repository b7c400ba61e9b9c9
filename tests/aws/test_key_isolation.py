"""Keys are never shared by accident: distinct names get distinct aliases, a tenant cannot borrow another
resource's managed key, a key still used by any repository is never scheduled for deletion, and a delete cleans
the resource's own key and alias whatever became of the repository name (and never anyone else's)."""

from __future__ import annotations

import pytest
from aws_harness import ALIAS, NAME, PartsHarness

from ecr_operator.core.errors import OperatorError
from ecr_operator.repository.render import key_alias_for, legacy_key_alias_for


def test_dot_and_underscore_names_get_their_own_keys(aws: PartsHarness) -> None:
    dotted = aws.desired({"repositoryName": "team/app.v1"}, name="dotted")
    underscored = aws.desired({"repositoryName": "team/app_v1"}, name="underscored")
    for desired in (dotted, underscored):
        outcome = aws.reconcile(desired)
        assert outcome.problems == []
        aws.assert_in_sync(desired)
    first, second = aws.alias_target(key_alias_for("team/app.v1")), aws.alias_target(key_alias_for("team/app_v1"))
    assert first and second and first != second
    assert aws.existing_repository("team/app.v1")["encryptionConfiguration"]["kmsKey"].endswith(first)
    assert aws.existing_repository("team/app_v1")["encryptionConfiguration"]["kmsKey"].endswith(second)


def _legacy_resource(aws: PartsHarness, repository_name: str, name: str) -> str:
    """What the first alias scheme left: key, old alias, repository encrypted with the key."""
    desired = aws.desired({"repositoryName": repository_name}, name=name)
    tags = [{"TagKey": k, "TagValue": v} for k, v in desired.tags.items()]
    key = aws.kms.create_key(Tags=tags)["KeyMetadata"]
    aws.kms.create_alias(AliasName=legacy_key_alias_for(repository_name), TargetKeyId=key["KeyId"])
    aws.kms.enable_key_rotation(KeyId=key["KeyId"])
    aws.ecr.create_repository(
        repositoryName=repository_name,
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key["Arn"]},
        tags=[{"Key": k, "Value": v} for k, v in desired.tags.items()],
    )
    return str(key["KeyId"])


def test_a_key_of_the_first_alias_scheme_is_kept_and_realiased(aws: PartsHarness) -> None:
    key_id = _legacy_resource(aws, "team/app.v1", "legacy")
    desired = aws.desired({"repositoryName": "team/app.v1"}, name="legacy")

    aws.reconcile(desired)
    assert "kms:CreateKey" not in aws.calls.writes, "no new key for an existing resource"
    assert aws.alias_target(key_alias_for("team/app.v1")) == key_id
    assert aws.alias_target(legacy_key_alias_for("team/app.v1")) is None, "our old alias is removed"
    aws.assert_in_sync(desired)

    # The name that collided under the old scheme now gets its own key.
    other = aws.desired({"repositoryName": "team/app_v1"}, name="other")
    assert aws.reconcile(other).problems == []
    assert aws.alias_target(key_alias_for("team/app_v1")) not in (None, key_id)


def test_an_old_alias_of_another_resource_is_left_alone(aws: PartsHarness) -> None:
    """team/app.v1's key still carries alias/ecr/team/app_v1 (not migrated yet): team/app_v1 neither uses nor
    removes it."""
    key_id = _legacy_resource(aws, "team/app.v1", "legacy")
    other = aws.desired({"repositoryName": "team/app_v1"}, name="other")
    assert aws.reconcile(other).problems == []
    assert aws.alias_target(legacy_key_alias_for("team/app_v1")) == key_id
    assert aws.alias_target(key_alias_for("team/app_v1")) != key_id


def test_another_resources_managed_key_is_refused(aws: PartsHarness) -> None:
    owner = aws.desired({"repositoryName": "team-a/app"}, namespace="team-a", name="app")
    aws.reconcile(owner)
    key_arn = aws.key(str(aws.alias_target(key_alias_for("team-a/app"))))["Arn"]

    tenant = aws.desired({"repositoryName": "team-b/app", "encryption": {"kmsKeyArn": key_arn}}, namespace="team-b")
    with pytest.raises(OperatorError) as raised:
        aws.reconcile(tenant)
    assert raised.value.reason == "KmsKeyNotOwned" and not raised.value.retryable
    assert "team-a/app" in raised.value.message
    assert aws.calls.writes == []
    assert aws.repository("team-b/app") is None


def test_a_key_that_is_nobodys_managed_key_may_be_brought(aws: PartsHarness) -> None:
    key_arn = aws.kms.create_key(Tags=[{"TagKey": "team", "TagValue": "b"}])["KeyMetadata"]["Arn"]
    tenant = aws.desired({"repositoryName": "team-b/app", "encryption": {"kmsKeyArn": key_arn}}, namespace="team-b")
    assert aws.reconcile(tenant).problems == []
    assert aws.existing_repository("team-b/app")["encryptionConfiguration"]["kmsKey"] == key_arn


def test_a_key_still_used_by_a_repository_is_never_scheduled_for_deletion(aws: PartsHarness) -> None:
    owner = aws.desired({"repositoryName": "team-a/app"}, namespace="team-a", name="app")
    aws.reconcile(owner)
    key_id = str(aws.alias_target(key_alias_for("team-a/app")))
    key_arn = aws.key(key_id)["Arn"]
    # Tied to the key out of band (or before the operator refused it).
    aws.ecr.create_repository(
        repositoryName="team-b/app", encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key_arn}
    )

    outcome = aws.delete(owner)
    assert aws.repository("team-a/app") is None
    assert aws.key(key_id)["KeyState"] == "Enabled", "the key stays"
    assert "kms:ScheduleKeyDeletion" not in aws.calls.writes
    assert outcome.key_kept is not None and "team-b/app" in outcome.key_kept
    assert aws.alias_target(key_alias_for("team-a/app")) is None, "the deleted resource's alias goes"


# -- a delete cleans this resource's own key and alias, whatever became of the repository name -------------------


def _taken_by_someone_else(aws: PartsHarness, kms_key: str | None = None) -> dict[str, object]:
    """The name now holds a repository of another resource (its ownership tags); returns what it looks like."""
    if aws.repository() is not None:
        aws.ecr.delete_repository(repositoryName=NAME, force=True)
    encryption = {"encryptionType": "KMS", "kmsKey": kms_key} if kms_key else {"encryptionType": "AES256"}
    theirs = aws.desired(namespace="team-b", name="theirs")
    aws.ecr.create_repository(
        repositoryName=NAME,
        encryptionConfiguration=encryption,
        tags=[{"Key": k, "Value": v} for k, v in theirs.tags.items()],
    )
    return {"repository": aws.existing_repository(), "tags": aws.repository_tags()}


@pytest.mark.parametrize("name_now", ["someone-elses", "gone", "never-created", "never-created-then-someone-elses"])
def test_delete_cleans_its_own_key_and_alias_whatever_became_of_the_name(aws: PartsHarness, name_now: str) -> None:
    desired = aws.desired({"encryption": {"deletionWindowInDays": 7}})
    if name_now.startswith("never-created"):
        undo = aws.crash_after(3)  # CreateKey, CreateAlias, EnableKeyRotation; dies before CreateRepository
        with pytest.raises(OperatorError):
            aws.reconcile(desired)
        undo()
        assert aws.repository() is None
    else:
        aws.reconcile(desired)
    key_id = aws.alias_target(ALIAS)
    assert key_id is not None
    theirs = None
    if name_now.endswith("someone-elses"):
        theirs = _taken_by_someone_else(aws)
    elif name_now == "gone":
        aws.ecr.delete_repository(repositoryName=NAME, force=True)

    outcome = aws.delete(desired)
    assert aws.calls.writes == ["kms:ScheduleKeyDeletion", "kms:DeleteAlias"]
    assert aws.key(key_id)["KeyState"] == "PendingDeletion"
    assert aws.alias_target(ALIAS) is None, "the name's alias is free for whoever owns the name now"
    assert outcome.key_kept is None
    if theirs is not None:
        assert outcome.skipped is not None and "not owned" in outcome.skipped
        assert {"repository": aws.existing_repository(), "tags": aws.repository_tags()} == theirs, "left untouched"


def test_delete_keeps_its_key_while_someone_elses_repository_under_the_name_uses_it(aws: PartsHarness) -> None:
    desired = aws.desired()
    aws.reconcile(desired)
    key_id = str(aws.alias_target(ALIAS))
    theirs = _taken_by_someone_else(aws, kms_key=aws.key(key_id)["Arn"])

    outcome = aws.delete(desired)
    assert aws.calls.writes == ["kms:DeleteAlias"]
    assert aws.key(key_id)["KeyState"] == "Enabled", "their images stay readable"
    assert outcome.key_kept is not None and NAME in outcome.key_kept
    assert aws.alias_target(ALIAS) is None
    assert {"repository": aws.existing_repository(), "tags": aws.repository_tags()} == theirs


def test_delete_never_touches_the_key_and_alias_of_the_resource_that_owns_the_name(aws: PartsHarness) -> None:
    """Another resource owns the repository and its managed key under the name; ours was refused all along."""
    owner = aws.desired(namespace="team-b", name="theirs")
    aws.reconcile(owner)
    key_id = aws.alias_target(ALIAS)
    refused = aws.desired()
    with pytest.raises(OperatorError) as raised:
        aws.reconcile(refused)
    assert raised.value.reason == "RepositoryNotOwned"

    aws.delete(refused)
    assert aws.calls.writes == []
    assert aws.alias_target(ALIAS) == key_id and aws.key(str(key_id))["KeyState"] == "Enabled"
    aws.assert_in_sync(owner)
