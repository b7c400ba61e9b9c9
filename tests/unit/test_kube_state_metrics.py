"""deploy/monitoring/kube-state-metrics/: every path the CustomResourceState config reads is a field of the CRD it
names (so a renamed status field cannot silently empty a dashboard), and its RBAC lets kube-state-metrics list and
watch exactly those kinds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ecr_operator.cli.plan import crd_of

KSM = Path(__file__).resolve().parents[2] / "deploy" / "monitoring" / "kube-state-metrics"
CONFIG = yaml.safe_load((KSM / "custom-resource-state.yaml").read_text())
PLURALS = {"EcrRepository": "ecrrepositories", "EcrRegistry": "ecrregistries"}


def resolve(schema: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """The schema node at ``path`` (object properties, map values, list items)."""
    node = schema
    for step in path:
        if node.get("type") == "array":
            node = node["items"]
        if step in (node.get("properties") or {}):
            node = node["properties"][step]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            raise AssertionError(f"{path}: no field {step!r} in {sorted(node.get('properties') or {})}")
    return node


def paths(resource: dict[str, Any]) -> list[tuple[list[str], list[str]]]:
    """(path of the value, path relative to it) for every path the resource's metrics read."""
    found = [([], p) for p in resource.get("labelsFromPath", {}).values()]
    for metric in resource["metrics"]:
        each = metric["each"]
        spec = each[each["type"].lower()]
        found.append(([], spec["path"]))
        found += [(spec["path"], p) for p in spec.get("labelsFromPath", {}).values()]
        if "valueFrom" in spec:
            found.append((spec["path"], spec["valueFrom"]))
    return found


@pytest.mark.parametrize("resource", CONFIG["spec"]["resources"], ids=lambda r: r["groupVersionKind"]["kind"])
def test_every_path_is_a_field_of_the_crd(resource: dict[str, Any]) -> None:
    gvk = resource["groupVersionKind"]
    crd = crd_of(gvk["kind"])
    assert (gvk["group"], gvk["version"]) == ("ecr.platform.dev", "v1alpha1")
    for base, path in paths(resource):
        if path[:1] == ["metadata"]:
            continue
        resolve(crd.schema, [*base, *path])
    assert resource["metricNamePrefix"] == f"kube_{gvk['kind'].lower()}"


def test_findings_come_from_the_severity_map_and_conditions_from_status() -> None:
    [repository] = [r for r in CONFIG["spec"]["resources"] if r["groupVersionKind"]["kind"] == "EcrRepository"]
    findings = next(m for m in repository["metrics"] if m["name"] == "image_findings")["each"]["gauge"]
    node = resolve(crd_of("EcrRepository").schema, findings["path"])
    assert node["type"] == "object" and node["additionalProperties"]["type"] == "integer"
    assert findings["labelFromKey"] == "severity"


def test_rbac_lists_and_watches_the_configured_kinds() -> None:
    role = next(d for d in yaml.safe_load_all((KSM / "rbac.yaml").read_text()) if d["kind"] == "ClusterRole")
    [rule] = [r for r in role["rules"] if r["apiGroups"] == ["ecr.platform.dev"]]
    kinds = {r["groupVersionKind"]["kind"] for r in CONFIG["spec"]["resources"]}
    assert set(rule["resources"]) == {PLURALS[k] for k in kinds} and set(rule["verbs"]) == {"list", "watch"}
