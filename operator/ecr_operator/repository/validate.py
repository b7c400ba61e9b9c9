"""Checks the API server cannot make: required tags, AWS tag limits, lifecycle policy semantics, the shape of extra
repository policy statements and the merged policy's length, name policy."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ecr_operator.core.ecr_policy import policy_problems, statement_problems
from ecr_operator.core.errors import SpecError, problems_message
from ecr_operator.core.reasons import Reason
from ecr_operator.core.repository_settings import lifecycle_policy_problems
from ecr_operator.core.repository_settings import missing_required_tags as missing_required_tags
from ecr_operator.core.settings import RepositoryNamePolicy
from ecr_operator.repository.render import OWNER_TAG_PREFIX
from ecr_operator.repository.spec import REPOSITORY_PREFIXES_ANNOTATION, EcrRepositorySpec

MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
_TAG_CHARS = re.compile(r"^[\w .:/=+\-@]*$", re.UNICODE)


def tag_problems(tags: dict[str, str]) -> list[str]:
    # How many: the model's limit (spec.MAX_USER_TAGS), which the CRD enforces at admission.
    problems = []
    for key, value in sorted(tags.items()):
        if not key or len(key) > MAX_TAG_KEY:
            problems.append(f"spec.tags key {key[:40]!r} must be 1-{MAX_TAG_KEY} characters")
        if len(value) > MAX_TAG_VALUE:
            problems.append(f"spec.tags[{key}] value must be at most {MAX_TAG_VALUE} characters")
        if key.lower().startswith("aws:"):
            problems.append(f"spec.tags key {key!r} uses the reserved prefix 'aws:'")
        if key.startswith(OWNER_TAG_PREFIX):
            problems.append(f"spec.tags key {key!r} uses the operator's reserved prefix {OWNER_TAG_PREFIX!r}")
        if not _TAG_CHARS.match(key) or not _TAG_CHARS.match(value):
            problems.append(f"spec.tags[{key}] may only hold letters, digits, spaces and _ . : / = + - @")
    return problems


STATEMENTS_FIELD = "spec.repositoryPolicy.statements"


def repository_policy_problems(spec: EcrRepositorySpec, policy: dict[str, Any] | None) -> list[str]:
    """What IAM or ECR would refuse in the user's statements, and in the policy merged with the operator's."""
    if spec.repository_policy is None:
        return []
    problems = []
    for index, statement in enumerate(spec.repository_policy.statements):
        problems.extend(statement_problems(statement.document(), f"{STATEMENTS_FIELD}[{index}]"))
    return problems + policy_problems(policy, STATEMENTS_FIELD)


def validate(spec: EcrRepositorySpec, required_tags: Iterable[str], policy: dict[str, Any] | None = None) -> None:
    """Raise a SpecError naming every problem; nothing is created in AWS for an invalid spec. ``policy`` is the
    rendered repository policy (its length is ECR's to judge)."""
    missing = missing_required_tags(spec.tags, required_tags)
    if missing:
        raise SpecError(Reason.MISSING_REQUIRED_TAGS, f"spec.tags lacks required tags: {', '.join(missing)}")
    problems = tag_problems(spec.tags)
    if spec.lifecycle is not None and spec.lifecycle.policy_text is not None:
        problems.extend(lifecycle_policy_problems(spec.lifecycle.policy_text))
    problems.extend(repository_policy_problems(spec, policy))
    if problems:
        raise SpecError(Reason.INVALID_SPEC, problems_message(problems))


def parse_prefixes(annotation: str | None) -> tuple[str, ...]:
    """The prefixes of a Namespace's repository-prefixes annotation: comma-separated, blanks and repeats dropped."""
    if not annotation:
        return ()
    return tuple(dict.fromkeys(item.strip() for item in annotation.split(",") if item.strip()))


def allowed_prefixes(namespace: str, granted_prefixes: Iterable[str]) -> tuple[str, ...]:
    """What a repositoryName in ``namespace`` may start with under the namespace-prefix policy: its own
    ``<namespace>/`` and the prefixes its Namespace's annotation grants."""
    return tuple(dict.fromkeys((f"{namespace}/", *granted_prefixes)))


def check_repository_name(
    policy: RepositoryNamePolicy, repository_name: str, namespace: str, granted_prefixes: Iterable[str]
) -> None:
    """Raise RepositoryNameNotAllowed when the policy forbids this name in this namespace."""
    if policy == "any":
        return
    allowed = allowed_prefixes(namespace, granted_prefixes)
    if not repository_name.startswith(allowed):
        raise SpecError(
            Reason.REPOSITORY_NAME_NOT_ALLOWED,
            f"repository name {repository_name!r} is not allowed in namespace {namespace!r}: it must start with "
            f"{' or '.join(repr(p) for p in allowed)} (more prefixes can be listed in the Namespace annotation "
            f"{REPOSITORY_PREFIXES_ANNOTATION})",
        )
