"""The pull through cache rules part of an EcrRegistry: the rules of ``spec.pullThroughCacheRules``, a set keyed
by prefix (``registry/cache_rules.py``). Same protocol as every part (``core/part.py``).

A rule the spec lists is created, or updated in place (its credentials), or replaced when its upstream differs --
only if this EcrRegistry created it; another's rule with a different upstream is a problem (``Conflict``), left
as it is. A rule removed from the spec is deleted if this EcrRegistry created it (``registry/items.py``). An
absent section is not managed: nothing is read or written.
"""

from __future__ import annotations

from typing import Any

from ecr_operator.core.actions import Action, Plan, read
from ecr_operator.core.aws import AwsClients
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.registry.cache_rules import (
    DesiredRule,
    Difference,
    create_params,
    difference,
    prefix_key,
    update_params,
)
from ecr_operator.registry.items import Item, ItemsPlan, read_items
from ecr_operator.registry.parts.registry import RegistryDeps
from ecr_operator.registry.render import DesiredRegistry

ObservedRules = dict[str, dict[str, Any]] | None
"""The registry's rules by prefix key; None when the spec does not manage them (not read)."""


def observe(clients: AwsClients, desired: DesiredRegistry, deps: RegistryDeps, view: None = None) -> ObservedRules:
    if desired.pull_through_cache_rules is None:
        return None
    return read_items(
        lambda **paging: read(clients, "ecr", "describe_pull_through_cache_rules", (), **paging),
        "pullThroughCacheRules",
        lambda rule: prefix_key(str(rule["ecrRepositoryPrefix"])),
    )


def _delete(prefix: str) -> Action:
    return Action(
        "ecr",
        "delete_pull_through_cache_rule",
        {"ecrRepositoryPrefix": prefix},
        f"delete the pull through cache rule {prefix}",
    )


def _create(rule: DesiredRule, verb: str = "create") -> Action:
    return Action(
        "ecr",
        "create_pull_through_cache_rule",
        create_params(rule),
        f"{verb} the pull through cache rule {rule.prefix} for {rule.upstream_registry_url}",
    )


def plan(desired: DesiredRegistry, observed: ObservedRules, deps: RegistryDeps) -> ItemsPlan:
    if desired.pull_through_cache_rules is None or observed is None:
        return ItemsPlan()
    created = deps.created.rules
    actions: list[Action] = []
    problems: list[OperatorError] = []
    items: list[Item] = []
    for rule in desired.pull_through_cache_rules:
        found = observed.get(rule.key)
        ours = rule.key in created
        upstream = (rule.upstream_registry, rule.upstream_registry_url)
        if found is None:
            actions.append(_create(rule))
            items.append(Item(rule.key, "Pending", True, False, *upstream))
            continue
        upstream = (found.get("upstreamRegistry") or rule.upstream_registry, rule.upstream_registry_url)
        change = difference(rule, found)
        if change is Difference.NONE:
            items.append(Item(rule.key, "InSync", ours, False, *upstream))
        elif change is Difference.UPDATE:
            actions.append(
                Action(
                    "ecr",
                    "update_pull_through_cache_rule",
                    update_params(rule),
                    f"update the credentials of the pull through cache rule {rule.prefix}",
                )
            )
            items.append(Item(rule.key, "Pending", ours, False, *upstream))
        elif ours:
            actions += [_delete(str(found["ecrRepositoryPrefix"])), _create(rule, "recreate")]
            items.append(Item(rule.key, "Pending", True, False, *upstream))
        else:
            problems.append(
                OperatorError(
                    Reason.REGISTRY_ITEM_NOT_OWNED,
                    f"spec.pullThroughCacheRules[{rule.prefix}]: a rule for this prefix exists for "
                    f"{found.get('upstreamRegistryUrl')} and was not created by this EcrRegistry; an upstream cannot "
                    "change in place, and the operator deletes only rules it created",
                )
            )
            found_upstream = (found.get("upstreamRegistry"), found.get("upstreamRegistryUrl"))
            items.append(Item(rule.key, "Conflict", False, False, *found_upstream))
    wanted = {rule.key for rule in desired.pull_through_cache_rules}
    for key in sorted(created - wanted):
        if (found := observed.get(key)) is not None:
            actions.append(_delete(str(found["ecrRepositoryPrefix"])))
            items.append(
                Item(key, "Pending", True, True, found.get("upstreamRegistry"), found.get("upstreamRegistryUrl"))
            )
    return ItemsPlan(actions, problems, items=items)


def plan_delete(desired: DesiredRegistry, observed: ObservedRules, deps: RegistryDeps) -> Plan:
    """deletionPolicy Delete: the rules this EcrRegistry created; never another's."""
    if desired.deletion_policy != "Delete" or deps.managed_by is not None or observed is None:
        return Plan()
    return Plan(
        [_delete(str(observed[key]["ecrRepositoryPrefix"])) for key in sorted(deps.created.rules & observed.keys())]
    )
