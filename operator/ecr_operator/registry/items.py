"""Registry items kept as a set keyed by name (pull through cache rules by prefix, creation templates by prefix):
what status shows of each, and which of them this EcrRegistry created.

Ownership is recorded in status (``createdByOperator``), before the create is sent (like the key creation of an
EcrRepository): a pass that stops between the create and its status write still knows the item is its own. Only
recorded items are ever deleted (removed from the spec, or ``deletionPolicy: Delete``); an item that existed before
is updated to the spec but never deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ecr_operator.core.actions import Plan

State = Literal["InSync", "Pending", "Conflict"]


@dataclass(frozen=True)
class Item:
    name: str
    state: State
    created: bool
    """Created by this EcrRegistry (recorded in status)."""
    deleting: bool = False
    """A delete of it is planned (removed from the spec): gone from status once applied."""
    upstream_registry: str | None = None
    upstream_registry_url: str | None = None


@dataclass
class ItemsPlan(Plan):
    items: list[Item] | None = None
    """None when the spec does not manage the section."""


def read_items(
    read_page: Callable[..., Any], items_key: str, key: Callable[[dict[str, Any]], str]
) -> dict[str, dict[str, Any]]:
    """Every page of an ECR ``Describe*`` call (``read_page(**paging)``): the items under ``items_key``, by ``key``.

    The caller names the operation in its own ``read(...)`` call, where the IAM policy test finds it."""
    items: dict[str, dict[str, Any]] = {}
    paging: dict[str, str] = {}
    while True:
        page = read_page(**paging)
        for item in page.get(items_key) or []:
            items[key(item)] = item
        if not page.get("nextToken"):
            return items
        paging["nextToken"] = page["nextToken"]


def created_names(recorded: Sequence[Mapping[str, Any]] | None) -> frozenset[str]:
    """The names a previous status recorded as created by this EcrRegistry."""
    return frozenset(str(item["name"]) for item in recorded or [] if item.get("createdByOperator") and "name" in item)


def settle(items: list[Item] | None, applied: bool, claimed: frozenset[str]) -> list[Item] | None:
    """The items once the plan ran: deleted ones gone, written ones in sync. When it did not run (observe-only), an
    item is ours only if the previous status recorded it (``claimed``): a planned create was not sent."""
    if items is None:
        return None
    if not applied:
        return [replace(i, created=i.name in claimed) for i in items]
    return [replace(i, state="InSync") if i.state == "Pending" else i for i in items if not i.deleting]


def as_status(items: Iterable[Item]) -> list[dict[str, Any]]:
    return [
        {
            "name": item.name,
            "state": item.state,
            "createdByOperator": item.created,
            **({"upstreamRegistry": item.upstream_registry} if item.upstream_registry else {}),
            **({"upstreamRegistryUrl": item.upstream_registry_url} if item.upstream_registry_url else {}),
        }
        for item in items
    ]


@dataclass(frozen=True)
class Created:
    """What the previous status recorded as created, per section."""

    rules: frozenset[str] = field(default_factory=frozenset)
    templates: frozenset[str] = field(default_factory=frozenset)
