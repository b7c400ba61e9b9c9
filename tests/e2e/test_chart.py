"""The chart's values, rendered by helm and read by the operator's own command-line parser: every setting of
`ecr-operator run` is reachable from a value and arrives as what the value says (a new flag without a sample here
fails), the pod-level values land where they should, the strict schema refuses what it must, and two releases
render disjoint names. Installing them on a real API server: test_install.py.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from install_support import CHART, by_key, helm_fixture, helm_template, refused  # noqa: F401

from ecr_operator.cli.main import build_parser, intervals
from ecr_operator.core.settings import (
    DEFAULT_EVENTS_RESYNC_SECONDS,
    DEFAULT_INVENTORY_SECONDS,
    DEFAULT_RESYNC_SECONDS,
)

pytestmark = pytest.mark.e2e

SECRET_VALUE = "the-secret-value"

# flag -> (values for --set-json, the attribute of the parsed `run` arguments, the value it must have)
SAMPLES: dict[str, tuple[tuple[str, ...], str, Any]] = {
    "--region": (('settings.region="eu-west-1"',), "region", "eu-west-1"),
    "--namespace": (('watchNamespaces=["team-a","team-b-*"]',), "namespace", ("team-a", "team-b-*")),
    "--all-namespaces": ((), "namespace", None),  # no watchNamespaces: nothing restricts the watch
    "--required-tags": (('settings.requiredTags=["owner","team"]',), "required_tags", ("owner", "team")),
    "--cluster-id": (('settings.clusterId="prod-x"',), "cluster_id", "prod-x"),
    "--repository-name-policy": (
        ('settings.repositoryNamePolicy="namespace-prefix"',),
        "repository_name_policy",
        "namespace-prefix",
    ),
    "--adoption": (('settings.adoption="everywhere"',), "adoption", "everywhere"),
    "--resync-interval": (("settings.resyncInterval=45",), "resync_interval", 45.0),
    "--inventory-interval": (("settings.inventoryInterval=1800",), "inventory_interval", 1800.0),
    "--storage-price-per-gb-month": (("settings.storagePricePerGbMonth=0.12",), "storage_price_per_gb_month", 0.12),
    "--kms-key-price-per-month": (("settings.kmsKeyPricePerMonth=2",), "kms_key_price_per_month", 2.0),
    "--workers": (("settings.workers=3",), "workers", 3),
    "--account-mapping": (('settings.accountMapping="disabled"',), "account_mapping", "disabled"),
    "--no-registries": (("settings.noRegistries=true",), "no_registries", True),
    "--require-account-mapping": (("settings.requireAccountMapping=true",), "require_account_mapping", True),
    "--assume-role-external-id": (
        ('settings.assumeRoleExternalIdSecret={"name":"ecr-operator-external-id","key":"external-id"}',),
        "assume_role_external_id",
        SECRET_VALUE,
    ),
    "--aws-rate-limits": (
        ('settings.awsRateLimits="kms:CreateKey=3,ecr:*=10"',),
        "aws_rate_limits",
        "kms:CreateKey=3,ecr:*=10",
    ),
    "--aws-rate-limit-scale": (("settings.awsRateLimitScale=0.5",), "aws_rate_limit_scale", 0.5),
    "--allowed-regions": (
        ('settings.allowedRegions=["ap-northeast-2","eu-west-1"]',),
        "allowed_regions",
        ("ap-northeast-2", "eu-west-1"),
    ),
    "--client-cache-size": (("settings.clientCacheSize=32",), "client_cache_size", 32),
    "--peering": (('peering.name="shard-a"',), "peering", "shard-a"),
    "--peering-lifetime": (("settings.peeringLifetime=20",), "peering_lifetime", 20),
    "--log-format": (('settings.logFormat="plain"',), "log_format", "plain"),
    "--verbose": (("settings.verbose=true",), "verbose", True),
    "--metrics-port": (("metrics.port=9100",), "metrics_port", 9100),
    "--metrics-address": (('settings.metricsAddress="127.0.0.1"',), "metrics_address", "127.0.0.1"),
    "--readiness-interval": (("settings.readinessInterval=5",), "readiness_interval", 5.0),
    "--events-queue-url": (
        ('settings.eventsQueueUrl="https://sqs.eu-west-1.amazonaws.com/111122223333/ecr-operator-events"',),
        "events_queue_url",
        "https://sqs.eu-west-1.amazonaws.com/111122223333/ecr-operator-events",
    ),
    "--events-fallback-interval": (("settings.eventsFallbackInterval=300",), "events_fallback_interval", 300.0),
    "--per-resource-findings-metrics": (
        ("settings.perResourceFindingsMetrics=true",),
        "per_resource_findings_metrics",
        True,
    ),
}
# Not chart values, on purpose (tests/unit/test_chart_values.py says why); --help is not a setting.
NOT_VALUES = {"--peering-priority", "--liveness", "--help"}


def _run_parser() -> argparse.ArgumentParser:
    [subparsers] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    parser: argparse.ArgumentParser = subparsers.choices["run"]
    return parser


def container_env(objects: list[dict[str, Any]], secrets: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The operator container's environment as the kubelet builds it: envFrom sources, then env (which wins)."""
    keyed = by_key(objects)
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(keyed["ConfigMap", source["configMapRef"]["name"]]["data"])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif "secretKeyRef" in entry["valueFrom"]:
            reference = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = secrets[reference["name"]][reference["key"]]
        else:  # the downward API: the Pod's own name, namespace and uid, read by no setting
            assert set(entry["valueFrom"]) == {"fieldRef"}, entry
    return env


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ECR_OPERATOR_") or name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    _clear(monkeypatch)
    yield monkeypatch


def parsed_by_the_operator(
    objects: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
) -> argparse.Namespace:
    """What `ecr-operator run` makes of the rendered Deployment: its args, in its environment (only)."""
    _clear(monkeypatch)
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    for name, value in container_env(objects, secrets or {}).items():
        monkeypatch.setenv(name, value)
    return build_parser().parse_args(container["args"])


def test_every_setting_of_run_has_a_sample() -> None:
    flags = {next(f for f in a.option_strings if f.startswith("--")) for a in _run_parser()._actions}
    assert set(SAMPLES) == flags - NOT_VALUES


@pytest.mark.parametrize("flag", sorted(SAMPLES))
def test_each_value_reaches_the_operator_as_its_setting(
    flag: str, helm: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    values, attribute, expected = SAMPLES[flag]
    objects = helm_template(helm, *values, json_values=True)
    secrets = {"ecr-operator-external-id": {"external-id": SECRET_VALUE}}
    args = parsed_by_the_operator(objects, clean_environment, secrets)
    assert getattr(args, attribute) == expected
    if flag == "--assume-role-external-id":  # from the Secret, never in the ConfigMap
        configmap = by_key(objects)["ConfigMap", "ecr-operator-settings"]
        assert "ECR_OPERATOR_ASSUME_ROLE_EXTERNAL_ID" not in configmap["data"]


def test_the_defaults_reach_the_operator(helm: Path, clean_environment: pytest.MonkeyPatch) -> None:
    args = parsed_by_the_operator(helm_template(helm), clean_environment)
    assert (args.region, args.cluster_id, args.log_format) == ("ap-northeast-2", "my-cluster", "json")
    # The intervals are the operator's own defaults, so that an events queue lengthens them (docs/events.md).
    assert (args.resync_interval, args.inventory_interval) == (None, None)
    assert intervals(args) == (DEFAULT_RESYNC_SECONDS, DEFAULT_INVENTORY_SECONDS)
    queued = helm_template(helm, "settings.eventsQueueUrl=https://sqs.ap-northeast-2.amazonaws.com/1/q")
    lengthened = DEFAULT_EVENTS_RESYNC_SECONDS
    assert intervals(parsed_by_the_operator(queued, clean_environment)) == (lengthened, lengthened)
    assert (args.namespace, args.all_namespaces, args.peering) == (None, False, "ecr-operator")
    assert args.liveness == "http://0.0.0.0:8080/healthz"
    without_peering = helm_template(helm, "peering.enabled=false", "replicaCount=1")
    assert parsed_by_the_operator(without_peering, clean_environment).peering is None


def test_extra_args_and_env_reach_the_operator_and_never_silently_override(
    helm: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    args = parsed_by_the_operator(
        helm_template(helm, 'extraArgs=["--workers","5"]', json_values=True), clean_environment
    )
    assert args.workers == 5
    # extraEnv comes after the ConfigMap: it is what the container sees (Kubernetes' env beats envFrom).
    objects = helm_template(
        helm, "settings.workers=4", 'extraEnv=[{"name":"ECR_OPERATOR_WORKERS","value":"6"}]', json_values=True
    )
    assert parsed_by_the_operator(objects, clean_environment).workers == 6
    # A flag in extraArgs that contradicts the settings' variable stops the operator, naming both.
    objects = helm_template(helm, "settings.workers=4", 'extraArgs=["--workers","5"]', json_values=True)
    with pytest.raises(SystemExit) as exited:
        parsed_by_the_operator(objects, clean_environment)
    assert exited.value.code == 2
    objects = helm_template(helm, 'watchNamespaces=["team-a"]', 'extraArgs=["--all-namespaces"]', json_values=True)
    with pytest.raises(SystemExit):
        parsed_by_the_operator(objects, clean_environment)


def test_pod_level_values_land_in_the_pod(helm: Path) -> None:
    objects = helm_template(
        helm,
        'podAnnotations={"example.com/team":"platform"}',
        'podLabels={"team":"platform"}',
        'priorityClassName="system-cluster-critical"',
        'podSecurityContext={"runAsUser":1000,"fsGroup":1000}',
        'securityContext={"runAsUser":1001}',
        'envFrom=[{"secretRef":{"name":"proxy-settings"}}]',
        'serviceAccount={"create":true,"name":"ecr","annotations":{"eks.amazonaws.com/role-arn":"arn:aws:iam::1:role/x"}}',
        json_values=True,
    )
    keyed = by_key(objects)
    template = keyed["Deployment", "ecr-operator"]["spec"]["template"]
    assert template["metadata"]["annotations"]["example.com/team"] == "platform"
    assert "checksum/settings" in template["metadata"]["annotations"]
    assert template["metadata"]["labels"] == {"app.kubernetes.io/name": "ecr-operator", "team": "platform"}
    spec = template["spec"]
    assert spec["priorityClassName"] == "system-cluster-critical"
    # Helm merges a map into the default one (null removes a key): the hardening stays unless removed.
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 65532,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["serviceAccountName"] == "ecr"
    for container in spec["containers"] + spec["initContainers"]:
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "runAsUser": 1001,
        }
    [operator] = spec["containers"]
    assert {"secretRef": {"name": "proxy-settings"}} in operator["envFrom"]
    account = keyed["ServiceAccount", "ecr"]
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}
    for binding in (o for o in objects if o["kind"].endswith("RoleBinding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ecr", "namespace": "ecr-operator"}]


def test_an_existing_service_account(helm: Path) -> None:
    objects = helm_template(helm, 'serviceAccount={"create":false,"name":"platform-ecr"}', json_values=True)
    assert not [o for o in objects if o["kind"] == "ServiceAccount"]
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "platform-ecr"
    error = refused(helm, "template", "x", CHART, "--set", "serviceAccount.create=false")
    assert "name" in error, error


def test_export_role_bindings_only_where_listed(helm: Path) -> None:
    objects = helm_template(helm, 'export={"namespaces":["team-a","team-b"]}', json_values=True)
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "ecr-operator-export",
        }
    assert not [o for o in objects if o["kind"] == "ClusterRoleBinding" and o["roleRef"]["name"].endswith("export")]
    for namespace in ("kube-system", "kube-public", "kube-node-lease"):
        error = refused(helm, "template", "x", CHART, "--set-json", f'export={{"namespaces":["{namespace}"]}}')
        assert "/export/namespaces/0" in error, error


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("settings.workers=0", "workers"),
        ('settings.adoption="sometimes"', "adoption"),
        ('settings.logFormat="xml"', "logFormat"),
        ("settings.resyncInterval=0", "resyncInterval"),
        ('settings.eventsQueueUrl="not a url"', "eventsQueueUrl"),
        ('settings.clusterID="x"', "clusterID"),
        ('watchNamespaces=["Team A"]', "watchNamespaces"),
        ("metrics.port=99999", "port"),
        ('metrics.serviceMonitor={"enabled":true,"lables":{}}', "lables"),
        ('fullnameOverride="Not_A_Name"', "fullnameOverride"),
    ],
)
def test_the_strict_schema_refuses(helm: Path, value: str, named: str) -> None:
    error = refused(helm, "template", "x", CHART, "--set-json", value)
    assert named in error, error


def test_service_monitor_and_rule_labels(helm: Path) -> None:
    objects = helm_template(
        helm,
        'metrics={"port":8081,"serviceMonitor":{"enabled":true,"labels":{"release":"kps"}},'
        '"prometheusRule":{"enabled":true,"labels":{"release":"kps"}}}',
        json_values=True,
    )
    keyed = by_key(objects)
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert keyed[kind, "ecr-operator"]["metadata"]["labels"]["release"] == "kps"


# -- names: two releases, overrides ---------------------------------------------------------------------------------


def names(objects: list[dict[str, Any]]) -> dict[tuple[str, str | None], set[str]]:
    """(kind, namespace) -> names; cluster-scoped objects under namespace None."""
    found: dict[tuple[str, str | None], set[str]] = {}
    for obj in objects:
        if obj["kind"] == "CustomResourceDefinition":
            continue
        found.setdefault((obj["kind"], obj["metadata"].get("namespace")), set()).add(obj["metadata"]["name"])
    return found


def test_two_releases_render_disjoint_names(helm: Path) -> None:
    a = helm_template(helm, release="shard-a", namespace="ops-a")
    b = helm_template(
        helm,
        'watchNamespaces=["team-b"]',
        "settings.noRegistries=true",
        release="shard-b",
        namespace="ops-b",
        json_values=True,
    )
    cluster_scoped_a = {(k, n) for (k, ns), ns_names in names(a).items() if ns is None for n in ns_names}
    cluster_scoped_b = {(k, n) for (k, ns), ns_names in names(b).items() if ns is None for n in ns_names}
    assert cluster_scoped_a and not cluster_scoped_a & cluster_scoped_b
    assert {ns for _, ns in names(a)} == {None, "ops-a"} and {ns for _, ns in names(b)} == {None, "ops-b"}
    for objects, release, namespace in ((a, "shard-a", "ops-a"), (b, "shard-b", "ops-b")):
        keyed = by_key(objects)
        deployment = keyed["Deployment", f"{release}-ecr-operator"]
        env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["ECR_OPERATOR_PEERING"] == f"{release}-ecr-operator", "one peering per release"
        for binding in (o for o in objects if o["kind"].endswith("RoleBinding")):
            assert binding["subjects"] == [
                {"kind": "ServiceAccount", "name": f"{release}-ecr-operator", "namespace": namespace}
            ]
            assert binding["roleRef"]["name"].startswith(f"{release}-ecr-operator")


def test_name_overrides(helm: Path) -> None:
    full = by_key(helm_template(helm, "fullnameOverride=ecr-shard-a", release="whatever"))
    assert {name for kind, name in full if kind in ("Deployment", "ClusterRole")} == {
        "ecr-shard-a",
        "ecr-shard-a-export",
        "ecr-shard-a-peering",
    }
    assert ("ConfigMap", "ecr-shard-a-settings") in full and ("Service", "ecr-shard-a-metrics") in full
    renamed = helm_template(helm, "nameOverride=ecr-b", release="ops")
    [deployment] = [o for o in renamed if o["kind"] == "Deployment"]
    assert deployment["metadata"]["name"] == "ops-ecr-b"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "ecr-b"}
    [service] = [o for o in renamed if o["kind"] == "Service"]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "ecr-b"}
