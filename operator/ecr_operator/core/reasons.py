"""Every reason the operator writes into a condition or an Event: the public list, spelled once.

``PERMANENT`` reasons wait for a change (the spec, the Namespace, AWS permissions, someone else's resource);
the others are retried with backoff. The reason table in docs/behaviour.md is generated from ``DESCRIPTIONS``
(``ecr-operator reasons``) and a test keeps them equal.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # success and intent
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    OBSERVE_ONLY = "ObserveOnly"
    RECONCILING = "Reconciling"
    UPDATED = "Updated"
    DRIFT_CORRECTED = "DriftCorrected"
    ADOPTED = "Adopted"
    VULNERABILITIES_FOUND = "VulnerabilitiesFound"
    # the spec or the platform's settings refuse it
    INVALID_SPEC = "InvalidSpec"
    MISSING_REQUIRED_TAGS = "MissingRequiredTags"
    REPOSITORY_NAME_NOT_ALLOWED = "RepositoryNameNotAllowed"
    NAMESPACE_NOT_SEEN = "NamespaceNotSeen"
    ACCOUNT_NOT_MAPPED = "AccountNotMapped"
    ACCOUNT_ROLE_NOT_ASSUMABLE = "AccountRoleNotAssumable"
    ACCOUNT_CHANGED = "AccountChanged"
    REGION_CHANGED = "RegionChanged"
    REGION_NOT_ALLOWED = "RegionNotAllowed"
    # ownership
    REPOSITORY_NOT_OWNED = "RepositoryNotOwned"
    ADOPTION_NOT_ALLOWED = "AdoptionNotAllowed"
    KMS_KEY_NOT_OWNED = "KmsKeyNotOwned"
    KMS_ALIAS_TAKEN = "KmsAliasTaken"
    EXPORT_CONFIG_MAP_NOT_OWNED = "ExportConfigMapNotOwned"
    REGISTRY_ALREADY_MANAGED = "RegistryAlreadyManaged"
    REGISTRY_ITEM_NOT_OWNED = "RegistryItemNotOwned"
    # what AWS holds cannot become what the spec says
    ENCRYPTION_MISMATCH = "EncryptionMismatch"
    KMS_KEY_NOT_FOUND = "KmsKeyNotFound"
    KMS_KEY_UNAVAILABLE = "KmsKeyUnavailable"
    KMS_KEY_INVALID_STATE = "KmsKeyInvalidState"
    KMS_KEY_IN_USE = "KmsKeyInUse"
    REPOSITORY_NOT_EMPTY = "RepositoryNotEmpty"
    # AWS answered with an error
    ACCESS_DENIED = "AccessDenied"
    INVALID_PARAMETER = "InvalidParameter"
    AWS_LIMIT_EXCEEDED = "AwsLimitExceeded"
    AWS_ERROR = "AwsError"
    THROTTLED = "Throttled"
    AWS_UNAVAILABLE = "AwsUnavailable"
    AWS_UNREACHABLE = "AwsUnreachable"
    AWS_CLIENT_ERROR = "AwsClientError"
    ALREADY_EXISTS = "AlreadyExists"
    POLICY_REJECTED = "PolicyRejected"
    # the operator itself
    STATUS_NOT_WRITABLE = "StatusNotWritable"
    INTERNAL_ERROR = "InternalError"
    EVENTS_QUEUE_UNREADABLE = "EventsQueueUnreadable"


DESCRIPTIONS: dict[Reason, str] = {
    Reason.SYNCED: "Ready: AWS matches the spec (Synced=True: the last pass reached AWS and applied its plan)",
    Reason.OUT_OF_SYNC: "observe-only resource whose AWS side differs: see status.plannedChanges",
    Reason.OBSERVE_ONLY: "Synced reason of an observe-only pass: AWS was read, nothing written",
    Reason.RECONCILING: "Ready reason before the first successful pass, while a retried error is pending",
    Reason.UPDATED: "Normal event: a create or update pass wrote to AWS (the message lists the writes)",
    Reason.DRIFT_CORRECTED: "Normal event: a resync corrected a change made outside Kubernetes",
    Reason.ADOPTED: "Normal event: the resource adopted an existing repository (see status.adopted)",
    Reason.VULNERABILITIES_FOUND: "Warning event: the newest image's scan has CRITICAL or HIGH findings "
    "(once per image and change of counts; see status.scan)",
    Reason.INVALID_SPEC: "the spec breaks a rule only the operator checks (tag keys and values, a raw policy "
    "that is not JSON or not a policy); the message names the field, and for JSON the line and column",
    Reason.MISSING_REQUIRED_TAGS: "spec.tags lacks a tag key the platform requires (--required-tags)",
    Reason.REPOSITORY_NAME_NOT_ALLOWED: "the namespace-prefix name policy forbids this repositoryName here",
    Reason.NAMESPACE_NOT_SEEN: "the operator has not seen the resource's Namespace yet (retried within seconds; "
    "no Warning event: its own watch lags, nothing is wrong with the resource)",
    Reason.ACCOUNT_NOT_MAPPED: "the Namespace has no ecr.platform.dev/aws-role-arn; --require-account-mapping is set",
    Reason.ACCOUNT_ROLE_NOT_ASSUMABLE: "the Namespace's AWS role (ecr.platform.dev/aws-role-arn) cannot be assumed",
    Reason.ACCOUNT_CHANGED: "the resource lives in the account recorded in status.account, and its Namespace now maps "
    "elsewhere (or, on delete, no identity of the operator reaches that account): nothing is created in the new one",
    Reason.REGION_CHANGED: "the resource lives in the region recorded in status.region, and the operator's default "
    "region (--region) is now another: nothing is created in the new one",
    Reason.REGION_NOT_ALLOWED: "spec.region (or --region) is not an AWS region offering ECR and KMS, or not in "
    "--allowed-regions; nothing is sent to AWS",
    Reason.REPOSITORY_NOT_OWNED: "the repository exists and belongs to someone else (or to nobody, not adopted)",
    Reason.ADOPTION_NOT_ALLOWED: "the resource asks to adopt, but the platform's --adoption setting does not allow it",
    Reason.KMS_KEY_NOT_OWNED: "the key is another resource's managed key (kmsKeyArn) or not the operator's",
    Reason.KMS_ALIAS_TAKEN: "the resource's key alias points at a key another owner created",
    Reason.EXPORT_CONFIG_MAP_NOT_OWNED: "spec.export.configMapName names a ConfigMap this resource does not own; "
    "it is left as it is",
    Reason.REGISTRY_ALREADY_MANAGED: "another EcrRegistry (named in the message) manages this account and region",
    Reason.REGISTRY_ITEM_NOT_OWNED: "a pull through cache rule the spec lists exists with another upstream and was "
    "not created by this EcrRegistry; it is left as it is",
    Reason.ENCRYPTION_MISMATCH: "the repository's encryption differs from the spec; ECR cannot re-encrypt",
    Reason.KMS_KEY_NOT_FOUND: "the key (brought, or the repository's) does not exist or is not visible",
    Reason.KMS_KEY_UNAVAILABLE: "the key is disabled, pending deletion or unusable",
    Reason.KMS_KEY_INVALID_STATE: "KMS refused the call in the key's current state (retried)",
    Reason.KMS_KEY_IN_USE: "Warning event on delete: the key is kept because other repositories use it",
    Reason.REPOSITORY_NOT_EMPTY: "delete waits: the repository has images and forceDelete is false",
    Reason.ACCESS_DENIED: "the operator's AWS identity may not make a call (IAM)",
    Reason.INVALID_PARAMETER: "AWS refused a parameter",
    Reason.AWS_LIMIT_EXCEEDED: "an AWS quota (keys, tags, repositories) is reached",
    Reason.AWS_ERROR: "any other AWS error (the message names its code)",
    Reason.THROTTLED: "AWS throttled the operator (retried with backoff)",
    Reason.AWS_UNAVAILABLE: "AWS answered 5xx (retried)",
    Reason.AWS_UNREACHABLE: "AWS could not be reached (retried)",
    Reason.AWS_CLIENT_ERROR: "the AWS client failed before an answer (retried)",
    Reason.ALREADY_EXISTS: "someone created it meanwhile (retried: the next pass sees it)",
    Reason.POLICY_REJECTED: "AWS rejected a policy, often a principal not visible yet (retried)",
    Reason.STATUS_NOT_WRITABLE: "the key creation could not be recorded in status, so no key was created (retried)",
    Reason.INTERNAL_ERROR: "an unexpected error in the operator (retried; see the log)",
    Reason.EVENTS_QUEUE_UNREADABLE: "Warning event on the operator's Pod: the events queue (--events-queue-url) "
    "cannot be read; resyncs fall back to --events-fallback-interval until it can",
}

PERMANENT: frozenset[Reason] = frozenset(
    {
        Reason.INVALID_SPEC,
        Reason.MISSING_REQUIRED_TAGS,
        Reason.REPOSITORY_NAME_NOT_ALLOWED,
        Reason.ACCOUNT_NOT_MAPPED,
        Reason.ACCOUNT_ROLE_NOT_ASSUMABLE,
        Reason.ACCOUNT_CHANGED,
        Reason.REGION_CHANGED,
        Reason.REGION_NOT_ALLOWED,
        Reason.REPOSITORY_NOT_OWNED,
        Reason.ADOPTION_NOT_ALLOWED,
        Reason.KMS_KEY_NOT_OWNED,
        Reason.KMS_ALIAS_TAKEN,
        Reason.EXPORT_CONFIG_MAP_NOT_OWNED,
        Reason.REGISTRY_ALREADY_MANAGED,
        Reason.REGISTRY_ITEM_NOT_OWNED,
        Reason.ENCRYPTION_MISMATCH,
        Reason.KMS_KEY_NOT_FOUND,
        Reason.KMS_KEY_UNAVAILABLE,
        Reason.ACCESS_DENIED,
        Reason.INVALID_PARAMETER,
        Reason.AWS_LIMIT_EXCEEDED,
        Reason.AWS_ERROR,
    }
)
"""Waits for a change: Stalled=True; the operator checks again at the next spec change or resync. Every other
reason of a condition is retried with backoff -- also RepositoryNotEmpty, which the delete retries every 20 s,
because images deleted outside Kubernetes end it without any change the operator is told of."""


def retryable(reason: Reason) -> bool:
    """Whether retrying can help: the one source of truth for every error the operator reports."""
    return reason not in PERMANENT


REPOSITORY_NOT_OURS: frozenset[Reason] = frozenset({Reason.REPOSITORY_NOT_OWNED, Reason.ADOPTION_NOT_ALLOWED})
"""The repository under the resource's name is not the resource's: nothing of it (identifiers, images, findings,
cost) may stay in the resource's status or export."""


EVENT_ONLY: frozenset[Reason] = frozenset(
    {
        Reason.UPDATED,
        Reason.DRIFT_CORRECTED,
        Reason.ADOPTED,
        Reason.VULNERABILITIES_FOUND,
        Reason.KMS_KEY_IN_USE,
        Reason.EVENTS_QUEUE_UNREADABLE,
    }
)
"""Reasons of Events only, never of a condition."""


NO_WARNING: frozenset[Reason] = frozenset({Reason.NAMESPACE_NOT_SEEN})
"""Conditions that post no Warning Event: the operator's own watch lagging behind a Namespace it is about to see
is not something the resource's owner can or should act on."""


def markdown_table() -> str:
    """The reason table of docs/behaviour.md (``ecr-operator reasons``)."""
    rows = ["| reason | retried | meaning |", "| --- | --- | --- |"]
    for reason in Reason:
        retried = "-" if reason in EVENT_ONLY else "yes" if retryable(reason) else "no (waits for a change)"
        rows.append(f"| `{reason}` | {retried} | {DESCRIPTIONS[reason]} |")
    return "\n".join(rows) + "\n"
