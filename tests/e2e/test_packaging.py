"""The install trees on a real kube-apiserver: server-side ``kubectl apply -k`` of the API trees and an overlay on
a fresh cluster, ``helm lint`` / ``template`` / ``install``, the chart rendering the kustomize trees' objects, and
the Deployment's init container creating the kopf peering object(s) as the operator's ServiceAccount.

Uninstall, least privilege and two releases: test_install.py; every chart value against the CLI: test_chart.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from install_support import (
    CHART,
    GENERATED_SUFFIX,
    NAMESPACE,
    apply_api,
    built_tool,
    by_key,
    fresh_cluster_fixture,  # noqa: F401
    helm_fixture,  # noqa: F401
    helm_template,
    kubectl_fixture,  # noqa: F401
    kustomize,
    kustomize_install,
    run,
)
from support import DEPLOY, wait_established, wait_for

from ecr_operator_dev import LocalControlPlane

pytestmark = pytest.mark.e2e

PEERING = "ecr-operator"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def pod_spec(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec with the generated ConfigMap name normalised and the image pull policy left out."""
    spec = yaml.safe_load(yaml.safe_dump(deployment["spec"]["template"]["spec"]))
    for container in spec.get("initContainers", []) + spec["containers"]:
        container.pop("imagePullPolicy", None)
        for source in container.get("envFrom", []):
            source["configMapRef"]["name"] = GENERATED_SUFFIX.sub(r"\1", source["configMapRef"]["name"])
    if not spec.get("initContainers"):
        spec.pop("initContainers", None)
    return spec


def assert_same_objects(kustomized: list[dict[str, Any]], helmed: list[dict[str, Any]]) -> None:
    ours, theirs = by_key(kustomized), by_key(helmed)
    # A Helm release goes into a namespace it is given (--create-namespace), so the chart has no Namespace.
    assert set(ours) - {("Namespace", NAMESPACE)} == set(theirs)
    for kind, name in sorted(theirs):
        a, b = ours[kind, name], theirs[kind, name]
        assert a["metadata"].get("namespace") == b["metadata"].get("namespace"), (kind, name)
        if kind == "Deployment":
            assert pod_spec(a) == pod_spec(b)
            for field in ("replicas", "strategy", "selector"):
                assert a["spec"][field] == b["spec"][field], field
        elif kind == "ServiceAccount":
            assert a["metadata"].get("annotations") == b["metadata"].get("annotations")
        elif kind in ("ClusterRole", "Role"):
            assert a["rules"] == b["rules"], name
        elif kind in ("ClusterRoleBinding", "RoleBinding"):
            assert (a["roleRef"], a["subjects"]) == (b["roleRef"], b["subjects"]), name
        elif kind == "ConfigMap":
            assert a["data"] == b["data"]
        elif kind == "CustomResourceDefinition":
            assert (a["metadata"]["annotations"], a["spec"]) == (b["metadata"]["annotations"], b["spec"]), name
        else:  # Service, PodDisruptionBudget, NetworkPolicy
            assert a["spec"] == b["spec"], (kind, name)


# -- rendering ---------------------------------------------------------------------------------------------


def test_helm_lint_and_the_values_schema(helm: Path) -> None:
    run(helm, "lint", "--strict", CHART)
    # Two replicas without peering would both reconcile: the schema refuses it.
    refused = subprocess.run(
        [str(helm), "template", "x", str(CHART), "--set", "peering.enabled=false"], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "replicaCount" in refused.stderr, refused.stderr
    refused = subprocess.run(
        [str(helm), "template", "x", str(CHART), "--set", "settings.regoin=eu-west-1"], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "regoin" in refused.stderr, refused.stderr


def test_the_chart_renders_the_kustomize_trees(helm: Path, kubectl: Path) -> None:
    base = kustomize_install(kubectl, DEPLOY / "base")
    assert_same_objects(base, helm_template(helm))
    keyed = by_key(base)
    deployment = keyed["Deployment", "ecr-operator"]
    assert deployment["spec"]["replicas"] == 2
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ecr-operator:0.1.0"
    assert {"name": "ECR_OPERATOR_PEERING", "value": PEERING} in container["env"]
    assert {"name": "metrics", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    # Every setting from the environment: no flag that could silently contradict a variable (-A did).
    assert container["args"] == ["run", "--liveness", "http://0.0.0.0:8080/healthz"]
    # No IRSA placeholder: a web-identity role annotation would win over EKS Pod Identity.
    assert not keyed["ServiceAccount", "ecr-operator"]["metadata"].get("annotations")


def test_the_chart_without_peering_renders_the_dev_overlay(helm: Path, kubectl: Path) -> None:
    dev = kustomize_install(kubectl, DEPLOY / "overlays" / "dev")
    helmed = helm_template(
        helm, "peering.enabled=false", "replicaCount=1", "settings.clusterId=dev", "settings.resyncInterval=60"
    )
    # The dev overlay keeps the (unused) peering RBAC; the chart leaves it out.
    peering_rbac = {("ClusterRole", "ecr-operator-peering"), ("ClusterRoleBinding", "ecr-operator-peering")}
    assert_same_objects([o for o in dev if (o["kind"], o["metadata"]["name"]) not in peering_rbac], helmed)
    deployment = by_key(dev)["Deployment", "ecr-operator"]
    assert (deployment["spec"]["replicas"], deployment["spec"]["strategy"]) == (1, {"type": "Recreate"})


def test_the_production_overlay_sets_its_settings(kubectl: Path) -> None:
    production = by_key(kustomize(kubectl, DEPLOY / "overlays" / "production"))
    assert production["ConfigMap", "ecr-operator-settings"]["data"]["ECR_OPERATOR_CLUSTER_ID"] == "prod-apne2"
    deployment = production["Deployment", "ecr-operator"]
    generated = next(o for (kind, _), o in production.items() if kind == "ConfigMap")
    spec = deployment["spec"]["template"]["spec"]
    for container in spec["initContainers"] + spec["containers"]:
        [source] = container["envFrom"]
        assert source["configMapRef"]["name"] == generated["metadata"]["name"]
    assert not [o for o in production.values() if o["kind"] == "CustomResourceDefinition"], "the API is apart"


def test_the_network_policy_lets_the_pod_reach_eks_pod_identity(helm: Path, kubectl: Path) -> None:
    """The agent is link-local HTTP (169.254.170.23, fd00:ec2::23 on IPv6): without it Pod Identity cannot work."""
    for objects in (kustomize(kubectl, DEPLOY / "base"), helm_template(helm)):
        policy = by_key(objects)["NetworkPolicy", "ecr-operator"]
        agent = [rule for rule in policy["spec"]["egress"] if rule.get("to")]
        assert agent == [
            {
                "to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}, {"ipBlock": {"cidr": "fd00:ec2::23/128"}}],
                "ports": [{"protocol": "TCP", "port": 80}],
            }
        ]
        assert {"ports": [{"protocol": "TCP", "port": 443}]} in policy["spec"]["egress"]


# -- on a fresh API server ---------------------------------------------------------------------------------


def run_init_container(
    controlplane: LocalControlPlane,
    deployment: Mapping[str, Any],
    workdir: Path,
    settings: Mapping[str, str] | None = None,
) -> str:
    """Run the Deployment's init container command as a kubelet would: the ServiceAccount's token and CA in
    /var/run/secrets/kubernetes.io/serviceaccount (a tmpfs in a private mount namespace), the
    KUBERNETES_SERVICE_* variables pointing at the API server, and ``settings`` standing in for its envFrom."""
    if os.geteuid() != 0:
        pytest.skip("placing the ServiceAccount files at the kubelet's path needs root (a private mount namespace)")
    [init] = deployment["spec"]["template"]["spec"]["initContainers"]
    service_account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    namespace = deployment["metadata"]["namespace"]
    token_config = yaml.safe_load(controlplane.token_kubeconfig(namespace, service_account).read_text())
    admin_config = yaml.safe_load(controlplane.kubeconfig.read_text())
    files = workdir / "serviceaccount"
    files.mkdir(parents=True)
    (files / "token").write_text(token_config["users"][0]["user"]["token"])
    ca = admin_config["clusters"][0]["cluster"]["certificate-authority-data"]
    (files / "ca.crt").write_bytes(base64.b64decode(ca))
    (files / "namespace").write_text(namespace)
    host, port = controlplane.server.removeprefix("https://").rsplit(":", 1)
    env = {
        "PATH": os.environ["PATH"],
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        **(settings or {}),
        **{e["name"]: e["value"] for e in init.get("env", [])},
    }
    mount_root = SERVICE_ACCOUNT_DIR.parents[2].resolve()  # /var/run (usually /run)
    target = mount_root / SERVICE_ACCOUNT_DIR.relative_to(SERVICE_ACCOUNT_DIR.parents[2])
    setup = f'mount -t tmpfs tmpfs "{mount_root}" && mkdir -p "{target}" && cp "{files}"/* "{target}" && exec "$@"'
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", setup, "sh", *init["command"], *init["args"]]
    return run(*argv, env=env, timeout=240)


def peering_object(controlplane: LocalControlPlane, namespace: str | None = None) -> dict[str, Any] | None:
    """The ClusterKopfPeering, or with ``namespace`` the KopfPeering there; None when absent."""
    with controlplane.api_client() as api:
        custom = kubernetes.client.CustomObjectsApi(api)
        try:
            if namespace is None:
                found = custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", PEERING)
            else:
                found = custom.get_namespaced_custom_object("kopf.dev", "v1", namespace, "kopfpeerings", PEERING)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        obj: dict[str, Any] = found
        return obj


def test_server_side_apply_of_the_api_and_the_production_overlay_on_a_fresh_cluster(
    fresh_cluster: LocalControlPlane, kubectl: Path, tmp_path: Path
) -> None:
    """The documented install: deploy/crds, deploy/kopf-peering, then the overlay, each one server-side apply."""
    apply_api(fresh_cluster, kubectl)
    overlay = DEPLOY / "overlays" / "production"
    out = run(kubectl, f"--kubeconfig={fresh_cluster.kubeconfig}", "apply", "--server-side", "-k", overlay)
    rendered = kustomize(kubectl, overlay)
    assert len(re.findall(r"serverside-applied", out)) == len(rendered), out
    with fresh_cluster.api_client() as api:
        deployment = kubernetes.client.AppsV1Api(api).read_namespaced_deployment("ecr-operator", NAMESPACE)
        assert deployment.spec.replicas == 2
    # Applying again changes nothing and conflicts with nothing.
    again = run(kubectl, f"--kubeconfig={fresh_cluster.kubeconfig}", "apply", "--server-side", "-k", overlay)
    assert len(re.findall(r"serverside-applied", again)) == len(rendered), again

    # The pod's init container creates the peering object as the operator's ServiceAccount, once.
    assert peering_object(fresh_cluster) is None
    [manifest] = [o for o in rendered if o["kind"] == "Deployment"]
    assert f"created ClusterKopfPeering {PEERING}" in run_init_container(fresh_cluster, manifest, tmp_path / "one")
    assert peering_object(fresh_cluster) is not None
    assert f"ClusterKopfPeering {PEERING} exists" in run_init_container(fresh_cluster, manifest, tmp_path / "two")

    # Restricted to namespaces (ECR_OPERATOR_NAMESPACE from the settings ConfigMap), kopf peers through a
    # KopfPeering in each: the init container creates those, and names a glob it cannot create ahead.
    run(kubectl, f"--kubeconfig={fresh_cluster.kubeconfig}", "create", "namespace", "team-a")
    settings = {"ECR_OPERATOR_NAMESPACE": "team-a, team-b-*"}
    out = run_init_container(fresh_cluster, manifest, tmp_path / "three", settings)
    assert f"created KopfPeering {PEERING} in team-a" in out, out
    assert f"namespace pattern team-b-*: create KopfPeering {PEERING} in each namespace it matches" in out, out
    assert peering_object(fresh_cluster, "team-a") is not None


def test_helm_install_on_a_fresh_cluster(fresh_cluster: LocalControlPlane, helm: Path, kubectl: Path) -> None:
    kubeconfig = f"--kubeconfig={fresh_cluster.kubeconfig}"
    rendered = run(helm, "template", "ecr-operator", CHART, "--namespace", NAMESPACE, "--include-crds")
    run(kubectl, kubeconfig, "create", "namespace", NAMESPACE)  # a dry-run cannot create what others need
    dry_run = subprocess.run(
        [str(kubectl), kubeconfig, "apply", "--server-side", "--dry-run=server", "-f", "-"],
        input=rendered,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry_run.returncode == 0, dry_run.stderr
    run(helm, kubeconfig, "install", "ecr-operator", CHART, "--namespace", NAMESPACE, "--create-namespace")
    with fresh_cluster.api_client() as api:
        for name in (
            "ecrrepositories.ecr.platform.dev",
            "ecrregistries.ecr.platform.dev",
            "clusterkopfpeerings.kopf.dev",
            "kopfpeerings.kopf.dev",
        ):
            wait_established(api, name)
        apps = kubernetes.client.AppsV1Api(api)
        deployment = wait_for(
            lambda: apps.read_namespaced_deployment("ecr-operator", NAMESPACE), "the Deployment", timeout=30
        )
        assert deployment.spec.template.spec.service_account_name == "ecr-operator"
    status = run(helm, kubeconfig, "status", "ecr-operator", "--namespace", NAMESPACE)
    assert "STATUS: deployed" in status


# -- monitoring: the ServiceMonitor and the alerts --------------------------------------------------------------

MONITORING = DEPLOY / "monitoring"


@pytest.fixture(scope="module")
def promql_check() -> Path:
    return built_tool("promql")


def alert_rules() -> list[dict[str, Any]]:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def parse_promql(promql_check: Path, expressions: list[str]) -> subprocess.CompletedProcess[str]:
    lines = "".join(json.dumps(e) + "\n" for e in expressions)
    return subprocess.run([str(promql_check)], input=lines, capture_output=True, text=True, timeout=60)


def test_alert_expressions_parse_with_prometheus_own_parser(promql_check: Path) -> None:
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= {"EcrRepositoryNotReady", "EcrOperatorAwsThrottled", "EcrOperatorDown"}
    checked = parse_promql(promql_check, [r["expr"] for r in rules])
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.splitlines() == ["ok"] * len(rules)
    broken = parse_promql(promql_check, ['sum by (reason (ecr_operator_resources{ready="False"})'])
    assert broken.returncode == 1 and "parse error" in broken.stdout, "the checker really checks"
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["for"], rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert rule["annotations"]["runbook_url"].startswith("https://"), rule["alert"]


def test_alerts_use_only_metrics_the_operator_exports() -> None:
    from prometheus_client import REGISTRY

    import ecr_operator.runtime.kinds  # noqa: F401  (registers the operator's metrics, each kind's too)

    exported = set()
    for family in REGISTRY.collect():  # a labelled metric without children yet has no samples: use the family
        if family.type == "counter":
            exported |= {family.name, f"{family.name}_total"}
        elif family.type == "histogram":
            exported |= {f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum")}
        else:
            exported |= {family.name}
    used = {name for r in alert_rules() for name in re.findall(r"\becr_operator_[a-z_]+", r["expr"])}
    assert used and used <= exported, used - exported


def test_monitoring_kustomization_and_chart_carry_the_same_objects(helm: Path, kubectl: Path) -> None:
    objects = by_key(kustomize(kubectl, MONITORING))
    assert set(objects) == {("ServiceMonitor", "ecr-operator"), ("PrometheusRule", "ecr-operator")}
    assert not {k for k in by_key(helm_template(helm)) if k[0] in ("ServiceMonitor", "PrometheusRule")}, "opt-in"
    chart = by_key(helm_template(helm, "metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true"))
    for key, obj in objects.items():
        assert chart[key]["spec"] == obj["spec"], key
    moved = by_key(
        helm_template(
            helm,
            "metrics.prometheusRule.enabled=true",
            "metrics.prometheusRule.runbookBaseUrl=https://wiki.example.com/ecr/runbooks",
        )
    )["PrometheusRule", "ecr-operator"]
    links = [r["annotations"]["runbook_url"] for g in moved["spec"]["groups"] for r in g["rules"]]
    assert links and all(link.startswith("https://wiki.example.com/ecr/runbooks#") for link in links), links
    service = by_key(kustomize(kubectl, DEPLOY / "base"))["Service", "ecr-operator-metrics"]
    assert (
        objects["ServiceMonitor", "ecr-operator"]["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    )
