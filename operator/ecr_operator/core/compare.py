"""Pure semantic comparison: two documents are equal when AWS would treat them the same.

AWS re-serialises what it stores (key order, whitespace, a single value instead of a one-element list,
an account ID instead of its root ARN, rules in another order), so nothing here compares strings.

Every function here is total over JSON values: a document of an unexpected shape (the spec's is checked before,
but what AWS or another tool stored is not) is compared as it is, never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_ROOT_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>[0-9]{12}):root$")
# Policy elements whose value is a set: order and single-vs-list do not matter.
_SET_ELEMENTS = ("Action", "NotAction", "Resource", "NotResource")


def parse_json(text: str | None) -> Any:
    if text is None or text == "":
        return None
    return json.loads(text)


def to_json(document: Any) -> str:
    """The compact, key-sorted JSON the operator sends to AWS (what it stores is compared by meaning, not text)."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def _as_sorted_list(value: Any) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    return sorted({json.dumps(item, sort_keys=True) for item in items})


def _normalize_principal_id(value: str) -> str:
    """An account's root principal as its bare account ID, whatever the partition: AWS may store either form."""
    found = _ROOT_PRINCIPAL.match(value)
    return found.group("account") if found else value


def _normalize_principal(principal: Any) -> Any:
    if principal == "*":
        return {"AWS": ['"*"']}
    if not isinstance(principal, Mapping):
        return principal
    normalized: dict[str, Any] = {}
    for kind, ids in principal.items():
        values = ids if isinstance(ids, list) else [ids]
        if kind == "AWS":
            values = [_normalize_principal_id(v) if isinstance(v, str) else v for v in values]
        normalized[kind] = _as_sorted_list(values)
    return normalized


def _normalize_condition(condition: Any) -> Any:
    if not isinstance(condition, Mapping):
        return condition
    return {
        operator: {key: _as_sorted_list(values) for key, values in (clauses or {}).items()}
        if isinstance(clauses, Mapping)
        else clauses
        for operator, clauses in condition.items()
    }


def _normalize_statement(statement: Mapping[str, Any]) -> dict[str, Any]:
    normalized: dict[str, Any] = {}
    for key, value in statement.items():
        if key in _SET_ELEMENTS:
            items = value if isinstance(value, list) else [value]
            # IAM action names are case-insensitive.
            if key in ("Action", "NotAction"):
                items = [item.lower() if isinstance(item, str) else item for item in items]
            normalized[key] = _as_sorted_list(items)
        elif key in ("Principal", "NotPrincipal"):
            normalized[key] = _normalize_principal(value)
        elif key == "Condition":
            normalized[key] = _normalize_condition(value)
        else:
            normalized[key] = value
    return normalized


def normalize_policy(document: Any) -> Any:
    """A canonical form of an IAM-style policy document (statements are an unordered set)."""
    if not isinstance(document, Mapping):
        return document
    normalized = {key: value for key, value in document.items() if key not in ("Statement", "Version")}
    normalized["Version"] = document.get("Version", "2008-10-17")
    statements = document.get("Statement", [])
    if not isinstance(statements, list):
        statements = [statements]
    normalized["Statement"] = sorted(
        json.dumps(_normalize_statement(s), sort_keys=True) if isinstance(s, Mapping) else json.dumps(s)
        for s in statements
    )
    return normalized


def policies_equal(left: Any, right: Any) -> bool:
    return bool(normalize_policy(left) == normalize_policy(right))


def _normalize_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    selection = rule.get("selection")
    if isinstance(selection, Mapping):
        selection = dict(selection)
        for key in ("tagPrefixList", "tagPatternList"):
            if key in selection:
                selection[key] = _as_sorted_list(selection[key])
    normalized = {key: value for key, value in rule.items() if key != "selection"}
    normalized["selection"] = selection
    if not normalized.get("description"):
        normalized.pop("description", None)
    return normalized


def normalize_lifecycle(document: Any) -> Any:
    """A canonical form of an ECR lifecycle policy: rules ordered by priority, list fields as sets."""
    if not isinstance(document, Mapping):
        return document
    rules = document.get("rules")
    rules = rules if isinstance(rules, list) else []
    normalized = [_normalize_rule(rule) for rule in rules if isinstance(rule, Mapping)]
    return {"rules": sorted(json.dumps(rule, sort_keys=True) for rule in normalized)}


def lifecycles_equal(left: Any, right: Any) -> bool:
    return bool(normalize_lifecycle(left) == normalize_lifecycle(right))


def tag_changes(desired: Mapping[str, str], actual: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Tags to set (new or changed values) and tag keys to remove; ``aws:`` tags belong to AWS and stay."""
    to_set = {key: value for key, value in desired.items() if actual.get(key) != value}
    to_remove = sorted(key for key in actual if key not in desired and not key.startswith("aws:"))
    return to_set, to_remove


def tags_from_list(items: list[Mapping[str, str]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {item[key]: item.get(value, "") for item in items or []}
