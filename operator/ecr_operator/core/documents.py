"""JSON documents written inside a spec (a lifecycle policy, a registry policy): parsed once, at the edge.

A document that is not JSON, uses JSON's non-standard constants (``NaN``, ``Infinity``: AWS refuses them, and
``NaN`` never equals itself, so a comparison with it would plan a write at every pass), or nests deeper than any
AWS policy needs is refused as ``InvalidSpec`` naming the field and, for a syntax error, its position.
"""

from __future__ import annotations

import json
from typing import Any

from ecr_operator.core.errors import SpecError
from ecr_operator.core.reasons import Reason

MAX_DEPTH = 32
"""Nesting of objects and arrays allowed in a document; ECR's and IAM's policies need fewer than 10 levels."""


class _NotStandard(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotStandard(f"{name} is not a JSON value")


def load_document(text: str, field: str) -> Any:
    """The JSON value of ``text``; raises InvalidSpec naming ``field``."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise SpecError(
            Reason.INVALID_SPEC, f"{field}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        # json's scanner recurses once per level: thousands of '[' exhaust the stack before any depth check.
        raise SpecError(Reason.INVALID_SPEC, f"{field}: nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:  # NaN / Infinity, or an integer longer than Python converts (4300 digits)
        raise SpecError(Reason.INVALID_SPEC, f"{field}: not JSON: {exc}") from exc
    if depth(value) > MAX_DEPTH:
        raise SpecError(Reason.INVALID_SPEC, f"{field}: nested deeper than {MAX_DEPTH} levels")
    return value


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply ``value``'s objects and arrays nest (0 for a scalar), measured up to one level past ``limit``;
    iterative, so any depth is measured."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        if deepest > limit:
            return deepest
        pending.extend((child, level + 1) for child in children)
    return deepest
