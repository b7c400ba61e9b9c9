"""What the platform decides per Namespace for its EcrRepositories, from the annotations cluster admins set (read
from a Namespace watch): the repository prefixes it grants (namespace-prefix policy), whether it allows adoption
(adoption mode annotated-namespaces) and the AWS account its resources live in (the role to assume)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ecr_operator.core.api import AWS_ROLE_ARN_ANNOTATION, is_true
from ecr_operator.core.aws import account_of
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.core.settings import Settings
from ecr_operator.repository.adoption import Adoption, decide_adoption
from ecr_operator.repository.spec import ALLOW_ADOPTION_ANNOTATION, REPOSITORY_PREFIXES_ANNOTATION
from ecr_operator.repository.validate import parse_prefixes


@dataclass
class NamespacePolicies:
    settings: Settings
    granted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Namespace -> the repository prefixes its annotation grants."""
    allows_adoption: dict[str, bool] = field(default_factory=dict)
    """Namespace -> whether a cluster admin annotated it to allow adoption."""
    roles: dict[str, str] = field(default_factory=dict)
    """Namespace -> the AWS role its annotation maps it to ("" when not mapped)."""

    def seen(self, name: str, annotations: Mapping[str, str]) -> None:
        self.granted[name] = parse_prefixes(annotations.get(REPOSITORY_PREFIXES_ANNOTATION))
        self.allows_adoption[name] = is_true(annotations.get(ALLOW_ADOPTION_ANNOTATION))
        self.roles[name] = (annotations.get(AWS_ROLE_ARN_ANNOTATION) or "").strip()

    def gone(self, name: str) -> None:
        self.granted.pop(name, None)
        self.allows_adoption.pop(name, None)
        self.roles.pop(name, None)

    def granted_prefixes(self, namespace: str) -> tuple[str, ...]:
        """The prefixes a namespace's annotation grants; retried until its Namespace has been seen."""
        if self.settings.repository_name_policy == "any":
            return ()
        granted = self.granted.get(namespace)
        if granted is None:
            raise _not_seen(namespace)
        return granted

    def adoption(self, namespace: str, requested: bool) -> Adoption:
        """May a resource in ``namespace`` adopt? Asked with its Namespace seen first, when that decides it."""
        mode = self.settings.adoption
        allows = self.allows_adoption.get(namespace)
        if requested and mode == "annotated-namespaces" and allows is None:
            raise _not_seen(namespace)
        return decide_adoption(mode, namespace, requested=requested, namespace_allows=bool(allows))

    def role_of(self, namespace: str) -> str | None:
        """The role to assume for resources in ``namespace`` (None: the operator's own identity).

        Retried until the Namespace has been seen (a resource must never land in the wrong account); refused when
        it is not mapped and the operator requires a mapping, or when the annotation is not a role ARN.
        """
        if self.settings.account_mapping == "disabled":
            return None
        role = self.roles.get(namespace)
        if role is None:
            raise _not_seen(namespace)
        if not role:
            if self.settings.require_account_mapping:
                raise OperatorError(
                    Reason.ACCOUNT_NOT_MAPPED,
                    f"Namespace {namespace} is not mapped to an AWS account: a cluster admin must annotate it with "
                    f"{AWS_ROLE_ARN_ANNOTATION} (the operator runs with --require-account-mapping)",
                )
            return None
        try:
            account_of(role)
        except ValueError as exc:
            raise OperatorError(
                Reason.ACCOUNT_ROLE_NOT_ASSUMABLE,
                f"Namespace {namespace}: annotation {AWS_ROLE_ARN_ANNOTATION}: {exc}",
            ) from exc
        return role


def _not_seen(namespace: str) -> OperatorError:
    return OperatorError(Reason.NAMESPACE_NOT_SEEN, f"waiting for the operator to see Namespace {namespace}")
