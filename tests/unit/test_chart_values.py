"""Every setting of `ecr-operator run` is reachable from the Helm chart: CHART_VALUES maps each option of the
parser (its variable) to the value that sets it, a new option without an entry fails here, every entry names a
value the strict values.schema.json declares, and the schema has no setting the operator does not read.

What the chart renders from each value, parsed by the CLI itself: tests/e2e/test_chart.py (needs helm).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecr_operator.cli.main import ENV_PREFIX, RUN_FLAGS_WITHOUT_ENV

CHART = Path(__file__).resolve().parents[2] / "charts" / "ecr-operator"

CHART_VALUES: dict[str, str | None] = {
    "--region": "settings.region",
    "--namespace": "watchNamespaces",
    "--all-namespaces": "watchNamespaces",  # empty: all namespaces
    "--required-tags": "settings.requiredTags",
    "--cluster-id": "settings.clusterId",
    "--repository-name-policy": "settings.repositoryNamePolicy",
    "--adoption": "settings.adoption",
    "--resync-interval": "settings.resyncInterval",
    "--inventory-interval": "settings.inventoryInterval",
    "--storage-price-per-gb-month": "settings.storagePricePerGbMonth",
    "--kms-key-price-per-month": "settings.kmsKeyPricePerMonth",
    "--workers": "settings.workers",
    "--account-mapping": "settings.accountMapping",
    "--no-registries": "settings.noRegistries",
    "--require-account-mapping": "settings.requireAccountMapping",
    "--assume-role-external-id": "settings.assumeRoleExternalIdSecret",  # from a Secret, never a plain value
    "--aws-rate-limits": "settings.awsRateLimits",
    "--aws-rate-limit-scale": "settings.awsRateLimitScale",
    "--allowed-regions": "settings.allowedRegions",
    "--client-cache-size": "settings.clientCacheSize",
    "--peering": "peering.name",  # and peering.enabled
    "--peering-lifetime": "settings.peeringLifetime",
    "--log-format": "settings.logFormat",
    "--verbose": "settings.verbose",
    "--metrics-port": "metrics.port",  # also the container port, the Service and the readiness probe
    "--metrics-address": "settings.metricsAddress",
    "--readiness-interval": "settings.readinessInterval",
    "--events-queue-url": "settings.eventsQueueUrl",
    "--events-fallback-interval": "settings.eventsFallbackInterval",
    "--per-resource-findings-metrics": "settings.perResourceFindingsMetrics",
    # Not values, on purpose (extraEnv / extraArgs reach them anyway):
    "--peering-priority": None,  # one value for every replica of a Deployment: kopf would pause them all
    "--liveness": None,  # the chart's liveness probe and container port depend on it: fixed
    "--help": None,
}
"""Each option of `ecr-operator run` (its long flag) -> the chart value that sets it, or None (and why)."""


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def _declared(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for key in path.split("."):
        node = (node or {}).get("properties", {}).get(key)
    return node


def test_every_option_of_run_has_a_chart_value_or_a_reason(run_options: dict[str, str | None]) -> None:
    assert set(run_options) == set(CHART_VALUES), "a new option of `run` needs a chart value (or a reason)"


@pytest.mark.parametrize("flag", sorted(f for f, v in CHART_VALUES.items() if v))
def test_each_value_is_declared_by_the_strict_schema(flag: str) -> None:
    path = CHART_VALUES[flag]
    assert path is not None
    assert _declared(_schema(), path) is not None, f"{path} is not in values.schema.json"


def test_the_schema_has_no_setting_the_operator_does_not_read() -> None:
    declared = {f"settings.{key}" for key in _schema()["properties"]["settings"]["properties"]}
    assert declared == {v for v in CHART_VALUES.values() if v and v.startswith("settings.")}


def test_settings_keys_are_their_variables_in_camel_case(run_options: dict[str, str | None]) -> None:
    """The ConfigMap template turns settings.fooBar into ECR_OPERATOR_FOO_BAR (Sprig's snakecase)."""
    options = run_options
    for flag, path in CHART_VALUES.items():
        if not path or not path.startswith("settings.") or flag in RUN_FLAGS_WITHOUT_ENV:
            continue
        if flag == "--assume-role-external-id":  # a secretKeyRef in the Deployment, not a ConfigMap key
            continue
        key = path.removeprefix("settings.")
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", key).upper()
        assert options[flag] == ENV_PREFIX + snake, (flag, key)


def test_strict_schema_everywhere() -> None:
    """Every object of the schema with declared properties refuses others (a misspelt key is an error)."""

    def objects(node: Any, where: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False and where != "":
                found.append(where)
            for key, child in node.get("properties", {}).items():
                found += objects(child, f"{where}.{key}")
        return found

    schema = _schema()
    assert schema["additionalProperties"] is False
    assert objects(schema, "") == []


def test_values_yaml_documents_every_setting() -> None:
    """values.yaml shows each setting: set, or commented out with the operator's default."""
    text = (CHART / "values.yaml").read_text()
    values = yaml.safe_load(text)
    for key in _schema()["properties"]["settings"]["properties"]:
        assert key in values["settings"] or re.search(rf"^\s*# {key}:", text, re.MULTILINE), key
    assert values["serviceAccount"]["annotations"] == {}, "no IRSA placeholder: it would beat Pod Identity"
