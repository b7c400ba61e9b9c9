"""docs/api.md is the API reference generated from the CRDs; the Kubernetes version the docs and the chart state is
the one the CRDs' features need."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecr_operator.cli.main import main
from ecr_operator.core.apidoc import render, unescape
from ecr_operator.core.crd import build_crd
from ecr_operator.runtime.kinds import KINDS

REPO_ROOT = Path(__file__).resolve().parents[2]
CRDS = [build_crd(kind.crd) for kind in KINDS]


def test_the_committed_reference_is_the_generated_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "--kind", "all", "--markdown"]) == 0
    generated = capsys.readouterr().out
    assert generated == render(CRDS)
    assert (REPO_ROOT / "docs" / "api.md").read_text() == generated, "docs/api.md differs: run hack/api-docs.sh"


def _properties(schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every field with its path; a list's items are described by their fields (`spec.list[].field`)."""
    yield path, schema
    yield from _fields(schema, path)


def _fields(schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(schema.get("items"), Mapping):
        yield from _fields(schema["items"], f"{path}[]")
    for name, child in schema.get("properties", {}).items():
        yield from _properties(child, f"{path}.{name}")


@pytest.mark.parametrize("crd", CRDS, ids=[crd["spec"]["names"]["kind"] for crd in CRDS])
def test_every_field_and_rule_message_is_in_the_reference(crd: Mapping[str, Any]) -> None:
    text = render([crd])
    flat = " ".join(unescape(text).split())
    for rule in _rules(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]):
        assert " ".join(rule["message"].split()) in flat, rule["message"]
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for part in ("spec", "status"):
        for path, schema in _properties(root["properties"][part], part):
            [row] = [line for line in text.splitlines() if line.startswith(f"| `{path}` |")]
            for rule in schema.get("x-kubernetes-validations", []):
                assert " ".join(rule["message"].split()) in unescape(row), (path, rule["message"])
            default = schema.get("default")
            if isinstance(default, bool | int | str):
                assert f"`{str(default).lower() if isinstance(default, bool) else default}`" in row, path


# The Kubernetes release that made each CRD validation-rule feature available by default (apiextensions.k8s.io/v1):
# CEL rules and oldSelf transition rules are beta and on in 1.25, messageExpression came in 1.27, reason and
# fieldPath in 1.28, optionalOldSelf is beta in 1.30.
RULE_FIELD_SINCE = {"rule": (1, 25), "message": (1, 25), "messageExpression": (1, 27), "reason": (1, 28),
                    "fieldPath": (1, 28), "optionalOldSelf": (1, 30)}  # fmt: skip


def _rules(schema: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from schema.get("x-kubernetes-validations", [])
    for child in (*schema.get("properties", {}).values(), schema.get("items"), schema.get("additionalProperties")):
        if isinstance(child, Mapping):
            yield from _rules(child)


def test_the_stated_minimum_kubernetes_version_is_what_the_crds_need() -> None:
    needed = max(
        RULE_FIELD_SINCE[field]
        for crd in CRDS
        for rule in _rules(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
        for field in rule
    )
    minor = f"{needed[0]}.{needed[1]}"
    chart = yaml.safe_load((REPO_ROOT / "charts/ecr-operator/Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={minor}.0-0"
    assert f"**Kubernetes {minor} or newer**" in (REPO_ROOT / "README.md").read_text()
    assert f"**Kubernetes {minor} or newer.**" in (REPO_ROOT / "docs/install.md").read_text()
    stated = set(re.findall(r"Kubernetes (1\.\d+) or newer", (REPO_ROOT / "README.md").read_text()))
    assert stated == {minor}
