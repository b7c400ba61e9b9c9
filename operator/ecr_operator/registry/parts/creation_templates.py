"""The repository creation templates part of an EcrRegistry: ``spec.creationTemplates``, a set keyed by prefix,
compared by meaning (``registry/templates.py``). Same protocol as every part (``core/part.py``).

A template the spec lists is created or updated (every setting of a template changes in place); one removed from
the spec is deleted if this EcrRegistry created it (``registry/items.py``). An absent section is not managed.
"""

from __future__ import annotations

from typing import Any

from ecr_operator.core.actions import Action, Plan, read
from ecr_operator.core.aws import AwsClients
from ecr_operator.registry.items import Item, ItemsPlan, read_items
from ecr_operator.registry.parts.registry import RegistryDeps
from ecr_operator.registry.render import DesiredRegistry
from ecr_operator.registry.templates import templates_equal, update_params

ObservedTemplates = dict[str, dict[str, Any]] | None
"""The registry's templates by prefix; None when the spec does not manage them (not read)."""


def observe(clients: AwsClients, desired: DesiredRegistry, deps: RegistryDeps, view: None = None) -> ObservedTemplates:
    if desired.creation_templates is None:
        return None
    return read_items(
        lambda **paging: read(clients, "ecr", "describe_repository_creation_templates", (), **paging),
        "repositoryCreationTemplates",
        lambda template: str(template["prefix"]),
    )


def _delete(prefix: str) -> Action:
    return Action(
        "ecr", "delete_repository_creation_template", {"prefix": prefix}, f"delete the creation template {prefix}"
    )


def plan(desired: DesiredRegistry, observed: ObservedTemplates, deps: RegistryDeps) -> ItemsPlan:
    if desired.creation_templates is None or observed is None:
        return ItemsPlan()
    created = deps.created.templates
    actions: list[Action] = []
    items: list[Item] = []
    for template in desired.creation_templates:
        found = observed.get(template.key)
        if found is None:
            actions.append(
                Action(
                    "ecr",
                    "create_repository_creation_template",
                    dict(template.params),
                    f"create the creation template {template.prefix}",
                )
            )
            items.append(Item(template.key, "Pending", True))
        elif templates_equal(template, found):
            items.append(Item(template.key, "InSync", template.key in created))
        else:
            actions.append(
                Action(
                    "ecr",
                    "update_repository_creation_template",
                    update_params(template),
                    f"update the creation template {template.prefix}",
                )
            )
            items.append(Item(template.key, "Pending", template.key in created))
    wanted = {template.key for template in desired.creation_templates}
    for prefix in sorted((created - wanted) & observed.keys()):
        actions.append(_delete(prefix))
        items.append(Item(prefix, "Pending", True, True))
    return ItemsPlan(actions, items=items)


def plan_delete(desired: DesiredRegistry, observed: ObservedTemplates, deps: RegistryDeps) -> Plan:
    """deletionPolicy Delete: the templates this EcrRegistry created; never another's."""
    if desired.deletion_policy != "Delete" or deps.managed_by is not None or observed is None:
        return Plan()
    return Plan([_delete(prefix) for prefix in sorted(deps.created.templates & observed.keys())])
