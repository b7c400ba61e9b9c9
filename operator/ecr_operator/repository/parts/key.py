"""The KMS key part: the key the operator creates for a repository, or the one the user brings (read, never
written). All KMS decisions live here; see ``core/part.py`` for the part protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from ecr_operator.core.actions import NEW_KEY_ARN, NEW_KEY_ID, Action, Plan, read
from ecr_operator.core.aws import AwsClients
from ecr_operator.core.compare import tag_changes, tags_from_list
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.repository.render import Desired, Owner, owner_from_tags
from ecr_operator.repository.view import RegionView

PENDING_DELETION = "PendingDeletion"


@dataclass(frozen=True)
class ObservedKey:
    key_id: str
    arn: str
    state: str
    rotation_enabled: bool
    tags: dict[str, str]
    has_alias: bool
    legacy_alias: str | None = None
    """The first naming scheme's alias, pointing at this key: replaced by ``key_alias`` (ours, so removed)."""

    @property
    def owner(self) -> Owner | None:
        return owner_from_tags(self.tags)


@dataclass(frozen=True)
class KeyCreation:
    """A CreateKey this resource may have sent, recorded in its status before the call.

    The key's description carries ``token``; ``key_id`` is recorded as soon as CreateKey answers. After a crash
    anywhere in between, the next pass finds that key by strongly consistent reads instead of making a second one.
    """

    token: str
    key_id: str | None = None


@dataclass(frozen=True)
class UserKey:
    """The key the user brings, read before the repository is created with it (nothing else is ever read)."""

    arn: str
    state: str | None
    """None when it does not exist or is not visible."""
    tags: dict[str, str]

    @property
    def owner(self) -> Owner | None:
        return owner_from_tags(self.tags)


@dataclass(frozen=True)
class KeyDeps:
    """What the key part needs from the repository part's observation."""

    repository_exists: bool
    repository_key: str | None
    """The key ARN the existing repository is encrypted with."""
    token: str
    """The creation token for a new key's description (the recorded one, or a fresh one)."""
    creation: KeyCreation | None = None
    """The key creation an earlier pass recorded in status: where to look for a key it may have left behind."""
    rotation: bool = True
    """Read the key's rotation (a delete needs only its state and ownership)."""


@dataclass
class KeyPlan(Plan):
    key_arn: str | None = None
    """Output: the key the repository is (or will be) encrypted with, NEW_KEY_ARN for one still to create;
    None for AES256."""


CREATION_MARK = "ecr-operator creation"
"""Ends a managed key's description, followed by the token of the creation that made it."""


def creation_description(desired: Desired, token: str) -> str:
    return f"ECR repository {desired.repository_name} ({desired.owner.describe()}); {CREATION_MARK} {token}"


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


def _created_with(metadata: Mapping[str, object] | None, token: str) -> bool:
    """The key a recorded creation made: its description ends with the creation's token, and it is not pending
    deletion (a key discarded after a lost alias race, or one of an earlier life of the resource)."""
    if not metadata or metadata.get("KeyState") == PENDING_DELETION:
        return False
    return str(metadata.get("Description", "")).endswith(f"{CREATION_MARK} {token}")


def _find_key_by_tags(clients: AwsClients, owner: Owner, token: str) -> ObservedKey | None:
    """After a crash between CreateKey and recording the key id, the key among those carrying the owner's tags.

    One Resource Groups Tagging API call lists every key with the owner's tags, whatever the number of keys in the
    account. The owner's tags alone do not say which creation made a key: a resource deleted with Retain and
    re-created keeps its earlier key, with the same tags. Only the key whose description carries the token counts.
    """
    tag_filters = [{"Key": key, "Values": [value]} for key, value in owner.tags().items()]
    for page in clients.tagging.get_paginator("get_resources").paginate(
        ResourceTypeFilters=["kms:key"], TagFilters=tag_filters
    ):
        for resource in page.get("ResourceTagMappingList", []):
            metadata = _describe(clients, resource["ResourceARN"])
            if metadata is not None and _created_with(metadata, token):
                return _observe_metadata(clients, metadata, has_alias=False)
    return None


def _find_key_by_token(clients: AwsClients, token: str) -> ObservedKey | None:
    """The key whose description carries ``token``: ListKeys and DescribeKey are strongly consistent.

    One DescribeKey per key in the account, so only used after a crash during a recorded key creation when
    the key id was not recorded and the tagging index (eventually consistent) does not show the key yet.
    """
    for page in clients.kms.get_paginator("list_keys").paginate():
        for listed in page.get("Keys", []):
            metadata = _describe(clients, listed["KeyId"])
            if metadata is not None and _created_with(metadata, token):
                return _observe_metadata(clients, metadata, has_alias=False)
    return None


def _find_created_key(clients: AwsClients, desired: Desired, creation: KeyCreation) -> ObservedKey | None:
    """The key a recorded creation made, if the CreateKey call reached KMS at all: by the recorded key id, else
    among the owner's tagged keys, else among all keys; always the one whose description carries the token."""
    if creation.key_id is not None:
        metadata = _describe(clients, creation.key_id)
        if metadata is None or not _created_with(metadata, creation.token):
            return None
        return _observe_metadata(clients, metadata, has_alias=False)
    return _find_key_by_tags(clients, desired.owner, creation.token) or _find_key_by_token(clients, creation.token)


def _observe_user_key(clients: AwsClients, key_arn: str) -> UserKey:
    metadata = _describe(clients, key_arn)
    if metadata is None:
        return UserKey(key_arn, None, {})
    tags = tags_from_list(read(clients, "kms", "list_resource_tags", KeyId=key_arn).get("Tags"), "TagKey", "TagValue")
    return UserKey(key_arn, str(metadata.get("KeyState", "")), tags)


def _user_key_refusal(desired: Desired, key: UserKey) -> OperatorError | None:
    """A key the user brings must exist, be usable and not be another resource's managed key.

    A key the operator made for another resource is scheduled for deletion when that resource goes, which
    would leave this repository's images unreadable: refused before anything is created.
    """
    if key.state is None:
        return OperatorError(Reason.KMS_KEY_NOT_FOUND, f"KMS key {key.arn} does not exist or is not visible")
    if key.state != "Enabled":
        return OperatorError(Reason.KMS_KEY_UNAVAILABLE, f"KMS key {key.arn} is {key.state}, not Enabled")
    if key.owner is not None and key.owner != desired.owner:
        return OperatorError(
            Reason.KMS_KEY_NOT_OWNED,
            f"spec.encryption.kmsKeyArn {key.arn} is the key ecr-operator manages for {key.owner.describe()}; it is "
            "deleted with that resource, which would make this repository's images unreadable: bring a key of "
            "your own",
        )
    return None


def _alias_refusal(desired: Desired, observed: ObservedKey) -> OperatorError | None:
    if observed.owner == desired.owner:
        return None
    holder = observed.owner.describe() if observed.owner else "no ecr-operator owner"
    return OperatorError(
        Reason.KMS_ALIAS_TAKEN,
        f"KMS alias {desired.key_alias} points at key {observed.key_id} owned by {holder}",
    )


def observe(
    clients: AwsClients, desired: Desired, deps: KeyDeps, view: RegionView | None = None
) -> ObservedKey | UserKey | None:
    """The key this resource's repository uses or will use (reads only); the resync's ``view`` has its tags."""
    if desired.user_kms_key_arn is not None:
        # Checked before the repository is created with it; afterwards the repository's encryption says it all.
        return None if deps.repository_exists else _observe_user_key(clients, desired.user_kms_key_arn)
    if not desired.manages_key:
        return None
    known_tags = view.key_tags if view is not None else None
    return _observe_managed(
        clients, desired, deps.repository_key, known_tags, rotation=deps.rotation, creation=deps.creation
    )


def plan(desired: Desired, observed: ObservedKey | UserKey | None, deps: KeyDeps) -> KeyPlan:
    """Which key the repository uses and what the operator's own key needs; never a key ECR could not use."""
    if desired.user_kms_key_arn is not None:
        refusal = _user_key_refusal(desired, observed) if isinstance(observed, UserKey) else None
        return KeyPlan(refusal=refusal, key_arn=desired.user_kms_key_arn)
    if not desired.manages_key or isinstance(observed, UserKey):
        return KeyPlan()
    if observed is not None and observed.owner != desired.owner and deps.repository_key is not None:
        # The repository already uses a key we did not create: leave that key alone, say so.
        problem = OperatorError(
            Reason.KMS_KEY_NOT_OWNED,
            f"repository {desired.repository_name} is encrypted with KMS key {deps.repository_key}, "
            "which ecr-operator does not own; its rotation and tags are not managed",
        )
        return KeyPlan(problems=[problem], key_arn=deps.repository_key)
    if observed is None and deps.repository_exists:
        # ECR cannot re-encrypt an existing repository: a new key could never be used, so make none.
        # (AES256 shows up as EncryptionMismatch in the repository plan.)
        problems = []
        if deps.repository_key is not None:
            problems.append(
                OperatorError(
                    Reason.KMS_KEY_NOT_FOUND,
                    f"repository {desired.repository_name} is encrypted with KMS key {deps.repository_key}, "
                    "which does not exist or is not visible",
                )
            )
        return KeyPlan(problems=problems, key_arn=deps.repository_key)
    if observed is None:
        return KeyPlan(actions=_create_actions(desired, deps.token), key_arn=NEW_KEY_ARN)
    refusal = _alias_refusal(desired, observed)
    if refusal is not None:
        return KeyPlan(refusal=refusal, key_arn=observed.arn)
    return KeyPlan(actions=_update_actions(desired, observed), key_arn=observed.arn)


def _create_actions(desired: Desired, token: str) -> list[Action]:
    actions = [
        Action(
            "kms",
            "create_key",
            {
                "Description": creation_description(desired, token),
                "KeyUsage": "ENCRYPT_DECRYPT",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "Tags": [{"TagKey": k, "TagValue": v} for k, v in sorted(desired.tags.items())],
            },
            f"create KMS key for {desired.repository_name}",
            produces=((NEW_KEY_ID, ("KeyMetadata", "KeyId")), (NEW_KEY_ARN, ("KeyMetadata", "Arn"))),
        ),
        Action(
            "kms",
            "create_alias",
            {"AliasName": desired.key_alias, "TargetKeyId": NEW_KEY_ID},
            f"create alias {desired.key_alias}",
        ),
    ]
    if desired.enable_key_rotation:
        actions.append(Action("kms", "enable_key_rotation", {"KeyId": NEW_KEY_ID}, "enable key rotation"))
    return actions


def _update_actions(desired: Desired, observed: ObservedKey) -> list[Action]:
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
    if observed.legacy_alias is not None:
        actions.append(_delete_alias(observed.legacy_alias))
    if observed.rotation_enabled != desired.enable_key_rotation:
        operation = "enable_key_rotation" if desired.enable_key_rotation else "disable_key_rotation"
        actions.append(Action("kms", operation, {"KeyId": key_id}, operation.replace("_", " ")))
    to_set, to_remove = tag_changes(desired.tags, observed.tags)
    # Removals first: a swap never holds more than AWS's 50 tags at once.
    if to_remove:
        actions.append(
            Action("kms", "untag_resource", {"KeyId": key_id, "TagKeys": to_remove}, f"remove key tags {to_remove}")
        )
    if to_set:
        actions.append(
            Action(
                "kms",
                "tag_resource",
                {"KeyId": key_id, "Tags": [{"TagKey": k, "TagValue": v} for k, v in sorted(to_set.items())]},
                f"set key tags {sorted(to_set)}",
            )
        )
    return actions


def plan_delete(
    desired: Desired, observed: ObservedKey | UserKey | None, deps: KeyDeps | None = None, *, keep_key: bool = False
) -> Plan:
    """Schedule deletion of our own key (unless ``keep_key``: other repositories use it), then drop its aliases;
    a key already pending deletion counts as deleted. A key the user brings is never touched."""
    if not desired.manages_key or not isinstance(observed, ObservedKey) or observed.owner != desired.owner:
        return Plan()
    actions = []
    if observed.state != PENDING_DELETION and not keep_key:
        actions.append(
            Action(
                "kms",
                "schedule_key_deletion",
                {"KeyId": observed.key_id, "PendingWindowInDays": desired.deletion_window_in_days},
                f"schedule deletion of key {observed.key_id} in {desired.deletion_window_in_days} days",
            )
        )
    if observed.has_alias:
        actions.append(_delete_alias(desired.key_alias))
    if observed.legacy_alias is not None:
        actions.append(_delete_alias(observed.legacy_alias))
    return Plan(actions)


def plan_discard() -> Plan:
    """Schedule deletion of the key created in this pass, whose alias someone else took meanwhile.

    Happens when two replicas race during a failover: the other replica's key won the alias. Ours was never
    used, so it goes (shortest window); the next pass adopts the aliased key.
    """
    return Plan(
        [
            Action(
                "kms",
                "schedule_key_deletion",
                {"KeyId": NEW_KEY_ID, "PendingWindowInDays": 7},
                "discard the unused key just created: its alias was taken by another key",
            )
        ]
    )


def _delete_alias(alias: str) -> Action:
    return Action("kms", "delete_alias", {"AliasName": alias}, f"delete alias {alias}")


def _observe_managed(
    clients: AwsClients,
    desired: Desired,
    repository_key: str | None,
    known_tags: Mapping[str, dict[str, str]] | None = None,
    *,
    rotation: bool = True,
    creation: KeyCreation | None = None,
) -> ObservedKey | None:
    """The managed key: by alias, by the key the existing repository uses, by the first scheme's alias, or
    (after a crash during a recorded creation) by the recorded key id, tags or creation token.

    ``known_tags`` (key ARN -> tags, from a batched read) saves the per-key tag read. Without a recorded
    creation nothing is searched: this resource never sent a CreateKey that could have left a key behind.
    """
    metadata = _describe(clients, desired.key_alias)
    if metadata is not None and (repository_key is None or metadata.get("Arn") == repository_key):
        return _observe_metadata(clients, metadata, has_alias=True, known_tags=known_tags, rotation=rotation)
    if repository_key is not None:
        repository_metadata = _describe(clients, repository_key)
        if repository_metadata is None:
            return None
        observed = _observe_metadata(
            clients, repository_metadata, has_alias=False, known_tags=known_tags, rotation=rotation
        )
        return _with_legacy_alias(clients, desired, observed)
    legacy = _observe_legacy_alias(clients, desired, rotation)
    if legacy is not None:
        return legacy
    return None if creation is None else _find_created_key(clients, desired, creation)


def _with_legacy_alias(clients: AwsClients, desired: Desired, observed: ObservedKey) -> ObservedKey:
    """Note the first scheme's alias when it points at this key (read only while the new alias is missing)."""
    if desired.legacy_key_alias is None:
        return observed
    metadata = _describe(clients, desired.legacy_key_alias)
    if metadata is None or metadata.get("KeyId") != observed.key_id:
        return observed
    return replace(observed, legacy_alias=desired.legacy_key_alias)


def _observe_legacy_alias(clients: AwsClients, desired: Desired, rotation: bool) -> ObservedKey | None:
    """A key of this resource made before the alias scheme changed, found by its old alias (no repository yet)."""
    if desired.legacy_key_alias is None:
        return None
    metadata = _describe(clients, desired.legacy_key_alias)
    if metadata is None or metadata.get("KeyState") == PENDING_DELETION:
        return None
    observed = _observe_metadata(clients, metadata, has_alias=False, rotation=rotation)
    if observed.owner != desired.owner:
        return None  # another repository's key under the old, shared alias: not ours to use or remove
    return replace(observed, legacy_alias=desired.legacy_key_alias)
