"""Typed write actions: the plan between observe and apply, testable and printable without AWS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..aws import AwsClients
from ..errors import error_code, to_operator_error

Service = Literal["ecr", "kms"]

NEW_KEY = "<new-key>"
"""Placeholder for the ID of a key created earlier in the same plan."""


@dataclass(frozen=True)
class Action:
    service: Service
    operation: str
    """The boto3 method, e.g. ``put_lifecycle_policy``."""
    params: Mapping[str, Any]
    summary: str
    """One line for logs, events and status: what changes and why."""

    def resolved(self, new_key_id: str | None) -> Action:
        if new_key_id is None or NEW_KEY not in self.params.values():
            return self
        params = {k: (new_key_id if v == NEW_KEY else v) for k, v in self.params.items()}
        return Action(self.service, self.operation, params, self.summary)


@dataclass
class Applied:
    actions: list[Action] = field(default_factory=list)
    responses: dict[str, Any] = field(default_factory=dict)
    """The last response per operation, for the identifiers a create returns."""


def call(clients: AwsClients, action: Action) -> Any:
    client = getattr(clients, action.service)
    method: Callable[..., Any] = getattr(client, action.operation)
    try:
        return method(**action.params)
    except Exception as exc:
        raise to_operator_error(exc, action.summary) from exc


def apply(
    clients: AwsClients, actions: list[Action], applied: Applied, on_new_key: Callable[[str], None] | None = None
) -> Applied:
    """Run the actions in order; ``on_new_key`` hears a created key's id before the next action runs."""
    new_key_id: str | None = None
    for action in actions:
        response = call(clients, action.resolved(new_key_id))
        applied.actions.append(action)
        applied.responses[action.operation] = response
        if action.operation == "create_key":
            new_key_id = response["KeyMetadata"]["KeyId"]
            if on_new_key is not None:
                on_new_key(new_key_id)
    return applied


def read(clients: AwsClients, service: Service, operation: str, not_found: tuple[str, ...] = (), **params: Any) -> Any:
    """A read call; returns None when AWS answers with one of the ``not_found`` error codes."""
    client = getattr(clients, service)
    try:
        return getattr(client, operation)(**params)
    except Exception as exc:
        if not_found and error_code(exc) in not_found:
            return None
        raise to_operator_error(exc, f"{service}:{operation}") from exc
