"""Where an EcrRepository lives, pinned before its first AWS write: the account (and the role assumed there), the
region and the repository name, recorded in status (``account``, ``roleArn``, ``region``, ``repositoryName``).

Every later pass and the delete act on that record. The Namespace's role and the operator's default region are
read fresh at every pass; when they now point elsewhere than the record, the pass is refused
(``AccountChanged`` / ``RegionChanged``) instead of creating a second, empty repository there. A delete cleans
the recorded place whatever became of the mapping or the spec. The decisions are pure; the account of the
operator's own identity is looked up by the caller (once per process, ``ClientFactory.account``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ecr_operator.core.api import AWS_ROLE_ARN_ANNOTATION
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason

MOVING = "to move a repository to another account or region, see docs/moving.md"


@dataclass(frozen=True)
class Placement:
    """One resource's place in AWS."""

    account: str
    region: str
    repository_name: str
    role_arn: str | None = None
    """The role the operator assumes in ``account``; None: the operator's own identity."""

    def status_fields(self) -> dict[str, Any]:
        """The record, as a merge patch of ``status`` (camelCase; a None role clears an older one)."""
        return {
            "account": self.account,
            "roleArn": self.role_arn,
            "region": self.region,
            "repositoryName": self.repository_name,
        }


def recorded(status: Mapping[str, Any]) -> Placement | None:
    """The place recorded in status, or None when this resource never pinned one (it never wrote to AWS).

    A status written before the account was recorded has ``registryId``, the account of the repository it found
    or created, which is the same thing.
    """
    account = status.get("account") or status.get("registryId")
    region, name = status.get("region"), status.get("repositoryName")
    if not (account and region and name):
        return None
    return Placement(str(account), str(region), str(name), str(status.get("roleArn") or "") or None)


def needs_pin(status: Mapping[str, Any], current: Placement) -> bool:
    """Whether a pass that writes must first record ``current`` (not recorded yet, or reached by another role of
    the same account, which a later delete should use)."""
    pinned = recorded(status)
    return pinned is None or not status.get("account") or pinned.role_arn != current.role_arn


def _identity(role_arn: str | None) -> str:
    return f"role {role_arn}" if role_arn else "the operator's own identity"


def moved(pinned: Placement | None, current: Placement, *, region_from_spec: bool) -> OperatorError | None:
    """The refusal when this pass would act somewhere else than where the resource lives; None when it may go on.

    ``region_from_spec``: the current region is spec.region (immutable at admission, so a difference is a spec
    error) rather than the operator's default region (``--region``, changed by whoever runs the operator).
    """
    if pinned is None:
        return None
    where = f"repository {pinned.repository_name} lives in account {pinned.account}, region {pinned.region}"
    if current.account != pinned.account:
        return OperatorError(
            Reason.ACCOUNT_CHANGED,
            f"{where}, recorded when it was created; its Namespace now maps to account {current.account} "
            f"({_identity(current.role_arn)}, annotation {AWS_ROLE_ARN_ANNOTATION}): nothing is created there and "
            f"the resource is left as it is until the mapping points at account {pinned.account} again; {MOVING}",
        )
    if current.repository_name != pinned.repository_name:
        return OperatorError(
            Reason.INVALID_SPEC,
            f"spec.repositoryName is immutable: {where}, not {current.repository_name}; {MOVING}",
        )
    if current.region != pinned.region:
        if region_from_spec:
            return OperatorError(
                Reason.INVALID_SPEC,
                f"spec.region is immutable: {where}, not {current.region}; {MOVING}",
            )
        return OperatorError(
            Reason.REGION_CHANGED,
            f"{where}, recorded when it was created; the operator's default region is now {current.region} "
            f"(--region): nothing is created there and the resource is left as it is until the operator runs with "
            f"--region {pinned.region} again; {MOVING}",
        )
    return None


def delete_role(
    pinned: Placement, current_role: str | OperatorError | None, account: Callable[[str | None], str]
) -> str | None:
    """The identity a delete acts with in the recorded account: the Namespace's current role when it reaches that
    account (``current_role`` is the mapping, or why there is none), else the recorded role, else the operator's
    own identity when it is in that account. ``account`` answers which account an identity acts in.

    Raises AccountChanged (the delete keeps its finalizer) when no identity the operator has reaches it.
    """
    if not isinstance(current_role, OperatorError) and account(current_role) == pinned.account:
        return current_role
    if pinned.role_arn is not None:
        return pinned.role_arn
    own = account(None)
    if own == pinned.account:
        return None
    mapping = (
        current_role.message
        if isinstance(current_role, OperatorError)
        else f"its Namespace maps to account {account(current_role)} ({_identity(current_role)})"
    )
    raise OperatorError(
        Reason.ACCOUNT_CHANGED,
        f"cannot delete repository {pinned.repository_name} in account {pinned.account}, region {pinned.region}: "
        f"the operator's own identity is in account {own}, no role of that account was recorded, and {mapping}; "
        f"map the Namespace to a role in account {pinned.account} again (annotation {AWS_ROLE_ARN_ANNOTATION}), or "
        "set deletionPolicy: Retain to delete the resource only",
    )
