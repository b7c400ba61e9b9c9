"""Server-side checks of a request against ECR's service model in botocore: what AWS refuses and botocore's own
client-side validation does not (patterns, enums, maximum lengths and counts; required members and minimums too,
for clients that turn botocore's validation off).

The constraints are read from the model at run time, never copied: a botocore upgrade that changes a pattern or
adds an enum value changes the emulator with it. ECR words these refusals as ``InvalidParameterException``
("Invalid parameter at 'registryIds' failed to satisfy constraint: 'Member must satisfy ...'"), which is what
this module raises.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

import botocore.session

from .errors import constraint


@functools.cache
def _service_model() -> Any:
    return botocore.session.get_session().get_service_model("ecr")


def operation_model(operation: str) -> Any:
    """botocore's model of one ECR operation (``CreatePullThroughCacheRule``, ...)."""
    return _service_model().operation_model(operation)


def shape(name: str) -> Any:
    return _service_model().shape_for(name)


def enum_values(shape_name: str) -> tuple[str, ...]:
    return tuple(shape(shape_name).enum)


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def validate(operation: str, params: Mapping[str, Any]) -> None:
    """Raise ECR's ``InvalidParameterException`` for the first member of ``params`` that breaks the model."""
    for field, rule in _problems(operation_model(operation).input_shape, params, ""):
        raise constraint(field, rule)


def _problems(model: Any, value: Any, path: str) -> Iterator[tuple[str, str]]:
    kind = model.type_name
    if kind == "structure":
        if not isinstance(value, Mapping):
            yield path, "Member must be a structure"
            return
        for name in model.required_members:
            if value.get(name) is None:
                yield _join(path, name), "Member must not be null"
        for name, member in model.members.items():
            if value.get(name) is not None:
                yield from _problems(member, value[name], _join(path, name))
    elif kind == "list":
        if not isinstance(value, list):
            yield path, "Member must be a list"
            return
        yield from _size(model, len(value), path, "length")
        for item in value:
            for _, rule in _problems(model.member, item, path):
                # ECR reports a bad list member at the list: 'Member must satisfy constraint: [<rule>]'.
                yield path, f"Member must satisfy constraint: [{rule}]"
    elif kind == "string":
        if not isinstance(value, str):
            yield path, "Member must be a string"
            return
        yield from _size(model, len(value), path, "length")
        if model.enum and value not in model.enum:
            yield path, f"Member must satisfy enum value set: [{', '.join(model.enum)}]"
        pattern = model.metadata.get("pattern")
        if pattern is not None and _pattern(pattern).fullmatch(value) is None:
            yield path, f"Member must satisfy regular expression pattern: {pattern}"
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            yield path, "Member must be a number"
            return
        yield from _size(model, value, path, "value")
    elif kind == "boolean" and not isinstance(value, bool):
        yield path, "Member must be a boolean"


def _size(model: Any, size: int, path: str, what: str) -> Iterator[tuple[str, str]]:
    low, high = model.metadata.get("min"), model.metadata.get("max")
    if low is not None and size < low:
        yield path, f"Member must have {what} greater than or equal to {low}"
    if high is not None and size > high:
        yield path, f"Member must have {what} less than or equal to {high}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
