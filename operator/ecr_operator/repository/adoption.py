"""Adoption is the platform's decision: whether a resource may take over an existing repository nobody owns.

A tenant asks with the resource's ``ecr.platform.dev/adopt`` annotation; the platform team allows it with the
operator setting ``--adoption`` (``disabled``, ``annotated-namespaces``, ``everywhere``) and, in
``annotated-namespaces`` mode, the Namespace annotation ``ecr.platform.dev/allow-adoption: "true"``. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecr_operator.core.settings import AdoptionMode
from ecr_operator.repository.spec import ALLOW_ADOPTION_ANNOTATION

DISABLED_REFUSAL = (
    "adoption is disabled in this operator (setting --adoption / ECR_OPERATOR_ADOPTION=disabled); the platform "
    "team can allow it with the setting annotated-namespaces (plus the Namespace annotation "
    f'{ALLOW_ADOPTION_ANNOTATION}: "true", set by cluster admins) or everywhere'
)


@dataclass(frozen=True)
class Adoption:
    """What a pass may do with an existing repository that carries no owner's tags."""

    requested: bool = False
    """The resource's ecr.platform.dev/adopt annotation is "true"."""
    refusal: str | None = DISABLED_REFUSAL
    """Why the platform does not allow adoption for this resource; None when it does."""

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    @property
    def adopts(self) -> bool:
        return self.requested and self.allowed


NO_ADOPTION = Adoption()
"""Not asked, not allowed: an unowned repository is left alone (the default)."""


def decide_adoption(mode: AdoptionMode, namespace: str, *, requested: bool, namespace_allows: bool) -> Adoption:
    """Whether a resource in ``namespace`` may adopt, under the operator's ``mode`` and its Namespace's annotation."""
    refusal: str | None
    if mode == "everywhere":
        refusal = None
    elif mode == "annotated-namespaces":
        refusal = (
            None
            if namespace_allows
            else (
                f'Namespace {namespace} is not annotated {ALLOW_ADOPTION_ANNOTATION}: "true" (the operator allows '
                "adoption only in such Namespaces); a cluster admin of the platform team can annotate it"
            )
        )
    else:
        refusal = DISABLED_REFUSAL
    return Adoption(requested=requested, refusal=refusal)
