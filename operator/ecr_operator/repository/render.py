"""Pure rendering: spec -> the documents and values AWS should hold."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ecr_operator.core.ecr_policy import repository_policy
from ecr_operator.core.repository_settings import render_lifecycle_policy, render_pull_statements
from ecr_operator.repository.spec import (
    EcrRepositorySpec,
    ImageTagMutabilityExclusionFilter,
    RepositoryPolicy,
)

OWNER_TAG_PREFIX = "ecr.platform.dev/"
CLUSTER_TAG = OWNER_TAG_PREFIX + "cluster"
NAMESPACE_TAG = OWNER_TAG_PREFIX + "namespace"
NAME_TAG = OWNER_TAG_PREFIX + "name"
OWNER_TAG_KEYS = (CLUSTER_TAG, NAMESPACE_TAG, NAME_TAG)


@dataclass(frozen=True)
class Owner:
    """Who owns an AWS resource: one EcrRepository in one cluster."""

    cluster: str
    namespace: str
    name: str

    def tags(self) -> dict[str, str]:
        return {CLUSTER_TAG: self.cluster, NAMESPACE_TAG: self.namespace, NAME_TAG: self.name}

    def describe(self) -> str:
        return f"{self.namespace}/{self.name} in cluster {self.cluster}"


def owner_from_tags(tags: dict[str, str]) -> Owner | None:
    """The owner recorded on an AWS resource, or None when it carries no ownership tags at all."""
    if not any(key in tags for key in OWNER_TAG_KEYS):
        return None
    return Owner(tags.get(CLUSTER_TAG, ""), tags.get(NAMESPACE_TAG, ""), tags.get(NAME_TAG, ""))


@dataclass(frozen=True)
class Desired:
    """Everything the operator wants in AWS for one resource."""

    owner: Owner
    region: str
    repository_name: str
    image_tag_mutability: str
    exclusion_filters: frozenset[tuple[str, str]]
    """(filterType, filter) pairs exempt from the tag mutability: a set, empty without *_WITH_EXCLUSION."""
    scan_on_push: bool
    encryption_type: str
    user_kms_key_arn: str | None
    """A key the user brings; None when the operator manages its own key (or with AES256)."""
    enable_key_rotation: bool
    deletion_window_in_days: int
    lifecycle_policy: dict[str, Any] | None
    repository_policy: dict[str, Any] | None
    tags: dict[str, str]
    deletion_policy: str
    force_delete: bool

    @property
    def manages_key(self) -> bool:
        return self.encryption_type == "KMS" and self.user_kms_key_arn is None

    @property
    def key_alias(self) -> str:
        return key_alias_for(self.repository_name)

    @property
    def legacy_key_alias(self) -> str | None:
        """The first scheme's alias where it differs from ``key_alias`` (a key made before may carry it)."""
        legacy = legacy_key_alias_for(self.repository_name)
        return None if legacy == self.key_alias else legacy


ALIAS_PREFIX = "alias/ecr/"
MAX_ALIAS_LENGTH = 256
HASHED_ALIAS_MARKER = "_sha256/"
_ALIAS_ESCAPES = {"_": "__", ".": "_-"}


def key_alias_for(repository_name: str) -> str:
    """The KMS alias of the key the operator makes for ``repository_name``: distinct names, distinct aliases.

    Aliases allow ``[A-Za-z0-9/_-]``; repository names are ``[a-z0-9._/-]`` with no two separators in a row.
    ``_`` is the escape character: ``_`` becomes ``__`` and ``.`` becomes ``_-``, every other character stays,
    so the encoding is prefix-free and so injective (``team/app.v1`` -> ``alias/ecr/team/app_-v1``,
    ``team/app_v1`` -> ``alias/ecr/team/app__v1``). Neither ``__`` nor ``_-`` can occur in an alias of the
    earlier scheme (``.`` -> ``_``), so a new alias never equals another repository's old one. An encoding too
    long for KMS's 256 characters becomes ``alias/ecr/_sha256/<sha256 of the name>/<readable prefix>``; a plain
    encoding never starts with ``_``, so the two forms never meet.
    """
    encoded = "".join(_ALIAS_ESCAPES.get(char, char) for char in repository_name)
    alias = ALIAS_PREFIX + encoded
    if len(alias) <= MAX_ALIAS_LENGTH:
        return alias
    digest = hashlib.sha256(repository_name.encode()).hexdigest()
    hashed = f"{ALIAS_PREFIX}{HASHED_ALIAS_MARKER}{digest}/"
    return hashed + encoded[: MAX_ALIAS_LENGTH - len(hashed)].rstrip("/_")


def legacy_key_alias_for(repository_name: str) -> str:
    """The alias of the first scheme (``.`` -> ``_``), not injective: found on keys made before the change."""
    return ALIAS_PREFIX + repository_name.replace(".", "_")


def render_user_statements(policy: RepositoryPolicy | None) -> list[dict[str, Any]]:
    """``spec.repositoryPolicy.statements`` as IAM JSON."""
    return [statement.document() for statement in policy.statements] if policy is not None else []


def render_repository_policy(spec: EcrRepositorySpec, region: str) -> dict[str, Any] | None:
    """The pull statements, then the user's own; principals are in the partition of ``region`` (``arn:aws-cn:...``
    in China): IAM refuses a principal of another partition."""
    return repository_policy(
        render_pull_statements(spec.cross_account_pull, region), render_user_statements(spec.repository_policy)
    )


def render_exclusion_filters(
    filters: list[ImageTagMutabilityExclusionFilter] | None,
) -> frozenset[tuple[str, str]]:
    return frozenset((item.filter_type, item.filter) for item in filters or ())


def render_tags(spec: EcrRepositorySpec, owner: Owner) -> dict[str, str]:
    return {**spec.tags, **owner.tags()}


def render(spec: EcrRepositorySpec, owner: Owner, default_region: str) -> Desired:
    region = spec.region or default_region
    return Desired(
        owner=owner,
        region=region,
        repository_name=spec.repository_name or owner.name,
        image_tag_mutability=spec.image_tag_mutability,
        exclusion_filters=render_exclusion_filters(spec.image_tag_mutability_exclusion_filters),
        scan_on_push=spec.scan_on_push,
        encryption_type=spec.encryption.type,
        user_kms_key_arn=spec.encryption.kms_key_arn if spec.encryption.type == "KMS" else None,
        enable_key_rotation=spec.encryption.enable_key_rotation,
        deletion_window_in_days=spec.encryption.deletion_window_in_days,
        lifecycle_policy=render_lifecycle_policy(spec.lifecycle),
        repository_policy=render_repository_policy(spec, region),
        tags=render_tags(spec, owner),
        deletion_policy=spec.deletion_policy,
        force_delete=spec.force_delete,
    )
