"""One EcrRegistry pass (observe -> plan -> apply) and its delete; which EcrRegistry manages a registry.

Knows nothing of kopf, like ``repository/reconcile.py``.

**One EcrRegistry per account and region.** Registry settings are account-wide: two resources for one registry
would overwrite each other at every resync. The resource that came first (oldest ``creationTimestamp``, then
name) manages it; any other is refused with ``RegistryAlreadyManaged`` naming it, and takes over at its next
resync once the first is gone (a deleting one still holds the registry until its finalizer is removed). The
handler lists the EcrRegistry objects at every pass (a strongly consistent read from the API server, a handful
of objects), rather than keeping a map filled from watch events: at start-up the resources are resumed
concurrently, and a pass could decide before the older resource's event had been seen. The target is keyed by
(account, region). An EcrRegistry is cluster-scoped: no Namespace maps it to another account, so it always acts in
the operator's own (``DescribeRegistry`` names it); :func:`managed_by` compares regions, and :data:`OWN_ACCOUNT`
stands for that account.

**Pinned where it acts.** The account (``registryId``) and region are recorded in status before the first write;
every later pass and the delete act there. An operator restarted with another ``--region`` (for an EcrRegistry
without ``spec.region``) or with credentials of another account is refused (``RegionChanged`` /
``AccountChanged``) instead of writing another registry's settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecr_operator.core.actions import Action, Applied, apply
from ecr_operator.core.aws import AwsClients
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.part import Part
from ecr_operator.core.reasons import Reason
from ecr_operator.registry.parts import registry
from ecr_operator.registry.parts.registry import ObservedRegistry, RegistryDeps, RegistryPlan
from ecr_operator.registry.render import DesiredRegistry

log = logging.getLogger(__name__)

REGISTRY: Part[DesiredRegistry, RegistryDeps, None, ObservedRegistry, RegistryDeps, RegistryPlan] = registry
"""The registry part, as the part protocol (core/part.py) types it."""

OWN_ACCOUNT = ""
"""The operator's own account (whatever DescribeRegistry answers)."""


@dataclass(frozen=True)
class Claim:
    """One EcrRegistry as the registry-ownership rule sees it."""

    name: str
    account: str
    region: str
    created: str
    """metadata.creationTimestamp (RFC 3339, UTC: compares as text)."""


def claim_of(obj: Mapping[str, Any], default_region: str) -> Claim:
    """The registry an EcrRegistry holds: the region recorded in its status, else the one its spec asks for."""
    metadata, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    return Claim(
        name=str(metadata.get("name", "")),
        account=OWN_ACCOUNT,
        region=str(status.get("region") or spec.get("region") or default_region),
        created=str(metadata.get("creationTimestamp") or ""),
    )


def managed_by(me: Claim, claims: Iterable[Claim]) -> str | None:
    """The name of the EcrRegistry that manages ``me``'s registry when it is not ``me``; None when ``me`` does."""
    rivals = [c for c in claims if (c.account, c.region) == (me.account, me.region)]
    first = min([*rivals, me], key=lambda c: (c.created, c.name))
    return None if first.name == me.name else first.name


@dataclass(frozen=True)
class RegistryPlacement:
    """Where an EcrRegistry acts: the registry (account) and region recorded in its status."""

    account: str
    region: str


def recorded(status: Mapping[str, Any]) -> RegistryPlacement | None:
    account, region = status.get("registryId"), status.get("region")
    return RegistryPlacement(str(account), str(region)) if account and region else None


def moved(
    pinned: RegistryPlacement | None, region: str, account: str | None, *, region_from_spec: bool
) -> OperatorError | None:
    """The refusal when a pass would act on another registry than the recorded one; ``account`` is None before
    DescribeRegistry has said which account the operator's identity is in."""
    if pinned is None:
        return None
    where = f"this EcrRegistry manages registry {pinned.account} in {pinned.region}, recorded at its first write"
    if account is not None and account != pinned.account:
        return OperatorError(
            Reason.ACCOUNT_CHANGED,
            f"{where}; the operator's identity is now in account {account}: nothing is written there until it runs "
            f"with credentials of account {pinned.account} again",
        )
    if region != pinned.region:
        if region_from_spec:
            return OperatorError(Reason.INVALID_SPEC, f"spec.region is immutable: {where}, not {region}")
        return OperatorError(
            Reason.REGION_CHANGED,
            f"{where}; the operator's default region is now {region} (--region): nothing is written there until "
            f"the operator runs with --region {pinned.region} again",
        )
    return None


@dataclass
class RegistryOutcome:
    region: str
    registry_id: str | None = None
    applied: list[Action] = field(default_factory=list)
    planned: list[Action] = field(default_factory=list)
    problems: list[OperatorError] = field(default_factory=list)


def reconcile_registry(
    clients: AwsClients,
    desired: DesiredRegistry,
    deps: registry.RegistryDeps,
    *,
    observe_only: bool = False,
    pinned: RegistryPlacement | None = None,
    pin: Callable[[RegistryPlacement], None] | None = None,
) -> RegistryOutcome:
    """Observe, plan, then apply (nothing when in sync, nothing when observe-only); raises the plan's refusal, or
    AccountChanged when the registry is not the ``pinned`` one. ``pin`` records the registry and region before the
    first write when nothing is pinned yet."""
    observed = REGISTRY.observe(clients, desired, deps, None)
    refusal = moved(pinned, desired.region, observed.registry_id, region_from_spec=False)
    if refusal is not None:
        raise refusal
    plan = REGISTRY.plan(desired, observed, deps)
    if plan.refusal is not None:
        raise plan.refusal
    outcome = RegistryOutcome(desired.region, plan.registry_id, planned=plan.actions, problems=plan.problems)
    if plan.actions and not observe_only:
        if pin is not None and pinned is None:
            pin(RegistryPlacement(observed.registry_id, desired.region))
        outcome.applied = apply(clients, plan.actions, Applied()).actions
    for action in outcome.applied:
        log.info("EcrRegistry %s: %s", desired.name, action.summary)
    return outcome


def delete_registry(
    clients: AwsClients,
    desired: DesiredRegistry,
    deps: registry.RegistryDeps,
    pinned: RegistryPlacement | None = None,
) -> list[Action]:
    """deletionPolicy Delete: the managed sections back to ECR's defaults; Retain: no AWS call at all. Only in the
    ``pinned`` registry: another account's is never reset (AccountChanged, retried: the finalizer stays)."""
    if desired.deletion_policy != "Delete" or deps.managed_by is not None:
        return []
    observed = REGISTRY.observe(clients, desired, deps, None)
    if pinned is not None and observed.registry_id != pinned.account:
        raise OperatorError(
            Reason.ACCOUNT_CHANGED,
            f"cannot reset registry {pinned.account} in {pinned.region}: the operator's identity is now in account "
            f"{observed.registry_id}; run it with credentials of account {pinned.account}, or set deletionPolicy: "
            "Retain to delete the resource only",
        )
    return apply(clients, REGISTRY.plan_delete(desired, observed, deps).actions, Applied()).actions
