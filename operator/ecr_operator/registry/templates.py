"""Repository creation templates, pure: the spec's templates -> ECR's parameters, compared by meaning.

A template's ``lifecycle`` and ``crossAccountPull`` are the EcrRepository's shapes, rendered by the same functions
(``core/repository_settings.py``), so a repository ECR creates from a template gets the documents the operator
writes for an EcrRepository; its tag mutability exclusion filters too (``core/ecr_policy.py``). The policies are
compared parsed (``core/compare.py``), tags, ``appliedFor`` and the filters as sets, an absent description, role or
key as empty: how ECR answers is not how it was asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecr_operator.core.compare import normalize_lifecycle, normalize_policy, tags_from_list, to_json
from ecr_operator.core.ecr_policy import exclusion_filter_set, exclusion_filters
from ecr_operator.core.errors import SpecError, problems_message
from ecr_operator.core.reasons import Reason
from ecr_operator.core.repository_settings import (
    lifecycle_policy_problems,
    missing_required_tags,
    render_lifecycle_policy,
    render_pull_policy,
)
from ecr_operator.registry.spec import CreationTemplate


@dataclass(frozen=True)
class DesiredTemplate:
    prefix: str
    params: Mapping[str, Any]
    """The full CreateRepositoryCreationTemplate request (absent settings left out)."""

    @property
    def key(self) -> str:
        return self.prefix


def _field(template: CreationTemplate, name: str) -> str:
    return f"spec.creationTemplates[{template.prefix}].{name}"


def _parse_document(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def render_template(template: CreationTemplate, region: str, required_tags: Iterable[str]) -> DesiredTemplate:
    """Raises MissingRequiredTags / InvalidSpec naming the template's field."""
    missing = missing_required_tags(template.resource_tags, required_tags)
    if missing:
        raise SpecError(
            Reason.MISSING_REQUIRED_TAGS,
            f"{_field(template, 'resourceTags')} lacks required tags: {', '.join(missing)}",
        )
    lifecycle_field = _field(template, "lifecycle.policyText")
    raw = template.lifecycle.policy_text if template.lifecycle is not None else None
    if raw is not None and (problems := lifecycle_policy_problems(raw, lifecycle_field)):
        raise SpecError(Reason.INVALID_SPEC, problems_message(problems))
    lifecycle = render_lifecycle_policy(template.lifecycle, lifecycle_field)
    policy = render_pull_policy(template.cross_account_pull, region)
    encryption: dict[str, str] = {"encryptionType": template.encryption.type}
    if template.encryption.kms_key_arn:
        encryption["kmsKey"] = template.encryption.kms_key_arn
    params: dict[str, Any] = {
        "prefix": template.prefix,
        "description": template.description,
        "encryptionConfiguration": encryption,
        "resourceTags": [{"Key": key, "Value": value} for key, value in sorted(template.resource_tags.items())],
        "imageTagMutability": template.image_tag_mutability,
        "imageTagMutabilityExclusionFilters": exclusion_filters(
            (f.filter_type, f.filter) for f in template.image_tag_mutability_exclusion_filters
        ),
        "repositoryPolicy": to_json(policy) if policy is not None else None,
        "lifecyclePolicy": to_json(lifecycle) if lifecycle is not None else None,
        "appliedFor": sorted(set(template.applied_for)),
        "customRoleArn": template.custom_role_arn,
    }
    return DesiredTemplate(template.prefix, {key: value for key, value in params.items() if value not in (None, [])})


def render_templates(
    templates: Sequence[CreationTemplate], region: str, required_tags: Iterable[str]
) -> tuple[DesiredTemplate, ...]:
    required = tuple(required_tags)
    return tuple(render_template(template, region, required) for template in templates)


def update_params(template: DesiredTemplate) -> dict[str, Any]:
    """UpdateRepositoryCreationTemplate replaces only the members it is given: every setting is sent, an absent
    one as its empty value (which clears it)."""
    cleared: dict[str, Any] = {
        "description": "",
        "resourceTags": [],
        "repositoryPolicy": "",
        "lifecyclePolicy": "",
        "customRoleArn": "",
    }
    return {**cleared, **template.params}


def normalize_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical form of a template (a request or a DescribeRepositoryCreationTemplates item)."""
    encryption = template.get("encryptionConfiguration") or {}
    policy, lifecycle = template.get("repositoryPolicy"), template.get("lifecyclePolicy")
    return {
        "description": template.get("description") or "",
        "appliedFor": sorted(set(template.get("appliedFor") or [])),
        "imageTagMutability": template.get("imageTagMutability") or "MUTABLE",
        "exclusions": exclusion_filter_set(template.get("imageTagMutabilityExclusionFilters")),
        "encryption": (encryption.get("encryptionType") or "AES256", encryption.get("kmsKey") or ""),
        "tags": tags_from_list(template.get("resourceTags")),
        "repositoryPolicy": normalize_policy(_parse_document(policy)) if policy else None,
        "lifecyclePolicy": normalize_lifecycle(_parse_document(lifecycle)) if lifecycle else None,
        "customRoleArn": template.get("customRoleArn") or "",
    }


def templates_equal(desired: DesiredTemplate, observed: Mapping[str, Any]) -> bool:
    return normalize_template(desired.params) == normalize_template(observed)
