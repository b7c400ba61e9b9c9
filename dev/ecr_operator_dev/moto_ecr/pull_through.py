"""Pull through cache rules: Create, Describe, Update, Delete and Validate, on one registry's stored rules.

Requests have passed :mod:`.modelcheck` (shapes, patterns, enums) before they get here; this module adds what
the API reference and the user guide say beyond the model. Where AWS's documents are silent, the emulator is
the stricter of the plausible answers (see docs/moto-ecr-extensions.md), so that an operator that passes here
does not meet a refusal in AWS it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from . import secretstore
from .errors import (
    InvalidParameterException,
    LimitExceededException,
    PullThroughCacheRuleAlreadyExistsException,
    PullThroughCacheRuleNotFoundException,
    SecretNotFoundException,
    UnsupportedUpstreamRegistryException,
)
from .paging import page
from .roles import is_own_role
from .store import RegistryExtras, prefix_key
from .upstreams import Auth, Upstream, resolve

# AWS's "Amazon ECR service quotas": pull through cache rules per registry, 50, not adjustable.
MAX_RULES = 50

ROOT = "ROOT"


@dataclass(frozen=True)
class Rule:
    ecr_repository_prefix: str
    upstream: Upstream
    upstream_registry_url: str
    credential_arn: str | None
    custom_role_arn: str | None
    upstream_repository_prefix: str | None
    created_at: datetime
    updated_at: datetime

    def fields(self, registry_id: str) -> dict[str, Any]:
        """Every member an answer about the rule may have; each operation's output shape picks its own."""
        document: dict[str, Any] = {
            "ecrRepositoryPrefix": self.ecr_repository_prefix,
            "registryId": registry_id,
            "upstreamRegistryUrl": self.upstream_registry_url,
            "upstreamRegistry": self.upstream.name,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "credentialArn": self.credential_arn,
            "customRoleArn": self.custom_role_arn,
            "upstreamRepositoryPrefix": self.upstream_repository_prefix,
        }
        return {key: value for key, value in document.items() if value is not None}


def create(extras: RegistryExtras, params: dict[str, Any]) -> dict[str, Any]:
    _check_registry_id(extras, params)
    prefix: str = params["ecrRepositoryPrefix"]
    url: str = params["upstreamRegistryUrl"]
    upstream = resolve(url, params.get("upstreamRegistry"))
    if upstream is None:
        raise UnsupportedUpstreamRegistryException(
            f"The upstream registry URL {url} is invalid. Specify a valid upstream registry URL and try again"
        )
    credential_arn = params.get("credentialArn")
    custom_role_arn = params.get("customRoleArn")
    _check_credentials(extras, upstream, url, credential_arn, custom_role_arn, creating=True)
    upstream_prefix = params.get("upstreamRepositoryPrefix")
    if upstream_prefix is not None and upstream.auth is not Auth.ROLE:
        raise InvalidParameterException(
            "Invalid parameter at 'upstreamRepositoryPrefix': only an Amazon ECR upstream registry takes one"
        )
    if upstream_prefix is not None and prefix_key(prefix) == ROOT and prefix_key(upstream_prefix) != ROOT:
        raise InvalidParameterException(
            "Invalid parameter at 'upstreamRepositoryPrefix': it can be set only when ecrRepositoryPrefix is not ROOT"
        )
    if upstream_prefix is None and upstream.auth is Auth.ROLE:
        upstream_prefix = ROOT  # "When this field isn't specified, Amazon ECR will use the ROOT."
    now = datetime.now(UTC)
    rule = Rule(prefix, upstream, url, credential_arn, custom_role_arn, upstream_prefix, now, now)
    with extras.lock:
        if prefix_key(prefix) in extras.rules:
            raise PullThroughCacheRuleAlreadyExistsException(
                f"A pull through cache rule with the prefix '{prefix}' already exists "
                f"in the registry with id '{extras.account}'"
            )
        if len(extras.rules) >= MAX_RULES:
            raise LimitExceededException(
                f"The registry with id '{extras.account}' already has {MAX_RULES} pull through cache rules, "
                "the most it may have"
            )
        if credential_arn is not None:
            _check_secret_exists(extras, credential_arn)
        extras.rules[prefix_key(prefix)] = rule
    return rule.fields(extras.account)


def describe(extras: RegistryExtras, params: dict[str, Any]) -> dict[str, Any]:
    _check_registry_id(extras, params)
    with extras.lock:
        rules = dict(extras.rules)
    wanted = params.get("ecrRepositoryPrefixes")
    if wanted is not None:
        for prefix in wanted:
            if prefix_key(prefix) not in rules:
                raise _not_found(extras, prefix)
        keys = {prefix_key(prefix) for prefix in wanted}
        rules = {key: rule for key, rule in rules.items() if key in keys}
    found, token = page(sorted(rules.items()), params.get("maxResults"), params.get("nextToken"))
    answer: dict[str, Any] = {"pullThroughCacheRules": [rule.fields(extras.account) for rule in found]}
    if token is not None:
        answer["nextToken"] = token
    return answer


def update(extras: RegistryExtras, params: dict[str, Any]) -> dict[str, Any]:
    _check_registry_id(extras, params)
    credential_arn = params.get("credentialArn")
    custom_role_arn = params.get("customRoleArn")
    if credential_arn is None and custom_role_arn is None:
        # AWS's own words for this refusal.
        raise InvalidParameterException(
            "Invalid input: Please set either credential arn or role arn to update the credentials"
        )
    with extras.lock:
        rule = _existing(extras, params["ecrRepositoryPrefix"])
        _check_credentials(extras, rule.upstream, rule.upstream_registry_url, credential_arn, custom_role_arn)
        if credential_arn is not None:
            _check_secret_exists(extras, credential_arn)
        rule = replace(
            rule,
            credential_arn=credential_arn if credential_arn is not None else rule.credential_arn,
            custom_role_arn=custom_role_arn if custom_role_arn is not None else rule.custom_role_arn,
            updated_at=datetime.now(UTC),
        )
        extras.rules[prefix_key(rule.ecr_repository_prefix)] = rule
    return rule.fields(extras.account)


def delete(extras: RegistryExtras, params: dict[str, Any]) -> dict[str, Any]:
    _check_registry_id(extras, params)
    with extras.lock:
        rule = _existing(extras, params["ecrRepositoryPrefix"])
        del extras.rules[prefix_key(rule.ecr_repository_prefix)]
    return rule.fields(extras.account)


def validate(extras: RegistryExtras, params: dict[str, Any]) -> dict[str, Any]:
    """Whether ECR could authenticate to the upstream: here, whether the secret holds credentials.

    Nothing reaches an upstream registry; an IAM role is taken as assumable ("calls on the wire == allowed").
    """
    _check_registry_id(extras, params)
    with extras.lock:
        rule = _existing(extras, params["ecrRepositoryPrefix"])
    failure = None
    if rule.credential_arn is not None:
        failure = secretstore.credential_problem(rule.credential_arn, extras.account, extras.region)
    answer = rule.fields(extras.account)
    answer["isValid"] = failure is None
    if failure is not None:
        answer["failure"] = failure
    return answer


def _check_registry_id(extras: RegistryExtras, params: dict[str, Any]) -> None:
    registry_id = params.get("registryId")
    if registry_id is not None and registry_id != extras.account:
        raise InvalidParameterException(
            f"Invalid parameter at 'registryId': the registry {registry_id} is not the caller's ({extras.account})"
        )


def _check_credentials(
    extras: RegistryExtras,
    upstream: Upstream,
    url: str,
    credential_arn: str | None,
    custom_role_arn: str | None,
    *,
    creating: bool = False,
) -> None:
    if credential_arn is not None and upstream.auth is not Auth.SECRET:
        raise InvalidParameterException(
            f"Invalid parameter at 'credentialArn': the upstream registry {upstream.name} does not authenticate "
            "with a Secrets Manager secret"
        )
    if custom_role_arn is not None and upstream.auth is not Auth.ROLE:
        raise InvalidParameterException(
            f"Invalid parameter at 'customRoleArn': only an Amazon ECR upstream registry takes a role, "
            f"not {upstream.name}"
        )
    if custom_role_arn is not None and not is_own_role(custom_role_arn, extras.account):
        raise InvalidParameterException(
            f"Invalid parameter at 'customRoleArn': {custom_role_arn} is not an IAM role ARN in the registry's "
            f"account {extras.account}"
        )
    if not creating:
        return
    if upstream.auth is Auth.SECRET and credential_arn is None:
        # AWS's own words for this refusal.
        raise UnsupportedUpstreamRegistryException(
            "The specified upstream registry requires authentication. Specify a valid Secrets Manager ARN."
        )
    if upstream.auth is Auth.ROLE and custom_role_arn is None and upstream.account_of(url) != extras.account:
        raise UnsupportedUpstreamRegistryException(
            "The specified upstream registry is in another account and requires authentication. "
            "Specify a valid IAM role ARN."
        )


def _check_secret_exists(extras: RegistryExtras, arn: str) -> None:
    if secretstore.find(arn, extras.account, extras.region) is None:
        raise SecretNotFoundException(
            f"The secret {arn} was not found in the account {extras.account} and Region {extras.region}. "
            "Update the pull through cache rule with a valid secret ARN and try again."
        )


def _existing(extras: RegistryExtras, prefix: str) -> Rule:
    rule = extras.rules.get(prefix_key(prefix))
    if rule is None:
        raise _not_found(extras, prefix)
    assert isinstance(rule, Rule)
    return rule


def _not_found(extras: RegistryExtras, prefix: str) -> PullThroughCacheRuleNotFoundException:
    return PullThroughCacheRuleNotFoundException(
        f"The pull through cache rule with the prefix '{prefix}' does not exist in the registry with id "
        f"'{extras.account}'"
    )
