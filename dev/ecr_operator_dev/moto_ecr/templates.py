"""Repository creation templates: Create, Describe, Update and Delete, on one registry's stored templates.

Requests have passed :mod:`.modelcheck` (shapes, patterns, enums) before they get here. The template's policies
are checked as moto checks them on a repository (SetRepositoryPolicy, PutLifecyclePolicy) and its tag
mutability as moto checks CreateRepository's, so a template is refused exactly when the repository it describes
would be. Templates are stored and described, never applied: moto creates no repository on ECR's behalf.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from moto.ecr.models import ECRBackend
from moto.ecr.policy_validation import EcrLifecyclePolicyValidator
from moto.iam.exceptions import MalformedPolicyDocument
from moto.iam.policy_validation import IAMPolicyDocumentValidator

from .errors import InvalidParameterException, TemplateAlreadyExistsException, TemplateNotFoundException
from .paging import page
from .roles import is_own_role
from .store import RegistryExtras, prefix_key

# The request members a template consists of (CreateRepositoryCreationTemplateRequest minus nothing).
SETTINGS = (
    "description",
    "encryptionConfiguration",
    "resourceTags",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "repositoryPolicy",
    "lifecyclePolicy",
    "appliedFor",
    "customRoleArn",
)
# Members an update clears with an empty value (the model allows "" and [] for them).
CLEARABLE = ("description", "resourceTags", "repositoryPolicy", "lifecyclePolicy", "customRoleArn")
# The defaults the API reference names: MUTABLE tags; AES256 is what a repository gets without a configuration.
DEFAULTS: dict[str, Any] = {"imageTagMutability": "MUTABLE", "encryptionConfiguration": {"encryptionType": "AES256"}}

MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


def create(extras: RegistryExtras, params: dict[str, Any]) -> dict[str, Any]:
    prefix: str = params["prefix"]
    template = {**copy.deepcopy(DEFAULTS), **_settings(params)}
    _check(template, extras.account)
    now = datetime.now(UTC)
    template.update(prefix=prefix, createdAt=now, updatedAt=now)
    with extras.lock:
        if prefix_key(prefix) in extras.templates:
            raise TemplateAlreadyExistsException(
                f"A repository creation template with the prefix '{prefix}' already exists "
                f"in the registry with id '{extras.account}'"
            )
        extras.templates[prefix_key(prefix)] = template
    return {"registryId": extras.account, "repositoryCreationTemplate": copy.deepcopy(template)}


def describe(extras: RegistryExtras, params: dict[str, Any]) -> dict[str, Any]:
    with extras.lock:
        templates = copy.deepcopy(extras.templates)
    wanted = params.get("prefixes")
    if wanted is not None:
        # The operation has no "not found" error: prefixes without a template are left out.
        keys = {prefix_key(prefix) for prefix in wanted}
        templates = {key: template for key, template in templates.items() if key in keys}
    found, token = page(sorted(templates.items()), params.get("maxResults"), params.get("nextToken"))
    answer: dict[str, Any] = {"registryId": extras.account, "repositoryCreationTemplates": found}
    if token is not None:
        answer["nextToken"] = token
    return answer


def update(extras: RegistryExtras, params: dict[str, Any]) -> dict[str, Any]:
    """Members the request has replace the template's; the others stay (an empty value clears a clearable one).

    A new ``imageTagMutability`` brings its own exclusion filters: none, unless the request has them.
    """
    with extras.lock:
        stored = _existing(extras, params["prefix"])
        changes = _settings(params)
        template = copy.deepcopy(stored)
        if "imageTagMutability" in changes:
            template.pop("imageTagMutabilityExclusionFilters", None)
        template.update(changes)
        for name in CLEARABLE:
            if template.get(name) in ("", []):
                del template[name]
        _check(template, extras.account)
        template["updatedAt"] = datetime.now(UTC)
        extras.templates[prefix_key(params["prefix"])] = template
    return {"registryId": extras.account, "repositoryCreationTemplate": copy.deepcopy(template)}


def delete(extras: RegistryExtras, params: dict[str, Any]) -> dict[str, Any]:
    with extras.lock:
        template = _existing(extras, params["prefix"])
        del extras.templates[prefix_key(params["prefix"])]
    return {"registryId": extras.account, "repositoryCreationTemplate": template}


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    settings = {name: copy.deepcopy(params[name]) for name in SETTINGS if params.get(name) is not None}
    key = settings.get("encryptionConfiguration", {}).get("kmsKey")
    if key == "":  # the model's kmsKey pattern allows "": no key named
        del settings["encryptionConfiguration"]["kmsKey"]
    return settings


def _check(template: dict[str, Any], account: str) -> None:
    if not template.get("appliedFor"):
        raise InvalidParameterException(
            "Invalid parameter at 'appliedFor': name at least one of REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH"
        )
    encryption = template["encryptionConfiguration"]
    if encryption["encryptionType"] == "AES256" and encryption.get("kmsKey"):
        raise InvalidParameterException(
            "Invalid parameter at 'encryptionConfiguration': a KMS key cannot be given for AES256 encryption"
        )
    ECRBackend.validate_image_tag_mutability_params_compatibility(
        template["imageTagMutability"], template.get("imageTagMutabilityExclusionFilters")
    )
    _check_tags(template.get("resourceTags") or [])
    if template.get("repositoryPolicy"):
        _check_repository_policy(template["repositoryPolicy"])
    if template.get("lifecyclePolicy"):
        EcrLifecyclePolicyValidator(template["lifecyclePolicy"]).validate()
    role = template.get("customRoleArn")
    if role and not is_own_role(role, account):
        raise InvalidParameterException(
            f"Invalid parameter at 'customRoleArn': {role} is not an IAM role ARN in the registry's account {account}"
        )


def _check_tags(tags: list[dict[str, str]]) -> None:
    keys = [tag["Key"] for tag in tags]
    problem = None
    if len(tags) > MAX_TAGS:
        problem = f"at most {MAX_TAGS} tags"
    elif len(set(keys)) != len(keys):
        problem = "duplicate tag keys"
    elif any(not 1 <= len(tag["Key"]) <= MAX_TAG_KEY or len(tag["Value"]) > MAX_TAG_VALUE for tag in tags):
        problem = f"tag keys of 1 to {MAX_TAG_KEY} and values of at most {MAX_TAG_VALUE} characters"
    elif any(key.lower().startswith("aws:") for key in keys):
        problem = "the tag key prefix 'aws:' is reserved"
    if problem is not None:
        raise InvalidParameterException(f"Invalid parameter at 'resourceTags': {problem}")


def _check_repository_policy(text: str) -> None:
    # As moto's SetRepositoryPolicy: an IAM policy document that may omit Resource, use Version 2008-10-17 and
    # repeat Sids.
    validator = IAMPolicyDocumentValidator(text)
    validator._validate_resource_exist = lambda: None  # type: ignore[method-assign]
    validator._validate_version = lambda: None  # type: ignore[method-assign]
    validator._validate_sid_uniqueness = lambda: None  # type: ignore[method-assign]
    try:
        validator.validate()
    except MalformedPolicyDocument:
        raise InvalidParameterException(
            "Invalid parameter at 'repositoryPolicy' failed to satisfy constraint: 'Invalid repository policy provided'"
        ) from None


def _existing(extras: RegistryExtras, prefix: str) -> dict[str, Any]:
    template = extras.templates.get(prefix_key(prefix))
    if template is None:
        raise TemplateNotFoundException(
            f"The repository creation template with the prefix '{prefix}' does not exist "
            f"in the registry with id '{extras.account}'"
        )
    assert isinstance(template, dict)
    return template
