"""One EcrRegistry pass (observe -> plan -> apply) and its delete; which EcrRegistry manages a registry.

Knows nothing of kopf, like ``repository/reconcile.py``.

**One EcrRegistry per account and region.** Registry settings are account-wide: two resources for one registry
would overwrite each other at every resync. The resource that came first (oldest ``creationTimestamp``, then
name) manages it; any other is refused with ``RegistryAlreadyManaged`` naming it, and takes over at its next
resync once the first is gone (a deleting one still holds the registry until its finalizer is removed). The
handler lists the EcrRegistry objects at every pass (a strongly consistent read from the API server, a handful
of objects), rather than keeping a map filled from watch events: at start-up the resources are resumed
concurrently, and a pass could decide before the older resource's event had been seen. The target is keyed by
(account, region): the account of ``spec.awsRoleArn`` (the registry of that role's account, through the same
AssumeRole clients a Namespace's role gets), or :data:`OWN_ACCOUNT`, the operator's own. A role in the operator's
own account is keyed by its account ID, so it is told apart from :data:`OWN_ACCOUNT` only by that ID (the claim is
decided before any AWS call).

The parts, in order: the registry's sections (replication, scanning, policy), the creation templates (before the
rules, so a rule's first repository finds its template), the pull through cache rules; deleted in reverse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecr_operator.core.actions import Action, Applied, apply
from ecr_operator.core.aws import AwsClients, account_of
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.part import Part
from ecr_operator.registry.items import Item, ItemsPlan, as_status, settle
from ecr_operator.registry.parts import cache_rules, creation_templates, registry
from ecr_operator.registry.parts.cache_rules import ObservedRules
from ecr_operator.registry.parts.creation_templates import ObservedTemplates
from ecr_operator.registry.parts.registry import ObservedRegistry, RegistryDeps, RegistryPlan
from ecr_operator.registry.render import DesiredRegistry

log = logging.getLogger(__name__)

REGISTRY: Part[DesiredRegistry, RegistryDeps, None, ObservedRegistry, RegistryDeps, RegistryPlan] = registry
"""The registry part, as the part protocol (core/part.py) types it."""
TEMPLATES: Part[DesiredRegistry, RegistryDeps, None, ObservedTemplates, RegistryDeps, ItemsPlan] = creation_templates
CACHE_RULES: Part[DesiredRegistry, RegistryDeps, None, ObservedRules, RegistryDeps, ItemsPlan] = cache_rules

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


def _account(role_arn: Any) -> str:
    """The account a claim is for; a role that is not one (refused by the spec's pattern) claims nothing real."""
    if not role_arn:
        return OWN_ACCOUNT
    try:
        return account_of(str(role_arn))
    except ValueError:
        return f"invalid:{role_arn}"


def claim_of(obj: Mapping[str, Any], default_region: str) -> Claim:
    metadata, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    return Claim(
        name=str(metadata.get("name", "")),
        account=_account(spec.get("awsRoleArn")),
        region=str(spec.get("region") or default_region),
        created=str(metadata.get("creationTimestamp") or ""),
    )


def managed_by(me: Claim, claims: Iterable[Claim]) -> str | None:
    """The name of the EcrRegistry that manages ``me``'s registry when it is not ``me``; None when ``me`` does."""
    rivals = [c for c in claims if (c.account, c.region) == (me.account, me.region)]
    first = min([*rivals, me], key=lambda c: (c.created, c.name))
    return None if first.name == me.name else first.name


@dataclass
class RegistryOutcome:
    region: str
    registry_id: str | None = None
    applied: list[Action] = field(default_factory=list)
    planned: list[Action] = field(default_factory=list)
    problems: list[OperatorError] = field(default_factory=list)
    rules: list[Item] | None = None
    """The pull through cache rules (None: not managed)."""
    templates: list[Item] | None = None
    """The creation templates (None: not managed)."""


Record = Callable[[Mapping[str, Any], str], None]
"""Merges fields into the object's status before the pass goes on (the runtime's ``Host.record``: fields, what)."""


def _record_creations(record: Record | None, observe_only: bool, rules: ItemsPlan, templates: ItemsPlan) -> None:
    """Record in status, before any create is sent, the rules and templates this pass is about to create."""
    creates = [a for a in (*rules.actions, *templates.actions) if a.operation.startswith("create_")]
    if record is None or observe_only or not creates:
        return
    fields = {
        key: as_status(items)
        for key, items in (("pullThroughCacheRules", rules.items), ("creationTemplates", templates.items))
        if items is not None
    }
    record(fields, "the pull through cache rules and creation templates it creates, before creating them")


def reconcile_registry(
    clients: AwsClients,
    desired: DesiredRegistry,
    deps: registry.RegistryDeps,
    *,
    observe_only: bool = False,
    record: Record | None = None,
) -> RegistryOutcome:
    """Observe, plan, then apply (nothing when in sync, nothing when observe-only); raises the plan's refusal."""
    observed = REGISTRY.observe(clients, desired, deps, None)
    plan = REGISTRY.plan(desired, observed, deps)
    if plan.refusal is not None:
        raise plan.refusal
    templates = TEMPLATES.plan(desired, TEMPLATES.observe(clients, desired, deps, None), deps)
    rules = CACHE_RULES.plan(desired, CACHE_RULES.observe(clients, desired, deps, None), deps)
    actions = [*plan.actions, *templates.actions, *rules.actions]
    outcome = RegistryOutcome(
        desired.region,
        plan.registry_id,
        planned=actions,
        problems=[*plan.problems, *templates.problems, *rules.problems],
    )
    _record_creations(record, observe_only, rules, templates)
    if actions and not observe_only:
        outcome.applied = apply(clients, actions, Applied()).actions
    outcome.rules = settle(rules.items, bool(outcome.applied))
    outcome.templates = settle(templates.items, bool(outcome.applied))
    for action in outcome.applied:
        log.info("EcrRegistry %s: %s", desired.name, action.summary)
    return outcome


def delete_registry(clients: AwsClients, desired: DesiredRegistry, deps: registry.RegistryDeps) -> list[Action]:
    """deletionPolicy Delete: the rules and templates this EcrRegistry created, then the managed sections back to
    ECR's defaults; Retain: no AWS call at all."""
    if desired.deletion_policy != "Delete" or deps.managed_by is not None:
        return []
    actions = [
        *CACHE_RULES.plan_delete(desired, CACHE_RULES.observe(clients, desired, deps, None), deps).actions,
        *TEMPLATES.plan_delete(desired, TEMPLATES.observe(clients, desired, deps, None), deps).actions,
        *REGISTRY.plan_delete(desired, REGISTRY.observe(clients, desired, deps, None), deps).actions,
    ]
    return apply(clients, actions, Applied()).actions
