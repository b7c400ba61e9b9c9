"""crd.py: the CRD is generated from the pydantic models, is structural, and crds/ never drifts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecr_operator.core.crd import build_crd, render_crd_yaml, to_structural
from ecr_operator.core.model import ACCOUNT_ID_PATTERN
from ecr_operator.repository.crd import CRD
from ecr_operator.repository.render import OWNER_TAG_KEYS
from ecr_operator.repository.spec import MAX_USER_TAGS, REPOSITORY_NAME_PATTERN

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = REPO_ROOT / "crds" / "ecrrepository.yaml"


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return build_crd(CRD)


@pytest.fixture(scope="module")
def version(crd: dict[str, Any]) -> dict[str, Any]:
    [only] = crd["spec"]["versions"]
    result: dict[str, Any] = only
    return result


@pytest.fixture(scope="module")
def spec_schema(version: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return result


@pytest.fixture(scope="module")
def status_schema(version: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    return result


def walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def test_crds_file_matches_the_model() -> None:
    assert CRD_FILE.read_text() == render_crd_yaml(CRD), (
        "crds/ecrrepository.yaml drifted from operator/ecr_operator/repository/spec.py; "
        "regenerate it: ecr-operator crd > crds/ecrrepository.yaml"
    )


def test_rendered_yaml_round_trips(crd: dict[str, Any]) -> None:
    text = render_crd_yaml(CRD)
    assert text.startswith("# Generated from")
    assert yaml.safe_load(text) == crd


def test_schema_is_structural(version: dict[str, Any]) -> None:
    schema = version["schema"]["openAPIV3Schema"]
    offenders = [
        f"{path}.{key}"
        for path, key, value in walk(schema)
        if key in ("anyOf", "oneOf", "allOf", "$ref", "$defs", "title")
        or (key == "additionalProperties" and value is False)
        or (key == "default" and value is None)
    ]
    assert offenders == []


def test_every_property_has_a_type(version: dict[str, Any]) -> None:
    untyped = [
        f"{path}.{name}"
        for path, key, value in walk(version["schema"]["openAPIV3Schema"])
        if key == "properties"
        for name, sub in value.items()
        if "type" not in sub and not sub.get("x-kubernetes-preserve-unknown-fields")
    ]
    assert untyped == []
    # Only an IAM statement's free-form elements may hold any JSON value.
    free = [
        f"{path}.{name}"
        for path, key, value in walk(version["schema"]["openAPIV3Schema"])
        if key == "properties"
        for name, sub in value.items()
        if "type" not in sub
    ]
    assert all(".repositoryPolicy.properties.statements.items." in path for path in free), free


def test_names_and_scope(crd: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == "ecrrepositories.ecr.platform.dev"
    spec = crd["spec"]
    assert spec["group"] == "ecr.platform.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "EcrRepository"
    assert spec["names"]["plural"] == "ecrrepositories"
    assert spec["names"]["shortNames"] == ["ecr", "ecrrepo"]


def test_status_subresource_and_printer_columns(version: dict[str, Any]) -> None:
    assert version["subresources"] == {"status": {}}
    assert version["served"] is True and version["storage"] is True
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert list(columns) == ["URI", "Ready", "Reason", "Images", "Size", "Critical", "High", "Age"]
    assert columns["URI"]["jsonPath"] == ".status.repositoryUri"
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Reason"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert columns["Age"] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    assert columns["Images"] == {"name": "Images", "type": "integer", "jsonPath": ".status.images.count"}
    assert columns["Size"] == {"name": "Size", "type": "integer", "jsonPath": ".status.images.totalSizeBytes"}
    assert columns["Critical"]["jsonPath"] == ".status.scan.findingSeverityCounts.CRITICAL"
    assert columns["High"]["jsonPath"] == ".status.scan.findingSeverityCounts.HIGH"


def test_status_declares_images_scan_and_cost(version: dict[str, Any]) -> None:
    """Every field the inventory writes is declared (the structural schema would prune it otherwise)."""
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    images = status["images"]["properties"]
    assert set(images) == {"count", "totalSizeBytes", "newestPushedAt", "newestTags"}
    scan = status["scan"]["properties"]
    assert set(scan) == {"imageDigest", "imageTags", "status", "completedAt", "findingSeverityCounts"}
    assert scan["findingSeverityCounts"]["additionalProperties"] == {"type": "integer"}
    assert status["estimatedMonthlyCostUSD"]["type"] == "number"


def test_spec_defaults(spec_schema: dict[str, Any]) -> None:
    props = spec_schema["properties"]
    assert spec_schema["default"] == {}
    assert props["imageTagMutability"]["default"] == "MUTABLE"
    assert props["scanOnPush"]["default"] is True
    assert props["deletionPolicy"]["default"] == "Delete"
    assert props["forceDelete"]["default"] is False
    encryption = props["encryption"]
    assert encryption["default"] == {}
    assert encryption["properties"]["type"]["default"] == "KMS"
    assert encryption["properties"]["enableKeyRotation"]["default"] is True
    assert encryption["properties"]["deletionWindowInDays"]["default"] == 30
    assert props["crossAccountPull"]["properties"]["enabled"]["default"] is False


def test_spec_enums_and_bounds(spec_schema: dict[str, Any]) -> None:
    props = spec_schema["properties"]
    assert props["imageTagMutability"]["enum"] == [
        "MUTABLE",
        "IMMUTABLE",
        "MUTABLE_WITH_EXCLUSION",
        "IMMUTABLE_WITH_EXCLUSION",
    ]
    # botocore's model: ImageTagMutabilityExclusionFilters 1-5, ImageTagMutabilityExclusionFilterValue
    filters = props["imageTagMutabilityExclusionFilters"]
    assert (filters["minItems"], filters["maxItems"]) == (1, 5)
    assert filters["x-kubernetes-list-type"] == "map"
    item = filters["items"]["properties"]
    assert item["filter"]["pattern"] == "^[0-9a-zA-Z._*-]{1,128}$"
    assert (item["filter"]["minLength"], item["filter"]["maxLength"]) == (1, 128)
    assert item["filterType"]["enum"] == ["WILDCARD"]
    pull = props["crossAccountPull"]["properties"]
    assert pull["organizationIds"]["items"]["pattern"] == "^o-[a-z0-9]{10,32}$"
    assert pull["organizationPaths"]["items"]["pattern"].startswith("^o-[a-z0-9]{10,32}/r-")
    statement = props["repositoryPolicy"]["properties"]["statements"]["items"]
    assert statement["properties"]["Effect"]["enum"] == ["Allow", "Deny"]
    assert statement["required"] == ["Effect"]
    assert props["deletionPolicy"]["enum"] == ["Delete", "Retain"]
    assert props["encryption"]["properties"]["type"]["enum"] == ["KMS", "AES256"]
    window = props["encryption"]["properties"]["deletionWindowInDays"]
    assert (window["minimum"], window["maximum"]) == (7, 30)
    assert props["lifecycle"]["properties"]["policyText"]["minLength"] == 100


def test_spec_patterns(spec_schema: dict[str, Any]) -> None:
    props = spec_schema["properties"]
    name = props["repositoryName"]
    assert name["pattern"] == REPOSITORY_NAME_PATTERN
    assert (name["minLength"], name["maxLength"]) == (2, 256)
    accounts = props["crossAccountPull"]["properties"]["allowedAccountIds"]
    assert accounts["type"] == "array"
    assert accounts["items"] == {"type": "string", "pattern": ACCOUNT_ID_PATTERN}
    assert accounts["x-kubernetes-list-type"] == "set"


def test_tags_are_a_string_map(spec_schema: dict[str, Any]) -> None:
    assert spec_schema["properties"]["tags"]["type"] == "object"
    assert spec_schema["properties"]["tags"]["additionalProperties"] == {"type": "string"}


def test_user_tags_leave_room_for_the_ownership_tags_within_aws_limit(spec_schema: dict[str, Any]) -> None:
    """AWS allows 50 tags per repository and per key; the operator adds its 3 ownership tags to the user's."""
    tags = spec_schema["properties"]["tags"]
    assert MAX_USER_TAGS + len(OWNER_TAG_KEYS) == 50
    assert MAX_USER_TAGS == 47
    # A rule, not maxProperties: the API server runs no rule once maxProperties failed, so the "why" would be lost.
    assert "maxProperties" not in tags
    [rule] = tags["x-kubernetes-validations"]
    assert rule["rule"] == "size(self) <= 47"
    assert rule["message"].startswith("spec.tags may hold at most 47 tags: AWS allows 50")


def _rules(schema: dict[str, Any]) -> list[str]:
    return [r["rule"] for r in schema.get("x-kubernetes-validations", [])]


def test_cel_rules(spec_schema: dict[str, Any]) -> None:
    props = spec_schema["properties"]
    spec_rules = " ".join(_rules(spec_schema))
    assert "oldSelf.repositoryName" in spec_rules
    assert "oldSelf.region" in spec_rules
    encryption_rules = _rules(props["encryption"])
    assert any("oldSelf.type" in r for r in encryption_rules)  # type is immutable
    assert any("oldSelf.kmsKeyArn" in r for r in encryption_rules)  # key is immutable
    assert any("'KMS'" in r and "kmsKeyArn" in r and "oldSelf" not in r for r in encryption_rules)  # key needs KMS
    lifecycle_rules = _rules(props["lifecycle"])
    assert any("policyText" in r and "maxImageCount" in r for r in lifecycle_rules)
    assert len(lifecycle_rules) == 2
    [pull_rule] = _rules(props["crossAccountPull"])
    assert pull_rule.startswith("!self.enabled || (has(self.allowedAccountIds) && size(self.allowedAccountIds) > 0)")
    assert "organizationIds" in pull_rule and "organizationPaths" in pull_rule
    assert sum("imageTagMutabilityExclusionFilters" in r for r in _rules(spec_schema)) == 2
    statement_rules = _rules(props["repositoryPolicy"]["properties"]["statements"]["items"])
    assert any("'CrossAccountPull'" in r and "self.Sid" in r for r in statement_rules)
    for _, key, value in walk(spec_schema):
        if key == "x-kubernetes-validations":
            assert all(rule.get("message") for rule in value)


def test_status_declares_every_field_the_operator_writes(status_schema: dict[str, Any]) -> None:
    props = status_schema["properties"]
    for field in (
        "repositoryName",
        "repositoryUri",
        "repositoryArn",
        "registryId",
        "region",
        "kmsKeyArn",
        "observedGeneration",
        "lastSyncTime",
        "plannedChanges",
        "adopted",
        "adoptedAt",
        "conditions",
    ):
        assert field in props, field
    assert props["adopted"]["type"] == "boolean" and props["adopted"].get("description")
    assert props["adoptedAt"]["type"] == "string" and props["adoptedAt"].get("description")
    conditions = props["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    condition = conditions["items"]["properties"]
    assert set(condition) == {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
    assert condition["observedGeneration"]["type"] == "integer"


def test_every_status_field_is_explained(status_schema: dict[str, Any]) -> None:
    """`kubectl explain ecrrepository.status...` shows a description for every field, at every depth."""
    properties = [
        f"status{path}.{name}"
        for path, key, value in walk(status_schema)
        if key == "properties"
        for name, sub in value.items()
        if not str(sub.get("description", "")).strip()
    ]
    assert properties == []
    assert status_schema.get("description")
    assert status_schema["properties"]["conditions"]["items"].get("description")


def test_to_structural_resolves_optional_refs() -> None:
    schema = {
        "$defs": {"Inner": {"title": "Inner", "type": "object", "properties": {"a": {"type": "string"}}}},
        "title": "Outer",
        "type": "object",
        "additionalProperties": False,
        "properties": {"inner": {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}], "default": None}},
        "required": ["inner"],
    }
    assert to_structural(schema) == {
        "type": "object",
        "properties": {"inner": {"type": "object", "properties": {"a": {"type": "string"}}}},
        "required": ["inner"],
    }


def test_to_structural_rejects_real_unions() -> None:
    with pytest.raises(ValueError, match="structural"):
        to_structural({"anyOf": [{"type": "string"}, {"type": "integer"}]})


def test_the_root_rule_checks_metadata_name_when_it_is_the_repository_name() -> None:
    from ecr_operator.repository.crd import DEFAULT_NAME_RULE

    root = build_crd(CRD)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert DEFAULT_NAME_RULE in root["x-kubernetes-validations"]
    assert "self.metadata.name" in DEFAULT_NAME_RULE["rule"]
    assert "has(self.spec.repositoryName)" in DEFAULT_NAME_RULE["rule"]
