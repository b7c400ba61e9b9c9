"""The API reference (docs/api.md) rendered from the CRDs the operator builds: one table of fields per kind.

Pure: it reads the CustomResourceDefinition documents of :func:`ecr_operator.core.crd.build_crd`, so the reference
says exactly what the API server enforces (types, defaults, bounds, patterns, CEL rules and their messages).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

HEADER = (
    "# API reference\n\n"
    "<!-- Generated from the CRDs the operator builds (core/crd.py) by `ecr-operator crd --kind all --markdown`;\n"
    "     do not edit by hand: tests/unit/test_api_docs.py keeps this file equal to the output. -->\n\n"
    "Every field of every kind, as the API server sees it: its type, default, description and the rules it is\n"
    "checked against at admission (OpenAPI bounds and patterns, and CEL rules with the message a refusal shows).\n"
    "What the operator does with them: [behaviour.md](behaviour.md); `kubectl explain ecrrepository.spec` prints the\n"
    "same descriptions from a cluster.\n"
)


_ESCAPES = str.maketrans({"|": "\\|", "*": "\\*", "<": "&lt;", ">": "&gt;"})
"""Prose in a table cell: a pipe would end the cell, an asterisk start emphasis, ``<name>`` read as HTML."""


def _cell(text: str) -> str:
    return " ".join(text.split()).translate(_ESCAPES)


def unescape(markdown: str) -> str:
    """The text of prose cells as written in the CRD (for tests and readers of the Markdown source)."""
    return markdown.replace("\\|", "|").replace("\\*", "*").replace("&lt;", "<").replace("&gt;", ">")


def _code(value: object) -> str:
    text = value if isinstance(value, str) else _json(value)
    return f"`{text}`".replace("|", "\\|")


def _json(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json(item) for item in value) + "]"
    return str(value)


def _type(schema: Mapping[str, Any]) -> str:
    kind = str(schema.get("type", "any"))
    if schema.get("x-kubernetes-int-or-string"):
        return "integer or string"
    if kind == "array":
        return f"[]{_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema and "properties" not in schema:
        return f"map[string]{_type(schema['additionalProperties'])}"
    return kind


_BOUNDS = (
    ("minLength", "length ≥ {}"),
    ("maxLength", "length ≤ {}"),
    ("minItems", "≥ {} items"),
    ("maxItems", "≤ {} items"),
    ("minProperties", "≥ {} entries"),
    ("maxProperties", "≤ {} entries"),
    ("minimum", "≥ {}"),
    ("maximum", "≤ {}"),
)


def _checks(schema: Mapping[str, Any], required: bool) -> list[str]:
    checks = ["required"] if required else []
    if "enum" in schema:
        checks.append("one of " + ", ".join(_code(value) for value in schema["enum"]))
    checks.extend(template.format(schema[key]) for key, template in _BOUNDS if key in schema)
    if "pattern" in schema:
        checks.append("matches " + _code(schema["pattern"]))
    if "format" in schema:
        checks.append(f"format {schema['format']}")
    if schema.get("x-kubernetes-list-type") == "map":
        keys = ", ".join(schema.get("x-kubernetes-list-map-keys", []))
        checks.append(f"a set keyed by {keys}")
    elif schema.get("x-kubernetes-list-type") == "set":
        checks.append("a set (no duplicates)")
    for rule in schema.get("x-kubernetes-validations", []):
        target = f" ({rule['fieldPath'].lstrip('.')})" if "fieldPath" in rule else ""
        message = rule.get("message") or f"failed rule: {rule['rule']}"
        checks.append(f"rule{target}: {_cell(message)}")
    return checks


def _rows(schema: Mapping[str, Any], path: str, required: bool) -> Iterator[str]:
    default = _code(schema["default"]) if "default" in schema else ""
    description = _cell(str(schema.get("description", "")))
    checks = _checks(schema, required)
    for key, label in (("items", "each item"), ("additionalProperties", "each value")):
        inner = schema.get(key)
        if isinstance(inner, Mapping) and (inner_checks := _checks(inner, False)):
            checks.append(f"{label}: " + ", ".join(inner_checks))
    yield f"| `{path}` | {_type(schema)} | {default} | {description} | {'; '.join(checks)} |"
    yield from _children(schema, path)


def _children(schema: Mapping[str, Any], path: str) -> Iterator[str]:
    if schema.get("type") == "array" and isinstance(schema.get("items"), Mapping):
        yield from _children(schema["items"], f"{path}[]")
        return
    additional = schema.get("additionalProperties")
    if isinstance(additional, Mapping) and "properties" in additional:
        yield from _children(additional, f"{path}.*")
    required = set(schema.get("required", []))
    for name, child in schema.get("properties", {}).items():
        yield from _rows(child, f"{path}.{name}", name in required)


def _listed(label: str, names: Iterable[str]) -> str:
    codes = [f"`{name}`" for name in names]
    return label + ", ".join(codes) if codes else ""


def _printer_columns(version: Mapping[str, Any]) -> str:
    return ", ".join(f"{column['name']} (`{column['jsonPath']}`)" for column in version["additionalPrinterColumns"])


def render_kind(crd: Mapping[str, Any]) -> str:
    """One kind's section: names, scope, `kubectl get` columns, rules on the whole object, then its fields."""
    spec = crd["spec"]
    names = spec["names"]
    version = spec["versions"][0]
    root = version["schema"]["openAPIV3Schema"]
    lines = [
        f"## {names['kind']}",
        "",
        _cell(str(root.get("description", ""))),
        "",
        f"- `apiVersion: {spec['group']}/{version['name']}`, {spec['scope'].lower()}; plural `{names['plural']}`"
        + _listed(", short names ", names.get("shortNames", []))
        + _listed(", categories ", names.get("categories", [])),
        f"- `kubectl get` columns: {_printer_columns(version)}",
    ]
    for rule in root.get("x-kubernetes-validations", []):
        lines.append(f"- Rule on the whole object: {_cell(rule.get('message') or rule['rule'])}")
    for part in ("spec", "status"):
        lines += ["", f"### {names['kind']} `{part}`", ""]
        lines += ["| field | type | default | description | checked at admission |", "| --- | --- | --- | --- | --- |"]
        lines += list(_rows(root["properties"][part], part, False))
    return "\n".join(lines) + "\n"


def render(crds: Iterable[Mapping[str, Any]]) -> str:
    """docs/api.md: the header, then one section per CRD."""
    return HEADER + "".join("\n" + render_kind(crd) for crd in crds)
