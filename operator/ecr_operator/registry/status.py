"""The EcrRegistry's status report (pure): registry and region, with the conditions of ``core/conditions.py``,
built from the EcrRegistry status model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecr_operator.core.conditions import Report, failure_status, pass_status, status_patch
from ecr_operator.core.errors import OperatorError
from ecr_operator.registry.items import Item, as_status
from ecr_operator.registry.reconcile import RegistryOutcome
from ecr_operator.registry.spec import EcrRegistryStatus, ItemStatus


def _items(items: list[Item] | None) -> list[ItemStatus] | None:
    return None if items is None else [ItemStatus.model_validate(item) for item in as_status(items)]


def report(
    outcome: RegistryOutcome,
    previous: Mapping[str, Any],
    generation: int | None,
    timestamp: str,
    *,
    observe_only: bool,
    resync: bool,
) -> Report:
    in_sync = f"registry {outcome.registry_id} in {outcome.region} is in sync"
    fields, events = pass_status(
        outcome, previous, generation, timestamp, in_sync, observe_only=observe_only, resync=resync
    )
    status = EcrRegistryStatus(
        registry_id=outcome.registry_id,
        region=outcome.region,
        pull_through_cache_rules=_items(outcome.rules),
        creation_templates=_items(outcome.templates),
        **fields,
    )
    return Report(status_patch(status), events)


def report_failure(error: OperatorError, previous: Mapping[str, Any], generation: int | None, timestamp: str) -> Report:
    """Synced=False with the error; Ready kept only for a retried error on a registry already Ready at this
    generation; Stalled when the error waits for a change (another EcrRegistry, the spec, IAM)."""
    fields, events = failure_status(error, previous, generation, timestamp, retried="as specified")
    return Report(status_patch(EcrRegistryStatus(**fields)), events)
