"""The KMS key the operator creates for a repository (never a key the user brings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..aws import AwsClients
from ..compare import tag_changes, tags_from_list
from ..errors import OperatorError
from ..render import Desired, Owner, owner_from_tags
from .actions import NEW_KEY, Action, call, read

PENDING_DELETION = "PendingDeletion"


@dataclass(frozen=True)
class ObservedKey:
    key_id: str
    arn: str
    state: str
    rotation_enabled: bool
    tags: dict[str, str]
    has_alias: bool

    @property
    def owner(self) -> Owner | None:
        return owner_from_tags(self.tags)


def _describe(clients: AwsClients, key_id: str) -> dict[str, object] | None:
    response = read(clients, "kms", "describe_key", ("NotFoundException",), KeyId=key_id)
    return None if response is None else response["KeyMetadata"]


def _observe_metadata(
    clients: AwsClients,
    metadata: dict[str, object],
    has_alias: bool,
    known_tags: Mapping[str, dict[str, str]] | None = None,
    rotation: bool = True,
) -> ObservedKey:
    """``rotation=False`` skips the rotation read (a delete needs only state and ownership)."""
    key_id = str(metadata["KeyId"])
    state = str(metadata.get("KeyState", ""))
    rotation_enabled = False
    if rotation and state != PENDING_DELETION:
        status = read(clients, "kms", "get_key_rotation_status", KeyId=key_id)
        rotation_enabled = bool(status.get("KeyRotationEnabled", False))
    tags = (known_tags or {}).get(str(metadata["Arn"]))
    if tags is None:
        response = read(clients, "kms", "list_resource_tags", KeyId=key_id)
        tags = tags_from_list(response.get("Tags"), "TagKey", "TagValue")
    return ObservedKey(key_id, str(metadata["Arn"]), state, rotation_enabled, tags, has_alias)


def _find_key_by_tags(clients: AwsClients, owner: Owner) -> ObservedKey | None:
    """After a crash between CreateKey and CreateAlias, find the key by its ownership tags.

    One Resource Groups Tagging API call finds every key carrying the owner's tags, whatever the number of
    keys in the account; keys already pending deletion belong to an earlier life of the resource.
    """
    tag_filters = [{"Key": key, "Values": [value]} for key, value in owner.tags().items()]
    for page in clients.tagging.get_paginator("get_resources").paginate(
        ResourceTypeFilters=["kms:key"], TagFilters=tag_filters
    ):
        for resource in page.get("ResourceTagMappingList", []):
            metadata = _describe(clients, resource["ResourceARN"])
            if metadata and metadata.get("KeyState") != PENDING_DELETION:
                return _observe_metadata(clients, metadata, has_alias=False)
    return None


def observe_user_key(clients: AwsClients, key_arn: str) -> None:
    """A key the user brings must exist and be usable; AWS would reject the repository otherwise."""
    metadata = _describe(clients, key_arn)
    if metadata is None:
        raise OperatorError("KmsKeyNotFound", f"KMS key {key_arn} does not exist or is not visible", retryable=False)
    if metadata.get("KeyState") != "Enabled":
        raise OperatorError(
            "KmsKeyUnavailable", f"KMS key {key_arn} is {metadata.get('KeyState')}, not Enabled", retryable=False
        )


def check_ownership(desired: Desired, observed: ObservedKey) -> None:
    if observed.owner != desired.owner:
        holder = observed.owner.describe() if observed.owner else "no ecr-operator owner"
        raise OperatorError(
            "KmsAliasTaken",
            f"KMS alias {desired.key_alias} points at key {observed.key_id} owned by {holder}",
            retryable=False,
        )


def plan(desired: Desired, observed: ObservedKey | None) -> list[Action]:
    if not desired.manages_key:
        return []
    if observed is None:
        actions = [
            Action(
                "kms",
                "create_key",
                {
                    "Description": f"ECR repository {desired.repository_name} ({desired.owner.describe()})",
                    "KeyUsage": "ENCRYPT_DECRYPT",
                    "KeySpec": "SYMMETRIC_DEFAULT",
                    "Tags": [{"TagKey": k, "TagValue": v} for k, v in sorted(desired.tags.items())],
                },
                f"create KMS key for {desired.repository_name}",
            ),
            Action(
                "kms",
                "create_alias",
                {"AliasName": desired.key_alias, "TargetKeyId": NEW_KEY},
                f"create alias {desired.key_alias}",
            ),
        ]
        if desired.enable_key_rotation:
            actions.append(Action("kms", "enable_key_rotation", {"KeyId": NEW_KEY}, "enable key rotation"))
        return actions

    check_ownership(desired, observed)
    key_id = observed.key_id
    actions = []
    if observed.state == PENDING_DELETION:
        actions.append(Action("kms", "cancel_key_deletion", {"KeyId": key_id}, "cancel the key's pending deletion"))
    if observed.state in (PENDING_DELETION, "Disabled"):
        actions.append(Action("kms", "enable_key", {"KeyId": key_id}, "enable the key"))
    if not observed.has_alias:
        actions.append(
            Action(
                "kms",
                "create_alias",
                {"AliasName": desired.key_alias, "TargetKeyId": key_id},
                f"create alias {desired.key_alias}",
            )
        )
    if observed.rotation_enabled != desired.enable_key_rotation:
        operation = "enable_key_rotation" if desired.enable_key_rotation else "disable_key_rotation"
        actions.append(Action("kms", operation, {"KeyId": key_id}, operation.replace("_", " ")))
    to_set, to_remove = tag_changes(desired.tags, observed.tags)
    if to_set:
        actions.append(
            Action(
                "kms",
                "tag_resource",
                {"KeyId": key_id, "Tags": [{"TagKey": k, "TagValue": v} for k, v in sorted(to_set.items())]},
                f"set key tags {sorted(to_set)}",
            )
        )
    if to_remove:
        actions.append(
            Action("kms", "untag_resource", {"KeyId": key_id, "TagKeys": to_remove}, f"remove key tags {to_remove}")
        )
    return actions


def plan_delete(desired: Desired, observed: ObservedKey | None) -> list[Action]:
    """Schedule deletion of our own key, then drop its alias; a key already pending deletion counts as deleted."""
    if not desired.manages_key or observed is None or observed.owner != desired.owner:
        return []
    actions = []
    if observed.state != PENDING_DELETION:
        actions.append(
            Action(
                "kms",
                "schedule_key_deletion",
                {"KeyId": observed.key_id, "PendingWindowInDays": desired.deletion_window_in_days},
                f"schedule deletion of key {observed.key_id} in {desired.deletion_window_in_days} days",
            )
        )
    if observed.has_alias:
        actions.append(
            Action("kms", "delete_alias", {"AliasName": desired.key_alias}, f"delete alias {desired.key_alias}")
        )
    return actions


def observe_for_repository(
    clients: AwsClients,
    desired: Desired,
    repository_key: str | None,
    known_tags: Mapping[str, dict[str, str]] | None = None,
    *,
    rotation: bool = True,
) -> ObservedKey | None:
    """The managed key: found by alias, by the key the existing repository uses, or (after a crash) by tags.

    ``known_tags`` (key ARN -> tags, from a batched read) saves the per-key tag read.
    """
    metadata = _describe(clients, desired.key_alias)
    if metadata is not None and (repository_key is None or metadata.get("Arn") == repository_key):
        return _observe_metadata(clients, metadata, has_alias=True, known_tags=known_tags, rotation=rotation)
    if repository_key is not None:
        repository_metadata = _describe(clients, repository_key)
        if repository_metadata is not None:
            return _observe_metadata(
                clients, repository_metadata, has_alias=False, known_tags=known_tags, rotation=rotation
            )
        return None
    return _find_key_by_tags(clients, desired.owner)


def discard_unaliased_new_key(clients: AwsClients, key_id: str) -> Action:
    """Schedule deletion of a key created in this pass whose alias someone else took meanwhile.

    Happens when two replicas race during a failover: the other replica's key won the alias. Ours was never
    used, so it goes (shortest window); the next pass adopts the aliased key.
    """
    action = Action(
        "kms",
        "schedule_key_deletion",
        {"KeyId": key_id, "PendingWindowInDays": 7},
        f"discard unused key {key_id}: its alias was taken by another key",
    )
    call(clients, action)
    return action
