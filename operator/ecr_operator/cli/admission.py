"""What the API server would say to a create of an object of our CRDs, judged offline: the CRD's structural schema
(defaults applied first, then types, bounds, patterns, enums, required and unknown fields, list uniqueness) and its
``x-kubernetes-validations`` CEL rules, in the order and with the field paths the API server uses.

The schema is the one the operator generates (``core/crd.py``, ``registry/crd.py``), so it is the CRD of this
version of the operator. Where this differs from an API server, it is on purpose and stated here:

- unknown fields are refused, as ``kubectl apply``'s default (``--validate=strict``) has the server do;
- ``status`` is not judged: the status subresource drops it from a create;
- CEL rules run only when the object passed the schema (rules may assume the types it declares), and transition
  rules (those reading ``oldSelf``) are not run, as on a create;
- of ``metadata``, only what a CRD can constrain and what any object needs is checked (name and namespace).

ValidatingAdmissionPolicies are a second, separate input (:class:`Policy` callables), judged after the CRD like
the API server's admission chain does.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecr_operator.cli.cel import CelError, Evaluator, is_true
from ecr_operator.cli.manifests import describe


@dataclass(frozen=True)
class Violation:
    """One reason the API server would refuse the object: the field (``spec.lifecycle.maxImageCount``) and why."""

    field: str
    message: str
    warning: bool = False
    """An admission policy's Warn action: reported, not refused."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


Policy = Callable[[Mapping[str, Any]], Sequence[Violation]]
"""An admission policy (a ValidatingAdmissionPolicy with its binding and parameters): the object, after the CRD's
defaults, to its violations."""

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _has_type(value: Any, expected: str) -> bool:
    if isinstance(value, bool) and expected != "boolean":
        return False
    if expected == "integer" and isinstance(value, float):
        return value.is_integer()  # JSON has one number type: 3.0 is the integer 3
    return isinstance(value, _TYPES.get(expected, (object,)))


def apply_defaults(value: Any, schema: Mapping[str, Any]) -> Any:
    """``value`` with the schema's defaults filled in, recursively (a defaulted object gets its own defaults);
    nulls of fields that are not nullable are dropped first, as the API server prunes them."""
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        result = {}
        for key, item in value.items():
            sub = properties.get(key) or schema.get("additionalProperties")
            if item is None and isinstance(sub, Mapping) and not sub.get("nullable"):
                continue
            result[key] = apply_defaults(item, sub) if isinstance(sub, Mapping) else item
        for key, sub in properties.items():
            if key not in result and "default" in sub:
                result[key] = apply_defaults(copy.deepcopy(sub["default"]), sub)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [apply_defaults(item, schema["items"]) for item in value]
    return value


def schema_violations(value: Any, schema: Mapping[str, Any], path: str = "") -> list[Violation]:
    """The OpenAPI checks of ``value`` against ``schema`` (no CEL)."""
    if value is None:
        return [] if schema.get("nullable") else [Violation(path, "must not be null")]
    expected = schema.get("type")
    if expected and not _has_type(value, expected):
        return [Violation(path, f"must be of type {expected}, not {describe(value)}")]
    found: list[Violation] = []
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        found.append(Violation(path, f"unsupported value {value!r}: supported values: {allowed}"))
    if isinstance(value, str):
        found += _string_violations(value, schema, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found += _number_violations(value, schema, path)
    elif isinstance(value, list):
        found += _list_violations(value, schema, path)
    elif isinstance(value, dict):
        found += _object_violations(value, schema, path)
    return found


def _string_violations(value: str, schema: Mapping[str, Any], path: str) -> list[Violation]:
    found = []
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        found.append(Violation(path, f"may not be longer than {schema['maxLength']} characters ({len(value)})"))
    if "minLength" in schema and len(value) < schema["minLength"]:
        found.append(Violation(path, f"must be at least {schema['minLength']} characters long"))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        found.append(Violation(path, f"{value!r} does not match {schema['pattern']!r}"))
    return found


def _number_violations(value: float, schema: Mapping[str, Any], path: str) -> list[Violation]:
    found = []
    if "minimum" in schema and value < schema["minimum"]:
        found.append(Violation(path, f"must be greater than or equal to {schema['minimum']}, not {value}"))
    if "maximum" in schema and value > schema["maximum"]:
        found.append(Violation(path, f"must be less than or equal to {schema['maximum']}, not {value}"))
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        found.append(Violation(path, f"must be greater than {schema['exclusiveMinimum']}, not {value}"))
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        found.append(Violation(path, f"must be less than {schema['exclusiveMaximum']}, not {value}"))
    return found


def _list_violations(value: list[Any], schema: Mapping[str, Any], path: str) -> list[Violation]:
    found = []
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        found.append(Violation(path, f"must have at most {schema['maxItems']} items, not {len(value)}"))
    if "minItems" in schema and len(value) < schema["minItems"]:
        found.append(Violation(path, f"must have at least {schema['minItems']} items, not {len(value)}"))
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            found += schema_violations(item, items, f"{path}[{index}]")
    list_type = schema.get("x-kubernetes-list-type")
    if list_type in ("set", "map") and not found:
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen: list[Any] = []
        for index, item in enumerate(value):
            key = [item.get(k) for k in keys] if list_type == "map" and isinstance(item, dict) else item
            if key in seen:
                found.append(Violation(f"{path}[{index}]", f"duplicate entry {key!r}"))
            seen.append(key)
    return found


def _object_violations(value: dict[str, Any], schema: Mapping[str, Any], path: str) -> list[Violation]:
    found = []
    properties: Mapping[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for name in schema.get("required") or ():
        if name not in value:
            found.append(Violation(_child(path, name), "required value"))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        found.append(Violation(path, f"must have at most {schema['maxProperties']} entries, not {len(value)}"))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        found.append(Violation(path, f"must have at least {schema['minProperties']} entries, not {len(value)}"))
    for name, item in value.items():
        if name in properties:
            found += schema_violations(item, properties[name], _child(path, name))
        elif isinstance(additional, Mapping):
            found += schema_violations(item, additional, _child(path, name))
        elif not (schema.get("x-kubernetes-preserve-unknown-fields") or additional is True):
            found.append(Violation(_child(path, name), "unknown field"))
    return found


def rule_violations(value: Any, schema: Mapping[str, Any], cel: Evaluator, path: str = "") -> list[Violation]:
    """The ``x-kubernetes-validations`` rules at every node of ``value``, deepest last (after the schema passed)."""
    found: list[Violation] = []
    for rule in schema.get("x-kubernetes-validations") or ():
        if re.search(r"\boldSelf\b", rule["rule"]):
            continue  # a transition rule: an update's, never a create's
        where = path + str(rule.get("fieldPath", "")) if rule.get("fieldPath") else path
        try:
            passed = is_true(cel.evaluate(rule["rule"], {"self": value}))
        except CelError as error:
            found.append(Violation(where, f"rule {rule['rule']!r} {error}"))
            continue
        if not passed:
            found.append(Violation(where, _rule_message(rule, value, cel)))
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for name, item in value.items():
            if name in properties:
                found += rule_violations(item, properties[name], cel, _child(path, name))
            elif isinstance(additional, Mapping):
                found += rule_violations(item, additional, cel, _child(path, name))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            found += rule_violations(item, schema["items"], cel, f"{path}[{index}]")
    return found


def _rule_message(rule: Mapping[str, Any], value: Any, cel: Evaluator) -> str:
    if "messageExpression" in rule:
        try:
            return str(cel.evaluate(rule["messageExpression"], {"self": value}))
        except CelError:
            pass  # the API server falls back to the message too
    return str(rule.get("message") or f"failed rule: {rule['rule']}")


def _metadata_violations(metadata: Mapping[str, Any], namespaced: bool) -> list[Violation]:
    found = []
    name = str(metadata.get("name") or "")
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        found.append(
            Violation("metadata.name", f"{name!r} is not a DNS-1123 subdomain (lower case a-z, 0-9, '-' and '.')")
        )
    namespace = metadata.get("namespace")
    if namespaced and namespace and (len(namespace) > 63 or not _DNS_LABEL.match(namespace)):
        found.append(Violation("metadata.namespace", f"{namespace!r} is not a DNS-1123 label"))
    return found


@dataclass(frozen=True)
class Crd:
    """One served version of a CustomResourceDefinition, as admission needs it."""

    kind: str
    plural: str
    namespaced: bool
    schema: Mapping[str, Any]

    @classmethod
    def of(cls, definition: Mapping[str, Any]) -> Crd:
        spec = definition["spec"]
        version = next(v for v in spec["versions"] if v.get("storage"))
        names = spec["names"]
        return cls(names["kind"], names["plural"], spec["scope"] == "Namespaced", version["schema"]["openAPIV3Schema"])

    def rules(self) -> Iterable[str]:
        """Every CEL rule of the schema (for tests: each must be evaluable here)."""
        pending: list[Mapping[str, Any]] = [self.schema]
        while pending:
            node = pending.pop()
            for rule in node.get("x-kubernetes-validations") or ():
                yield rule["rule"]
                if "messageExpression" in rule:
                    yield rule["messageExpression"]
            pending += list((node.get("properties") or {}).values())
            pending += [node[k] for k in ("items", "additionalProperties") if isinstance(node.get(k), Mapping)]


@dataclass(frozen=True)
class Admission:
    """The object as stored (defaults applied), or the violations that refuse it."""

    stored: dict[str, Any]
    violations: list[Violation]
    warnings: list[Violation] = field(default_factory=list)


def admit(body: Mapping[str, Any], crd: Crd, cel: Evaluator | None, policies: Sequence[Policy] = ()) -> Admission:
    """A create of ``body`` judged by the CRD (schema, then rules), then by the admission policies. Without an
    evaluator (CEL not installed) the rules are left out: the schema alone is judged."""
    submitted = {key: value for key, value in body.items() if key != "status"}
    stored = apply_defaults(submitted, crd.schema)
    violations = _metadata_violations(stored.get("metadata") or {}, crd.namespaced)
    root = {**crd.schema, "properties": {**crd.schema.get("properties", {}), "metadata": {"type": "object"}}}
    violations += schema_violations({k: v for k, v in stored.items() if k != "metadata"}, _without(root, "metadata"))
    if not violations and cel is not None:
        violations += rule_violations(stored, root, cel)
    warnings: list[Violation] = []
    if not violations:
        for policy in policies:
            for found in policy(stored):
                (warnings if found.warning else violations).append(found)
    return Admission(stored, violations, warnings)


def _without(schema: Mapping[str, Any], name: str) -> dict[str, Any]:
    properties = {k: v for k, v in (schema.get("properties") or {}).items() if k != name}
    return {**schema, "properties": properties, "x-kubernetes-validations": []}
