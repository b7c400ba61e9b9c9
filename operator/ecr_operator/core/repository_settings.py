"""A repository's settings in the shapes both kinds use: the EcrRepository's spec and the repository creation
templates of an EcrRegistry (ECR applies a template to the repositories it creates itself). One model and one
renderer each, so a template holds the same lifecycle policy and pull policy the operator writes for a repository.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from ecr_operator.core.documents import load_document
from ecr_operator.core.ecr_policy import (
    ORGANIZATION_ID_PATTERN,
    ORGANIZATION_PATH_PATTERN,
    pull_statements,
    repository_policy,
)
from ecr_operator.core.errors import SpecError
from ecr_operator.core.model import ACCOUNT_ID_PATTERN, ApiModel, cel_rules
from ecr_operator.core.reasons import Reason

LIFECYCLE_POLICY_FIELD = "spec.lifecycle.policyText"
KMS_KEY_ARN_PATTERN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$"
TAG_FILTER_PATTERN = r"^[0-9a-zA-Z._*-]{1,128}$"

# Tuples, not sets: the values tested against them come from the user's JSON and may be unhashable (a list).
_TAG_STATUSES = ("any", "tagged", "untagged")
_COUNT_TYPES = ("imageCountMoreThan", "sinceImagePushed")


class Lifecycle(ApiModel):
    """The repository's lifecycle policy: generated rules, or a raw ECR lifecycle policy document."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            {
                "rule": "!has(self.policyText) || (!has(self.maxImageCount) && !has(self.expireUntaggedAfterDays))",
                "message": "spec.lifecycle.policyText excludes maxImageCount and expireUntaggedAfterDays",
                "fieldPath": ".policyText",
            },
            {
                "rule": "has(self.policyText) || has(self.maxImageCount) || has(self.expireUntaggedAfterDays)",
                "message": "spec.lifecycle needs maxImageCount, expireUntaggedAfterDays or policyText",
            },
        )
    )

    max_image_count: int | None = Field(
        None, ge=1, le=10000, description="Keep the newest N images (any tag status); older ones expire."
    )
    expire_untagged_after_days: int | None = Field(
        None, ge=1, le=3650, description="Expire untagged images this many days after they were pushed."
    )
    policy_text: str | None = Field(
        None,
        min_length=100,
        max_length=30720,
        pattern=r'^\s*\{[\s\S]*"rules"[\s\S]*\}\s*$',
        description="A raw ECR lifecycle policy (JSON object with 'rules'); excludes the two fields above.",
    )


class CrossAccountPull(ApiModel):
    """A repository policy that lets other AWS accounts pull: those listed, or of the organizations or OUs listed."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            {
                "rule": "!self.enabled"
                " || (has(self.allowedAccountIds) && size(self.allowedAccountIds) > 0)"
                " || (has(self.organizationIds) && size(self.organizationIds) > 0)"
                " || (has(self.organizationPaths) && size(self.organizationPaths) > 0)",
                "message": "spec.crossAccountPull.allowedAccountIds, organizationIds or organizationPaths must list "
                "at least one entry when enabled",
                "fieldPath": ".allowedAccountIds",
            },
        )
    )

    enabled: bool = Field(False, description="Attach the cross-account pull policy.")
    allowed_account_ids: list[Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN)]] = Field(
        default_factory=list,
        max_length=100,
        description="12-digit AWS account IDs allowed to pull.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    organization_ids: list[Annotated[str, Field(pattern=ORGANIZATION_ID_PATTERN, max_length=34)]] = Field(
        default_factory=list,
        max_length=20,
        description="AWS Organization IDs (o-...): every principal of these organizations may pull "
        "(a statement conditioned on aws:PrincipalOrgID).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    organization_paths: list[Annotated[str, Field(pattern=ORGANIZATION_PATH_PATTERN, max_length=512)]] = Field(
        default_factory=list,
        max_length=20,
        description="Organizational units as AWS Organizations paths (o-.../r-.../ou-.../, each part ending in "
        "'/'): every principal of an account directly in the OU may pull; end the path with '*' (.../ou-.../*) to "
        "take in its child OUs too (a statement conditioned on aws:PrincipalOrgPaths, ForAnyValue:StringLike).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class ImageTagMutabilityExclusionFilter(ApiModel):
    """Tags exempt from the repository's tag mutability (e.g. a mutable 'latest' in an immutable repository)."""

    filter: str = Field(
        min_length=1,
        max_length=128,
        pattern=TAG_FILTER_PATTERN,
        description="A tag or a wildcard pattern ('*' matches any characters): letters, digits, . _ - *.",
    )
    filter_type: Literal["WILDCARD"] = Field("WILDCARD", description="WILDCARD, the only type ECR has.")


def load_lifecycle_policy(text: str, field: str = LIFECYCLE_POLICY_FIELD) -> dict[str, Any]:
    """A raw lifecycle policy's document (its rules are checked by ``validate``); raises InvalidSpec."""
    document = load_document(text, field)
    if not isinstance(document, dict):
        raise SpecError(Reason.INVALID_SPEC, f"{field} must be an object with a non-empty 'rules' list")
    return document


def render_lifecycle_policy(lifecycle: Lifecycle | None, field: str = LIFECYCLE_POLICY_FIELD) -> dict[str, Any] | None:
    if lifecycle is None:
        return None
    if lifecycle.policy_text is not None:
        return load_lifecycle_policy(lifecycle.policy_text, field)
    rules: list[dict[str, Any]] = []
    if lifecycle.expire_untagged_after_days is not None:
        days = lifecycle.expire_untagged_after_days
        rules.append(
            {
                "rulePriority": len(rules) + 1,
                "description": f"Expire untagged images older than {days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": days,
                },
                "action": {"type": "expire"},
            }
        )
    if lifecycle.max_image_count is not None:
        count = lifecycle.max_image_count
        # A rule with tagStatus "any" must have the highest priority number (it is evaluated last).
        rules.append(
            {
                "rulePriority": len(rules) + 1,
                "description": f"Keep the newest {count} images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": count},
                "action": {"type": "expire"},
            }
        )
    return {"rules": rules}


def render_pull_statements(pull: CrossAccountPull | None, region: str) -> list[dict[str, Any]]:
    """The operator's own pull statements for a ``crossAccountPull`` (none unless enabled)."""
    if pull is None or not pull.enabled:
        return []
    return pull_statements(pull.allowed_account_ids, pull.organization_ids, pull.organization_paths, region)


def render_pull_policy(pull: CrossAccountPull | None, region: str) -> dict[str, Any] | None:
    """A policy of the pull statements alone (a creation template's); None when there are none."""
    return repository_policy(render_pull_statements(pull, region), [])


def lifecycle_policy_problems(text: str, field: str = LIFECYCLE_POLICY_FIELD) -> list[str]:
    """What AWS would reject in a raw lifecycle policy (moto accepts anything that parses)."""
    try:
        document = load_lifecycle_policy(text, field)
    except SpecError as error:
        return [error.message]
    if not isinstance(document.get("rules"), list) or not document["rules"]:
        return [f"{field} must be an object with a non-empty 'rules' list"]
    problems: list[str] = []
    priorities: list[int] = []
    any_priorities: list[int] = []
    for index, rule in enumerate(document["rules"]):
        where = f"{field} rules[{index}]"
        if not isinstance(rule, dict):
            problems.append(f"{where} must be an object")
            continue
        problems.extend(_rule_problems(where, rule))
        priority = rule.get("rulePriority")
        if isinstance(priority, int) and not isinstance(priority, bool):
            priorities.append(priority)
            if isinstance(rule.get("selection"), dict) and rule["selection"].get("tagStatus") == "any":
                any_priorities.append(priority)
    if len(priorities) != len(set(priorities)):
        problems.append(f"{field} rulePriority values must be unique")
    if len(any_priorities) > 1:
        problems.append(f"{field} may have only one rule with tagStatus 'any'")
    if any_priorities and priorities and any_priorities[0] != max(priorities):
        problems.append(f"{field}: the tagStatus 'any' rule must have the highest rulePriority")
    return problems


def _rule_problems(where: str, rule: dict[str, Any]) -> list[str]:
    problems = []
    priority = rule.get("rulePriority")
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 1:
        problems.append(f"{where}.rulePriority must be a positive integer")
    if "description" in rule and not isinstance(rule["description"], str):
        problems.append(f"{where}.description must be a string")
    action = rule.get("action")
    if not isinstance(action, dict) or action.get("type") != "expire":
        problems.append(f"{where}.action.type must be 'expire'")
    selection = rule.get("selection")
    if not isinstance(selection, dict):
        return [*problems, f"{where}.selection must be an object"]
    tag_status = selection.get("tagStatus")
    if tag_status not in _TAG_STATUSES:
        problems.append(f"{where}.selection.tagStatus must be one of {list(_TAG_STATUSES)}")
    if tag_status == "tagged" and not (selection.get("tagPrefixList") or selection.get("tagPatternList")):
        problems.append(f"{where}.selection: tagStatus 'tagged' needs tagPrefixList or tagPatternList")
    for name in ("tagPrefixList", "tagPatternList"):
        if name in selection and not _strings(selection[name]):
            problems.append(f"{where}.selection.{name} must be a list of non-empty strings")
    count_type = selection.get("countType")
    if count_type not in _COUNT_TYPES:
        problems.append(f"{where}.selection.countType must be one of {list(_COUNT_TYPES)}")
    if count_type == "sinceImagePushed" and selection.get("countUnit") != "days":
        problems.append(f"{where}.selection.countUnit must be 'days' with countType 'sinceImagePushed'")
    if count_type == "imageCountMoreThan" and "countUnit" in selection:
        problems.append(f"{where}.selection.countUnit is not allowed with countType 'imageCountMoreThan'")
    count = selection.get("countNumber")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        problems.append(f"{where}.selection.countNumber must be a positive integer")
    return problems


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) and item for item in value)


def missing_required_tags(tags: Mapping[str, str], required: Iterable[str]) -> list[str]:
    """The platform's required tag keys (--required-tags) that ``tags`` lacks or leaves blank."""
    return [key for key in required if not tags.get(key, "").strip()]
