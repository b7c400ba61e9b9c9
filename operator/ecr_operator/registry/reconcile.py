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

**Pinned where it acts.** The registry (``registryId``, the account) and region are recorded in status before the
first write of any part; every later pass and the delete act there, and only there. An operator restarted with
another ``--region`` (for an EcrRegistry without ``spec.region``) or with credentials of another account is refused
(``RegionChanged`` / ``AccountChanged``) before anything is written, instead of writing another registry's sections,
templates or rules. With ``spec.awsRoleArn`` (immutable) the pinned account is the role's: a recorded registry of
another account means the status no longer matches the role, and nothing is written or deleted until it does.

The parts, in order: the registry's sections (replication, scanning, policy), the creation templates (before the
rules, so a rule's first repository finds its template), the pull through cache rules; deleted in reverse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ecr_operator.core.actions import Action, Applied, apply
from ecr_operator.core.aws import AwsClients, account_of
from ecr_operator.core.errors import OperatorError, refused_by_aws
from ecr_operator.core.part import Part
from ecr_operator.core.reasons import Reason
from ecr_operator.registry.cache_rules import prefix_key
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
    """The registry an EcrRegistry holds: its role's account (or the operator's own), and the region recorded in its
    status, else the one its spec asks for."""
    metadata, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    return Claim(
        name=str(metadata.get("name", "")),
        account=_account(spec.get("awsRoleArn")),
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

    def status_fields(self) -> dict[str, Any]:
        return {"registryId": self.account, "region": self.region}


def recorded(status: Mapping[str, Any]) -> RegistryPlacement | None:
    account, region = status.get("registryId"), status.get("region")
    return RegistryPlacement(str(account), str(region)) if account and region else None


def _identity(role_arn: str | None) -> str:
    return f"spec.awsRoleArn ({role_arn})" if role_arn else "the operator's identity"


def _account_changed(
    pinned: RegistryPlacement, account: str, role_arn: str | None, *, deleting: bool = False
) -> OperatorError:
    if role_arn:
        # awsRoleArn is immutable (CEL), so the record and the role disagree only when the status was rewritten or
        # the role's credentials act in another account than its ARN names: nothing is written or deleted there.
        fix = (
            f"spec.awsRoleArn is immutable: check the role and status.registryId; to manage account {account}'s "
            "registry, create another EcrRegistry"
        )
    else:
        fix = f"run the operator with credentials of account {pinned.account} again"
    if deleting:
        fix += ", or set deletionPolicy: Retain to delete the resource only"
    doing = "cannot reset it" if deleting else "nothing is written there"
    return OperatorError(
        Reason.ACCOUNT_CHANGED,
        f"this EcrRegistry manages registry {pinned.account} in {pinned.region}, recorded at its first write; "
        f"{_identity(role_arn)} now acts in account {account}: {doing}; {fix}",
    )


def moved(
    pinned: RegistryPlacement | None,
    region: str,
    account: str | None,
    *,
    region_from_spec: bool,
    role_arn: str | None = None,
) -> OperatorError | None:
    """The refusal when a pass would act on another registry than the recorded one; ``account`` is None while it is
    not known (before DescribeRegistry, for the operator's own identity; a role's ARN names it)."""
    if pinned is None:
        return None
    if account is not None and account != pinned.account:
        return _account_changed(pinned, account, role_arn)
    if region != pinned.region:
        where = f"this EcrRegistry manages registry {pinned.account} in {pinned.region}, recorded at its first write"
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
    rules: list[Item] | None = None
    """The pull through cache rules (None: not managed)."""
    templates: list[Item] | None = None
    """The creation templates (None: not managed)."""


Record = Callable[[Mapping[str, Any], str], None]
"""Merges fields into the object's status before the pass goes on (the runtime's ``Host.record``: fields, what)."""


def _record_before_writing(
    record: Record | None, pin: RegistryPlacement | None, rules: ItemsPlan, templates: ItemsPlan
) -> None:
    """Record in status, in one write before the pass writes anything: the registry and region when nothing is
    pinned yet (``pin``), and the rules and templates this pass is about to create."""
    fields: dict[str, Any] = pin.status_fields() if pin is not None else {}
    what = [f"registry {pin.account} in {pin.region}"] if pin is not None else []
    if any(a.operation.startswith("create_") for a in (*rules.actions, *templates.actions)):
        fields.update(
            (key, as_status(items))
            for key, items in (("pullThroughCacheRules", rules.items), ("creationTemplates", templates.items))
            if items is not None
        )
        what.append("the pull through cache rules and creation templates it creates")
    if record is not None and fields:
        record(fields, f"{' and '.join(what)}, before writing")


def _created_key(action: Action) -> tuple[str, str] | None:
    """(status list, item name) of a create action of a rule or template; None for any other action."""
    if action.operation == "create_pull_through_cache_rule":
        return "pullThroughCacheRules", prefix_key(str(action.params["ecrRepositoryPrefix"]))
    if action.operation == "create_repository_creation_template":
        return "creationTemplates", str(action.params["prefix"])
    return None


def _deleted_key(action: Action) -> tuple[str, str] | None:
    if action.operation == "delete_pull_through_cache_rule":
        return "pullThroughCacheRules", prefix_key(str(action.params["ecrRepositoryPrefix"]))
    if action.operation == "delete_repository_creation_template":
        return "creationTemplates", str(action.params["prefix"])
    return None


def _withdraw_unmade_claims(
    record: Record | None,
    actions: list[Action],
    failed: int,
    refused: bool,
    sections: Mapping[str, list[Item] | None],
    pin: RegistryPlacement | None,
) -> None:
    """After ``actions[failed]`` failed, status keeps only the claims that are certainly true, in ``sections`` (the
    status lists as the plan would leave them, by status field):

    * the rules and templates recorded as created that this pass certainly did not create lose their claim -- the
      one AWS refused (``refused``: e.g. someone else's appeared under the prefix meanwhile), and those never sent --
      unless the item is still there as ours (its planned delete was not sent either);
    * the ones this pass deleted (sent before the failure) and does not create again are gone from the list: a rule
      or template someone else makes under that prefix before the next pass is not ours.

    Otherwise a later pass or the delete would take someone else's item under that prefix for ours. The placement
    this pass pinned (``pin``) goes too when nothing at all was written."""
    unsent = actions[failed + (0 if refused else 1) :]
    still_ours = {key for action in actions[failed:] if (key := _deleted_key(action)) is not None}
    withdrawn = {key for action in unsent if (key := _created_key(action)) is not None} - still_ours
    recreated = {key for action in actions if (key := _created_key(action)) is not None}
    gone = {key for action in actions[:failed] if (key := _deleted_key(action)) is not None} - recreated
    fields: dict[str, Any] = {
        section: as_status(
            replace(i, created=False) if (section, i.name) in withdrawn else i
            for i in items
            if (section, i.name) not in gone
        )
        for section, items in sections.items()
        if items is not None and any(s == section for s, _ in withdrawn | gone)
    }
    what = [", ".join(sorted(name for _, name in withdrawn)) + " not created by this EcrRegistry"] if withdrawn else []
    what += [", ".join(sorted(name for _, name in gone)) + " deleted"] if gone else []
    if pin is not None and failed == 0 and refused:
        fields.update(dict.fromkeys(pin.status_fields()))
        what.append(f"nothing written in registry {pin.account} in {pin.region}")
    if record is None or not fields:
        return
    try:
        record(fields, " and ".join(what))
    except OperatorError as exc:
        log.warning("could not withdraw what was recorded before a failed write (%s): %s", what, exc.message)


def reconcile_registry(
    clients: AwsClients,
    desired: DesiredRegistry,
    deps: registry.RegistryDeps,
    *,
    observe_only: bool = False,
    pinned: RegistryPlacement | None = None,
    record: Record | None = None,
) -> RegistryOutcome:
    """Observe, plan, then apply (nothing when in sync, nothing when observe-only); raises the plan's refusal, or
    AccountChanged, before the templates and rules are read, when the registry is not the ``pinned`` one.
    ``record`` merges into status, before the first write, the placement (when nothing is pinned yet) and the rules
    and templates about to be created."""
    observed = REGISTRY.observe(clients, desired, deps, None)
    refusal = moved(pinned, desired.region, observed.registry_id, region_from_spec=False, role_arn=desired.role_arn)
    if refusal is not None:
        raise refusal
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
    if actions and not observe_only:
        pin = RegistryPlacement(observed.registry_id, desired.region) if pinned is None else None
        _record_before_writing(record, pin, rules, templates)
        done = Applied()
        try:
            apply(clients, actions, done)
        except OperatorError as error:
            failed, refused = len(done.actions), refused_by_aws(error)
            sections = {"pullThroughCacheRules": rules.items, "creationTemplates": templates.items}
            _withdraw_unmade_claims(record, actions, failed, refused, sections, pin)
            raise
        outcome.applied = done.actions
    outcome.rules = settle(rules.items, bool(outcome.applied), deps.created.rules)
    outcome.templates = settle(templates.items, bool(outcome.applied), deps.created.templates)
    for action in outcome.applied:
        log.info("EcrRegistry %s: %s", desired.name, action.summary)
    return outcome


def delete_registry(
    clients: AwsClients,
    desired: DesiredRegistry,
    deps: registry.RegistryDeps,
    pinned: RegistryPlacement | None = None,
    record: Record | None = None,
) -> list[Action]:
    """deletionPolicy Delete: the rules and templates this EcrRegistry created, then the managed sections back to
    ECR's defaults; Retain: no AWS call at all. Only in the ``pinned`` registry: in another account no template or
    rule is read and nothing is written (AccountChanged: the finalizer stays). A delete that stops at a failed write
    ``record``s in status that the rules and templates it deleted are gone: the retried delete must not take a rule
    or template someone else makes under a freed prefix meanwhile for its own."""
    if desired.deletion_policy != "Delete" or deps.managed_by is not None:
        return []
    observed = REGISTRY.observe(clients, desired, deps, None)
    if pinned is not None and observed.registry_id != pinned.account:
        raise _account_changed(pinned, observed.registry_id, desired.role_arn, deleting=True)
    rules = CACHE_RULES.observe(clients, desired, deps, None)
    templates = TEMPLATES.observe(clients, desired, deps, None)
    actions = [
        *CACHE_RULES.plan_delete(desired, rules, deps).actions,
        *TEMPLATES.plan_delete(desired, templates, deps).actions,
        *REGISTRY.plan_delete(desired, observed, deps).actions,
    ]
    done = Applied()
    try:
        return apply(clients, actions, done).actions
    except OperatorError as error:
        sections = {
            "pullThroughCacheRules": _deleting(deps.created.rules, rules),
            "creationTemplates": _deleting(deps.created.templates, templates),
        }
        _withdraw_unmade_claims(record, actions, len(done.actions), refused_by_aws(error), sections, None)
        raise


def _deleting(created: frozenset[str], observed: Mapping[str, Mapping[str, Any]] | None) -> list[Item] | None:
    """The status list of a section being deleted: the items this EcrRegistry created that are still there."""
    if observed is None:
        return None
    return [
        Item(
            name,
            "Pending",
            True,
            True,
            observed[name].get("upstreamRegistry"),
            observed[name].get("upstreamRegistryUrl"),
        )
        for name in sorted(created & observed.keys())
    ]
