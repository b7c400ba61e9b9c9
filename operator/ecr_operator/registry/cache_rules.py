"""Pull through cache rules, pure: the spec's rules -> ECR's parameters, and how an existing rule differs.

ECR keys a rule by its ``ecrRepositoryPrefix`` and "always assumes a /" (``team`` and ``team/`` are one prefix):
:func:`prefix_key` is that key. Only a rule's credentials (``credentialArn``, ``customRoleArn``) change in place
(``UpdatePullThroughCacheRule``, which cannot clear one); any other difference means replacing the rule.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecr_operator.core.errors import SpecError
from ecr_operator.core.reasons import Reason
from ecr_operator.registry.spec import PullThroughCacheRule

ROOT = "ROOT"


def prefix_key(prefix: str) -> str:
    return prefix if prefix == ROOT else prefix.rstrip("/")


@dataclass(frozen=True)
class DesiredRule:
    prefix: str
    upstream_registry_url: str
    upstream_registry: str | None = None
    credential_arn: str | None = None
    custom_role_arn: str | None = None
    upstream_repository_prefix: str | None = None

    @property
    def key(self) -> str:
        return prefix_key(self.prefix)


class Difference(enum.Enum):
    NONE = "none"
    UPDATE = "update"
    """Only the credentials differ, and none is to be cleared: UpdatePullThroughCacheRule."""
    REPLACE = "replace"
    """The upstream differs, or a credential is to be cleared: delete and create."""


def render_rules(rules: Sequence[PullThroughCacheRule]) -> tuple[DesiredRule, ...]:
    """Raises InvalidSpec when two rules name one prefix (``team`` and ``team/``), which admission cannot see."""
    rendered = tuple(
        DesiredRule(
            prefix=rule.ecr_repository_prefix,
            upstream_registry_url=rule.upstream_registry_url,
            upstream_registry=rule.upstream_registry,
            credential_arn=rule.credential_arn,
            custom_role_arn=rule.custom_role_arn,
            upstream_repository_prefix=rule.upstream_repository_prefix,
        )
        for rule in rules
    )
    keys = [rule.key for rule in rendered]
    if duplicates := sorted({key for key in keys if keys.count(key) > 1}):
        raise SpecError(
            Reason.INVALID_SPEC,
            f"spec.pullThroughCacheRules: ecrRepositoryPrefix {', '.join(duplicates)} is given twice "
            "(ECR treats 'team' and 'team/' as one prefix)",
        )
    return rendered


def create_params(rule: DesiredRule) -> dict[str, Any]:
    params = {
        "ecrRepositoryPrefix": rule.prefix,
        "upstreamRegistryUrl": rule.upstream_registry_url,
        "upstreamRegistry": rule.upstream_registry,
        "credentialArn": rule.credential_arn,
        "customRoleArn": rule.custom_role_arn,
        "upstreamRepositoryPrefix": rule.upstream_repository_prefix,
    }
    return {key: value for key, value in params.items() if value is not None}


def update_params(rule: DesiredRule) -> dict[str, Any]:
    params = {"ecrRepositoryPrefix": rule.prefix, "credentialArn": rule.credential_arn}
    params["customRoleArn"] = rule.custom_role_arn
    return {key: value for key, value in params.items() if value is not None}


def difference(rule: DesiredRule, observed: Mapping[str, Any]) -> Difference:
    """How ``observed`` (a DescribePullThroughCacheRules item of the same prefix) differs from ``rule``."""
    upstream_prefix = observed.get("upstreamRepositoryPrefix") or ROOT
    if (
        observed.get("upstreamRegistryUrl") != rule.upstream_registry_url
        or (rule.upstream_registry is not None and observed.get("upstreamRegistry") != rule.upstream_registry)
        or prefix_key(rule.upstream_repository_prefix or ROOT) != prefix_key(upstream_prefix)
    ):
        return Difference.REPLACE
    credentials = (rule.credential_arn, rule.custom_role_arn)
    found = (observed.get("credentialArn") or None, observed.get("customRoleArn") or None)
    if credentials == found:
        return Difference.NONE
    if any(wanted is None and present is not None for wanted, present in zip(credentials, found, strict=True)):
        return Difference.REPLACE
    return Difference.UPDATE
