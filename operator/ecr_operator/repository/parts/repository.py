"""The ECR repository part: ownership, settings, lifecycle policy, repository policy and tags (one observation,
one plan; see ``core/part.py`` for the part protocol)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecr_operator.core.actions import NEW_REGISTRY_ID, NEW_REPOSITORY_ARN, NEW_REPOSITORY_URI, Action, Plan, read
from ecr_operator.core.aws import AwsClients
from ecr_operator.core.compare import (
    lifecycles_equal,
    parse_json,
    policies_equal,
    tag_changes,
    tags_from_list,
    to_json,
)
from ecr_operator.core.ecr_policy import RESERVED_SIDS, exclusion_filter_set, exclusion_filters
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.repository.adoption import Adoption
from ecr_operator.repository.render import OWNER_TAG_KEYS, Desired, Owner, owner_from_tags
from ecr_operator.repository.spec import ADOPT_ANNOTATION
from ecr_operator.repository.view import RegionView


@dataclass(frozen=True)
class ObservedRepository:
    name: str
    arn: str
    uri: str
    registry_id: str
    image_tag_mutability: str
    exclusion_filters: frozenset[tuple[str, str]]
    scan_on_push: bool
    encryption_type: str
    kms_key: str | None
    tags: dict[str, str]
    lifecycle_policy: Any
    repository_policy: Any
    created_at: datetime | None = None

    @property
    def owner(self) -> Owner | None:
        return owner_from_tags(self.tags)

    @property
    def instance(self) -> tuple[str, str, datetime | None]:
        """Which repository this is: a repository deleted and re-created under the same name has the same ARN and
        registry, but not the same creation time."""
        return (self.registry_id, self.arn, self.created_at)


@dataclass(frozen=True)
class RepositoryReads:
    """What to read of the repository."""

    policies: bool = True
    """The lifecycle and repository policy (a delete needs only ownership)."""


ALL = RepositoryReads()


def observe(
    clients: AwsClients, desired: Desired, deps: RepositoryReads = ALL, view: RegionView | None = None
) -> ObservedRepository | None:
    """The repository, from the resync's ``view`` (its DescribeRepositories entry) when given, else read now."""
    listed = view.repositories.get(desired.repository_name) if view is not None else None
    if listed is not None:
        return _details(clients, listed, policies=deps.policies)
    response = read(
        clients,
        "ecr",
        "describe_repositories",
        ("RepositoryNotFoundException",),
        repositoryNames=[desired.repository_name],
    )
    if response is None or not response.get("repositories"):
        return None
    return _details(clients, response["repositories"][0], policies=deps.policies)


def _details(clients: AwsClients, repository: dict[str, Any], *, policies: bool) -> ObservedRepository:
    """The per-repository reads that DescribeRepositories does not cover."""
    name = repository["repositoryName"]
    tags = tags_from_list(
        read(clients, "ecr", "list_tags_for_resource", resourceArn=repository["repositoryArn"]).get("tags")
    )
    lifecycle = policy = None
    if policies:
        lifecycle = read(
            clients, "ecr", "get_lifecycle_policy", ("LifecyclePolicyNotFoundException",), repositoryName=name
        )
        policy = read(
            clients, "ecr", "get_repository_policy", ("RepositoryPolicyNotFoundException",), repositoryName=name
        )
    encryption = repository.get("encryptionConfiguration") or {"encryptionType": "AES256"}
    return ObservedRepository(
        name=name,
        arn=repository["repositoryArn"],
        uri=repository["repositoryUri"],
        registry_id=repository["registryId"],
        image_tag_mutability=repository.get("imageTagMutability", "MUTABLE"),
        exclusion_filters=exclusion_filter_set(repository.get("imageTagMutabilityExclusionFilters")),
        scan_on_push=bool((repository.get("imageScanningConfiguration") or {}).get("scanOnPush", False)),
        encryption_type=encryption.get("encryptionType", "AES256"),
        kms_key=encryption.get("kmsKey"),
        tags=tags,
        lifecycle_policy=parse_json(lifecycle.get("lifecyclePolicyText")) if lifecycle else None,
        repository_policy=parse_json(policy.get("policyText")) if policy else None,
        created_at=repository.get("createdAt"),  # botocore parses it to a datetime
    )


@dataclass(frozen=True)
class RepositoryDeps:
    key_arn: str | None
    """The key part's output: the key to encrypt with (a placeholder for one still to create)."""
    adoption: Adoption


@dataclass
class RepositoryPlan(Plan):
    """Outputs: the repository's identifiers (placeholders until it is created)."""

    uri: str | None = None
    arn: str | None = None
    registry_id: str | None = None
    adopting: bool = False
    """The repository exists with nobody's ownership tags and this plan adopts it (writes ours first)."""


def ownership_refusal(desired: Desired, observed: ObservedRepository, adoption: Adoption) -> OperatorError | None:
    """Ours when our ownership tags are on it; adoptable only when nobody's tags are on it, the resource asks
    and the platform allows it. RepositoryNotOwned / AdoptionNotAllowed otherwise."""
    owner = observed.owner
    if owner == desired.owner:
        return None
    if owner is not None:
        return OperatorError(Reason.REPOSITORY_NOT_OWNED, f"repository {observed.name} is owned by {owner.describe()}")
    if adoption.adopts:
        return None
    if adoption.requested:
        return OperatorError(
            Reason.ADOPTION_NOT_ALLOWED,
            f"repository {observed.name} exists and nobody owns it, but adoption is not allowed here: "
            f"{adoption.refusal}",
        )
    message = (
        f"repository {observed.name} exists and is not managed by ecr-operator; "
        f"annotate with {ADOPT_ANNOTATION}=true to adopt it"
    )
    if not adoption.allowed:
        message += f"; adoption must also be allowed by the platform: {adoption.refusal}"
    return OperatorError(Reason.REPOSITORY_NOT_OWNED, message)


def _encryption_config(desired: Desired, key_arn: str | None) -> dict[str, str]:
    if desired.encryption_type == "AES256":
        return {"encryptionType": "AES256"}
    assert key_arn is not None, "a KMS repository needs a key"
    return {"encryptionType": "KMS", "kmsKey": key_arn}


def _mutability(desired: Desired) -> dict[str, Any]:
    """The tag mutability parameters of CreateRepository and PutImageTagMutability: the filters go with their
    setting (ECR refuses filters without a *_WITH_EXCLUSION value, and such a value without filters)."""
    params: dict[str, Any] = {"imageTagMutability": desired.image_tag_mutability}
    if desired.exclusion_filters:
        params["imageTagMutabilityExclusionFilters"] = exclusion_filters(desired.exclusion_filters)
    return params


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _document_action(
    desired: dict[str, Any] | None, current: Any, equal: Callable[[Any, Any], bool], put: Action, remove: Action
) -> Action | None:
    """One write for a policy document that has no identity of its own: put (replace) it, remove it, or nothing."""
    if desired is None:
        return None if current is None else remove
    return None if current is not None and equal(desired, current) else put


def _policy_summary(policy: dict[str, Any] | None) -> str:
    statements = (policy or {}).get("Statement") or []
    if all(isinstance(s, dict) and s.get("Sid") in RESERVED_SIDS for s in statements):
        return "set the cross-account pull policy"
    return "set the repository policy (cross-account pull and spec.repositoryPolicy statements)"


def _policy_actions(desired: Desired, observed: ObservedRepository | None) -> list[Action]:
    name = desired.repository_name
    lifecycle = desired.lifecycle_policy
    policy = desired.repository_policy
    actions = [
        _document_action(
            lifecycle,
            observed.lifecycle_policy if observed else None,
            lifecycles_equal,
            put=Action(
                "ecr",
                "put_lifecycle_policy",
                {"repositoryName": name, "lifecyclePolicyText": to_json(lifecycle) if lifecycle else ""},
                "set the lifecycle policy",
            ),
            remove=Action("ecr", "delete_lifecycle_policy", {"repositoryName": name}, "remove the lifecycle policy"),
        ),
        _document_action(
            policy,
            observed.repository_policy if observed else None,
            policies_equal,
            put=Action(
                "ecr",
                "set_repository_policy",
                {"repositoryName": name, "policyText": to_json(policy) if policy else ""},
                _policy_summary(policy),
            ),
            remove=Action("ecr", "delete_repository_policy", {"repositoryName": name}, "remove the repository policy"),
        ),
    ]
    return [action for action in actions if action is not None]


def _tag_actions(desired: Desired, observed: ObservedRepository) -> list[Action]:
    """Tags before any other write, and removals before additions, so that a swap never holds more than AWS's
    50 tags at once. A repository being adopted that has tags to remove first gets only the ownership tags: IAM
    policies conditioned on aws:ResourceTag/ecr.platform.dev/cluster (deploy/iam-policy.json) allow no
    UntagResource on it before."""
    to_set, to_remove = tag_changes(desired.tags, observed.tags)
    actions = []
    if observed.owner is None and to_remove:
        ownership = {key: value for key, value in to_set.items() if key in OWNER_TAG_KEYS}
        to_set = {key: value for key, value in to_set.items() if key not in ownership}
        actions.append(_tag_action(observed.arn, ownership, "set repository ownership tags"))
    if to_remove:
        actions.append(
            Action(
                "ecr",
                "untag_resource",
                {"resourceArn": observed.arn, "tagKeys": to_remove},
                f"remove repository tags {to_remove}",
            )
        )
    if to_set:
        actions.append(_tag_action(observed.arn, to_set, "set repository tags"))
    return actions


def _tag_action(arn: str, tags: dict[str, str], summary: str) -> Action:
    return Action("ecr", "tag_resource", {"resourceArn": arn, "tags": _tag_list(tags)}, f"{summary} {sorted(tags)}")


def plan(desired: Desired, observed: ObservedRepository | None, deps: RepositoryDeps) -> RepositoryPlan:
    name = desired.repository_name
    key_arn = deps.key_arn
    if observed is None:
        create = Action(
            "ecr",
            "create_repository",
            {
                "repositoryName": name,
                **_mutability(desired),
                "imageScanningConfiguration": {"scanOnPush": desired.scan_on_push},
                "encryptionConfiguration": _encryption_config(desired, key_arn),
                "tags": _tag_list(desired.tags),
            },
            f"create repository {name}",
            produces=(
                (NEW_REPOSITORY_ARN, ("repository", "repositoryArn")),
                (NEW_REPOSITORY_URI, ("repository", "repositoryUri")),
                (NEW_REGISTRY_ID, ("repository", "registryId")),
            ),
        )
        return RepositoryPlan(
            [create, *_policy_actions(desired, None)],
            uri=NEW_REPOSITORY_URI,
            arn=NEW_REPOSITORY_ARN,
            registry_id=NEW_REGISTRY_ID,
        )

    refusal = ownership_refusal(desired, observed, deps.adoption)
    if refusal is not None:
        return RepositoryPlan(refusal=refusal)

    problems = []
    wanted_key = key_arn if desired.encryption_type == "KMS" else None
    if observed.encryption_type != desired.encryption_type or (wanted_key and observed.kms_key != wanted_key):
        actual = observed.encryption_type + (f" with key {observed.kms_key}" if observed.kms_key else "")
        wanted = desired.encryption_type + (f" with key {wanted_key}" if wanted_key else "")
        problems.append(
            OperatorError(
                Reason.ENCRYPTION_MISMATCH,
                f"repository {name} is encrypted with {actual} but the spec asks for {wanted}; "
                "ECR cannot re-encrypt a repository: recreate it or change the spec to match",
            )
        )

    actions = _tag_actions(desired, observed)
    if (
        observed.image_tag_mutability != desired.image_tag_mutability
        or observed.exclusion_filters != desired.exclusion_filters
    ):
        filters = sorted(value for _, value in desired.exclusion_filters)
        actions.append(
            Action(
                "ecr",
                "put_image_tag_mutability",
                {"repositoryName": name, **_mutability(desired)},
                f"set tag mutability to {desired.image_tag_mutability}"
                + (f" excluding tags {filters}" if filters else ""),
            )
        )
    if observed.scan_on_push != desired.scan_on_push:
        actions.append(
            Action(
                "ecr",
                "put_image_scanning_configuration",
                {"repositoryName": name, "imageScanningConfiguration": {"scanOnPush": desired.scan_on_push}},
                f"set scan on push to {desired.scan_on_push}",
            )
        )
    actions.extend(_policy_actions(desired, observed))
    return RepositoryPlan(
        actions,
        problems,
        uri=observed.uri,
        arn=observed.arn,
        registry_id=observed.registry_id,
        adopting=observed.owner is None,
    )


def plan_delete(desired: Desired, observed: ObservedRepository | None, deps: RepositoryDeps | None = None) -> Plan:
    """Delete our own repository; its images only when forceDelete asks for it."""
    if observed is None or observed.owner != desired.owner:
        return Plan()
    return Plan(
        [
            Action(
                "ecr",
                "delete_repository",
                {"repositoryName": desired.repository_name, "force": desired.force_delete},
                f"delete repository {desired.repository_name}" + (" and its images" if desired.force_delete else ""),
            )
        ]
    )
