"""What the parts plan and how it is applied: typed write actions, a part's plan, and applying a plan (the
protocol of the parts themselves: ``core/part.py``).

A part's typed outputs for the parts after it (e.g. the key ARN) may be placeholders for identifiers still to
be created. A placeholder is resolved one way only: the action that creates the thing names, in ``produces``,
where its response carries each placeholder's value; :func:`apply` substitutes it into every later action and
into the outputs (:meth:`Applied.resolve`). An observe-only pass leaves placeholders in the printed plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ecr_operator.core.aws import AwsClients
from ecr_operator.core.errors import OperatorError, error_code, to_operator_error

Service = Literal["ecr", "kms"]

NEW_KEY_ID = "<new-key-id>"
NEW_KEY_ARN = "<new-key-arn>"
NEW_REPOSITORY_ARN = "<new-repository-arn>"
NEW_REPOSITORY_URI = "<new-repository-uri>"
NEW_REGISTRY_ID = "<new-registry-id>"
PLACEHOLDERS = frozenset({NEW_KEY_ID, NEW_KEY_ARN, NEW_REPOSITORY_ARN, NEW_REPOSITORY_URI, NEW_REGISTRY_ID})


@dataclass(frozen=True)
class Action:
    service: Service
    operation: str
    """The boto3 method, e.g. ``put_lifecycle_policy``."""
    params: Mapping[str, Any]
    summary: str
    """One line for logs, events and status: what changes and why."""
    produces: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(placeholder, path in the response) for what this action creates."""

    def resolved(self, values: Mapping[str, str]) -> Action:
        if not values:
            return self
        return Action(self.service, self.operation, _substitute(self.params, values), self.summary, self.produces)


def _substitute(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return values.get(value, value)
    if isinstance(value, Mapping):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    return value


@dataclass
class Plan:
    """One part's decision for one pass."""

    actions: list[Action] = field(default_factory=list)
    problems: list[OperatorError] = field(default_factory=list)
    """What differs but cannot be changed in place: reported (Ready=False), never silently ignored."""
    refusal: OperatorError | None = None
    """Why nothing of this resource may be written (not ours, a foreign key...): the pass stops before applying."""


@dataclass
class Applied:
    actions: list[Action] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    """Placeholder -> the identifier its create returned."""

    def resolve(self, value: str | None) -> str | None:
        """An output with its placeholder replaced; None while the thing it stands for does not exist."""
        if value is None:
            return None
        resolved = self.values.get(value, value)
        return None if resolved in PLACEHOLDERS else resolved


def call(clients: AwsClients, action: Action) -> Any:
    client = getattr(clients, action.service)
    method: Callable[..., Any] = getattr(client, action.operation)
    try:
        return method(**action.params)
    except Exception as exc:
        raise to_operator_error(exc, action.summary) from exc


def apply(
    clients: AwsClients,
    actions: list[Action],
    applied: Applied,
    after: Callable[[Action, Applied], None] | None = None,
) -> Applied:
    """Run the actions in order; ``after`` hears each applied action (with the values it produced)."""
    for action in actions:
        response = call(clients, action.resolved(applied.values))
        applied.actions.append(action)
        for placeholder, path in action.produces:
            value: Any = response
            for step in path:
                value = value[step]
            applied.values[placeholder] = str(value)
        if after is not None:
            after(action, applied)
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
