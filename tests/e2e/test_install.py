"""Install, least privilege and uninstall on a real kube-apiserver (a fresh one per test, nothing installed):

* the operator's ServiceAccount, as installed by the production overlay and by the chart, may write ConfigMaps
  only in the namespaces an export RoleBinding allows (never kube-system) and reads no Secret, asked with
  ``kubectl auth can-i --as=system:serviceaccount:...``;
* ``kubectl delete -k deploy/overlays/<any>`` and ``helm uninstall`` leave the CRDs and every EcrRepository
  and EcrRegistry in place (an Argo CD prune of the operator's Application deletes the same objects);
* two releases of the chart install side by side in one cluster, with distinct names and identities, and
  removing one leaves the other.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from install_support import (
    CHART,
    NAMESPACE,
    SERVICE_ACCOUNT,
    apply_api,
    can_i,
    crd_names,
    fresh_cluster_fixture,  # noqa: F401
    helm_fixture,  # noqa: F401
    kubectl_fixture,  # noqa: F401
    kustomize,
    run,
)
from support import DEPLOY, GROUP, PLURAL, VERSION, ecr_object, tagged_spec, unique, wait_established

from ecr_operator_dev import LocalControlPlane

pytestmark = pytest.mark.e2e

API = {"ecrrepositories.ecr.platform.dev", "ecrregistries.ecr.platform.dev"}
KOPF = {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}
REGISTRY = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "EcrRegistry",
    "metadata": {"name": "main"},
    "spec": {"region": "eu-west-1", "scanning": {"scanType": "BASIC"}, "deletionPolicy": "Retain"},
}


def kubectl_as_admin(kubectl: Path, controlplane: LocalControlPlane, *args: str | Path) -> str:
    return run(kubectl, f"--kubeconfig={controlplane.kubeconfig}", *args)


def create_namespaces(controlplane: LocalControlPlane, *names: str) -> None:
    with controlplane.api_client() as api:
        core = kubernetes.client.CoreV1Api(api)
        for name in names:
            core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name)))


def create_resources(controlplane: LocalControlPlane, namespace: str) -> None:
    """An EcrRepository in ``namespace`` and a (cluster-scoped) EcrRegistry, as users would."""
    with controlplane.api_client() as api:
        custom = kubernetes.client.CustomObjectsApi(api)
        body = ecr_object(namespace, "app", tagged_spec(unique("install")))
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        custom.create_cluster_custom_object(GROUP, VERSION, "ecrregistries", REGISTRY)


def resources(controlplane: LocalControlPlane, namespace: str) -> tuple[list[str], list[str]]:
    """The names of the EcrRepositories in ``namespace`` and of every EcrRegistry."""
    with controlplane.api_client() as api:
        custom = kubernetes.client.CustomObjectsApi(api)
        repositories = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        registries = custom.list_cluster_custom_object(GROUP, VERSION, "ecrregistries")["items"]
    return [r["metadata"]["name"] for r in repositories], [r["metadata"]["name"] for r in registries]


def cluster_roles(controlplane: LocalControlPlane) -> set[str]:
    with controlplane.api_client() as api:
        rbac = kubernetes.client.RbacAuthorizationV1Api(api)
        return {role.metadata.name for role in rbac.list_cluster_role().items}


# -- least privilege --------------------------------------------------------------------------------------------

ALWAYS_REFUSED = [
    # kube-system's aws-auth ConfigMap grants cluster-admin on EKS: never writable, never readable.
    ("create", "configmaps", "-n", "kube-system"),
    ("patch", "configmaps/aws-auth", "-n", "kube-system"),
    ("get", "configmaps/aws-auth", "-n", "kube-system"),
    ("update", "configmaps", "-n", "kube-system"),
    # No ConfigMap cluster-wide, and no Secret anywhere (the external ID is the kubelet's to read).
    ("create", "configmaps", "-A"),
    ("get", "configmaps", "-A"),
    ("get", "secrets", "-A"),
    ("list", "secrets", "-A"),
    ("get", "secrets", "-n", NAMESPACE),
    ("list", "secrets", "-n", NAMESPACE),
    # Nothing else of the export: no list, watch, update or delete anywhere.
    ("list", "configmaps", "-n", "team-a"),
    ("delete", "configmaps", "-n", "team-a"),
    ("update", "configmaps", "-n", "team-a"),
]
ALWAYS_ALLOWED = [
    ("list", f"{PLURAL}.{GROUP}", "-A"),
    ("watch", f"{PLURAL}.{GROUP}", "-A"),
    ("patch", f"{PLURAL}.{GROUP}", "--subresource=status", "-A"),
    ("patch", f"ecrregistries.{GROUP}"),
    ("create", "events", "-A"),
    ("list", "clusterkopfpeerings.kopf.dev"),
]
EXPORT = [("get", "configmaps"), ("create", "configmaps"), ("patch", "configmaps")]


def denied(kubectl: Path, controlplane: LocalControlPlane, user: str, checks: list[tuple[str, ...]]) -> list[Any]:
    return [check for check in checks if can_i(kubectl, controlplane, user, *check)]


def granted_missing(
    kubectl: Path, controlplane: LocalControlPlane, user: str, checks: list[tuple[str, ...]]
) -> list[Any]:
    return [check for check in checks if not can_i(kubectl, controlplane, user, *check)]


def export_in(namespace: str) -> list[tuple[str, ...]]:
    return [(*check, "-n", namespace) for check in EXPORT]


def test_the_production_overlay_grants_exports_only_where_bound(
    fresh_cluster: LocalControlPlane, kubectl: Path
) -> None:
    apply_api(fresh_cluster, kubectl)
    kubectl_as_admin(kubectl, fresh_cluster, "apply", "--server-side", "-k", DEPLOY / "overlays" / "production")
    create_namespaces(fresh_cluster, "team-a", "team-b")
    assert granted_missing(kubectl, fresh_cluster, SERVICE_ACCOUNT, ALWAYS_ALLOWED) == []
    assert denied(kubectl, fresh_cluster, SERVICE_ACCOUNT, ALWAYS_REFUSED) == []
    # Installed, the operator may export nowhere.
    assert denied(kubectl, fresh_cluster, SERVICE_ACCOUNT, export_in("team-a") + export_in("default")) == []

    # A cluster admin allows team-a (docs/install.md, "Exports").
    assert bind_export(kubectl, fresh_cluster, "team-a").returncode == 0
    assert granted_missing(kubectl, fresh_cluster, SERVICE_ACCOUNT, export_in("team-a")) == []
    assert denied(kubectl, fresh_cluster, SERVICE_ACCOUNT, export_in("team-b") + ALWAYS_REFUSED) == []

    # team-b's owner may allow team-b, and nothing beyond it: Kubernetes lets a user bind a role whose permissions
    # it holds there. (The built-in `admin` role holds them; it is aggregated by kube-controller-manager, which
    # this API server runs without, so the owner's Role spells out the two rules that matter.)
    owner = "system:serviceaccount:team-b:owner"
    with fresh_cluster.api_client() as api:
        rbac = kubernetes.client.RbacAuthorizationV1Api(api)
        rbac.create_namespaced_role(
            "team-b",
            {
                "metadata": {"name": "owner"},
                "rules": [
                    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "patch"]},
                    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]},
                ],
            },
        )
        rbac.create_namespaced_role_binding(
            "team-b",
            {
                "metadata": {"name": "owner"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "owner"},
                "subjects": [{"kind": "ServiceAccount", "name": "owner", "namespace": "team-b"}],
            },
        )
    for namespace, allowed in (("team-b", True), ("kube-system", False)):
        result = bind_export(kubectl, fresh_cluster, namespace, f"--as={owner}")
        assert (result.returncode == 0) == allowed, result.stderr
    assert granted_missing(kubectl, fresh_cluster, SERVICE_ACCOUNT, export_in("team-b")) == []
    assert denied(kubectl, fresh_cluster, SERVICE_ACCOUNT, ALWAYS_REFUSED) == []


def bind_export(
    kubectl: Path, controlplane: LocalControlPlane, namespace: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """The documented way to allow exports in a namespace (docs/install.md, "Exports")."""
    argv = ["create", "rolebinding", "ecr-operator-export", "-n", namespace, "--clusterrole=ecr-operator-export"]
    return subprocess.run(
        [
            str(kubectl),
            f"--kubeconfig={controlplane.kubeconfig}",
            *argv,
            f"--serviceaccount={NAMESPACE}:ecr-operator",
            *list(extra),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_chart_grants_exports_only_in_its_listed_namespaces(
    fresh_cluster: LocalControlPlane, helm: Path, kubectl: Path
) -> None:
    create_namespaces(fresh_cluster, "team-a", "team-b")
    run(
        helm,
        f"--kubeconfig={fresh_cluster.kubeconfig}",
        "install",
        "ecr-operator",
        CHART,
        "-n",
        NAMESPACE,
        "--create-namespace",
        "--set-json",
        'export={"namespaces":["team-a"]}',
    )
    assert granted_missing(kubectl, fresh_cluster, SERVICE_ACCOUNT, ALWAYS_ALLOWED + export_in("team-a")) == []
    refused = ALWAYS_REFUSED + export_in("team-b") + export_in("default") + export_in(NAMESPACE)
    assert denied(kubectl, fresh_cluster, SERVICE_ACCOUNT, refused) == []


# -- uninstall keeps the API ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["production", "dev"])
def test_deleting_an_overlay_keeps_the_api_and_every_resource(
    fresh_cluster: LocalControlPlane, kubectl: Path, overlay: str
) -> None:
    apply_api(fresh_cluster, kubectl)
    path = DEPLOY / "overlays" / overlay
    kubectl_as_admin(kubectl, fresh_cluster, "apply", "--server-side", "-k", path)
    create_namespaces(fresh_cluster, "team-a")
    create_resources(fresh_cluster, "team-a")
    assert {"ecr-operator", "ecr-operator-export"} <= cluster_roles(fresh_cluster)

    # What `kubectl delete -k` (and an Argo CD prune of an Application of this path) removes. --wait=false: this
    # API server has no namespace controller to finish deleting the ecr-operator Namespace.
    kubectl_as_admin(kubectl, fresh_cluster, "delete", "-k", path, "--wait=false")
    assert not {"ecr-operator", "ecr-operator-export", "ecr-operator-peering"} & cluster_roles(fresh_cluster)
    assert crd_names(fresh_cluster) >= API | KOPF
    assert resources(fresh_cluster, "team-a") == (["app"], ["main"])
    assert not [o for o in kustomize(kubectl, path) if o["kind"] == "CustomResourceDefinition"]


def test_helm_uninstall_keeps_the_api_and_every_resource(
    fresh_cluster: LocalControlPlane, helm: Path, kubectl: Path
) -> None:
    kubeconfig = f"--kubeconfig={fresh_cluster.kubeconfig}"
    run(helm, kubeconfig, "install", "ecr-operator", CHART, "-n", NAMESPACE, "--create-namespace")
    with fresh_cluster.api_client() as api:
        for name in API | KOPF:
            wait_established(api, name)
    create_namespaces(fresh_cluster, "team-a")
    create_resources(fresh_cluster, "team-a")
    run(helm, kubeconfig, "uninstall", "ecr-operator", "-n", NAMESPACE, "--wait")
    assert not {"ecr-operator", "ecr-operator-export", "ecr-operator-peering"} & cluster_roles(fresh_cluster)
    assert crd_names(fresh_cluster) >= API | KOPF
    assert resources(fresh_cluster, "team-a") == (["app"], ["main"])


# -- two releases -----------------------------------------------------------------------------------------------


def test_two_releases_in_one_cluster(fresh_cluster: LocalControlPlane, helm: Path, kubectl: Path) -> None:
    """Sharding as two Helm releases: shard A serves team-a and EcrRegistry, shard B team-b only."""
    kubeconfig = f"--kubeconfig={fresh_cluster.kubeconfig}"
    create_namespaces(fresh_cluster, "team-a", "team-b")
    shards = {"shard-a": ("ops-a", "team-a", "false"), "shard-b": ("ops-b", "team-b", "true")}
    for release, (namespace, team, no_registries) in shards.items():
        run(
            helm,
            kubeconfig,
            "install",
            release,
            CHART,
            "-n",
            namespace,
            "--create-namespace",
            "--set-json",
            f'watchNamespaces=["{team}"]',
            "--set-json",
            f'export={{"namespaces":["{team}"]}}',
            "--set",
            f"settings.noRegistries={no_registries}",
        )
    with fresh_cluster.api_client() as api:
        apps = kubernetes.client.AppsV1Api(api)
        core = kubernetes.client.CoreV1Api(api)
        rbac = kubernetes.client.RbacAuthorizationV1Api(api)
        for release, (namespace, team, _) in shards.items():
            fullname = f"{release}-ecr-operator"
            deployment = apps.read_namespaced_deployment(fullname, namespace)  # helm install returns once created
            assert deployment.spec.template.spec.service_account_name == fullname
            assert core.read_namespaced_service_account(fullname, namespace)
            settings = core.read_namespaced_config_map(f"{fullname}-settings", namespace).data
            assert settings["ECR_OPERATOR_NAMESPACE"] == team
            for name in (fullname, f"{fullname}-peering"):
                binding = rbac.read_cluster_role_binding(name)
                assert [(s.name, s.namespace) for s in binding.subjects] == [(fullname, namespace)]
                assert binding.role_ref.name == name
    # Each shard's identity exports in its own team only.
    for release, (namespace, team, _) in shards.items():
        user = f"system:serviceaccount:{namespace}:{release}-ecr-operator"
        other = "team-b" if team == "team-a" else "team-a"
        assert granted_missing(kubectl, fresh_cluster, user, export_in(team)) == []
        assert denied(kubectl, fresh_cluster, user, export_in(other) + ALWAYS_REFUSED[:4]) == []

    # Removing shard A leaves shard B, the API and the resources.
    create_resources(fresh_cluster, "team-a")
    run(helm, kubeconfig, "uninstall", "shard-a", "-n", "ops-a", "--wait")
    roles = cluster_roles(fresh_cluster)
    assert not {r for r in roles if r.startswith("shard-a-")}
    assert {"shard-b-ecr-operator", "shard-b-ecr-operator-export", "shard-b-ecr-operator-peering"} <= roles
    with fresh_cluster.api_client() as api:
        assert kubernetes.client.AppsV1Api(api).read_namespaced_deployment("shard-b-ecr-operator", "ops-b")
    assert crd_names(fresh_cluster) >= API | KOPF
    assert resources(fresh_cluster, "team-a") == (["app"], ["main"])
