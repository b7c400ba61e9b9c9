"""deploy/base/rbac.yaml on a real kube-apiserver: the operator's ServiceAccount is enough for a full lifecycle
(with the export RoleBinding in its namespace), and a tenant with a namespaced Role reaches its own namespace only.
The installed trees' identity (overlay, chart, two releases) is asked with `kubectl auth can-i` in test_install.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from support import (
    DEPLOY,
    GROUP,
    PLURAL,
    REGION,
    VERSION,
    Aws,
    Cluster,
    Operator,
    ecr_object,
    forbidden_lines,
    operator_process,
    private_cluster,
    tagged_spec,
    unique,
    wait_for,
)

from ecr_operator_dev import ControlPlaneBinaries, MotoServer

pytestmark = pytest.mark.e2e

SERVICE_ACCOUNT = "system:serviceaccount:ecr-operator:ecr-operator"


@dataclass
class Env:
    cluster: Cluster
    operator: Operator
    aws: Aws

    def log(self) -> str:
        return self.operator.log_tail(20000)


@pytest.fixture(scope="module")
def env(
    controlplane_binaries: ControlPlaneBinaries, moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("rbac")
    with private_cluster(controlplane_binaries, workdir / "controlplane") as cluster:
        cluster.apply(DEPLOY / "base" / "rbac.yaml")  # the ServiceAccount, ClusterRole and binding; not the Deployment
        kubeconfig = cluster.controlplane.token_kubeconfig("ecr-operator", "ecr-operator")
        operator = operator_process(
            kubeconfig=kubeconfig,
            aws_env=moto_server.aws_environment(REGION),
            log_path=workdir / "operator.log",
            cluster_id=unique("rbac"),
        )
        with operator:
            yield Env(cluster, operator, Aws(moto_server.endpoint_url, REGION))
        # After the whole module: not one request of the operator may have been refused.
        assert not forbidden_lines(operator.log_tail(10**7)), "\n".join(forbidden_lines(operator.log_tail(10**7)))


def test_service_account_has_exactly_the_rules_it_needs(env: Env) -> None:
    def can(verb: str, resource: str, *extra: str) -> bool:
        out = env.cluster.kubectl("auth", "can-i", verb, resource, f"--as={SERVICE_ACCOUNT}", *extra, check=False)
        return out.split()[0] == "yes"

    allowed = [
        ("list", "customresourcedefinitions.apiextensions.k8s.io"),
        ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
        ("list", "namespaces"),
        ("watch", "namespaces"),
        ("list", f"{PLURAL}.{GROUP}", "-A"),
        ("watch", f"{PLURAL}.{GROUP}", "-A"),
        ("patch", f"{PLURAL}.{GROUP}", "-A"),
        ("patch", f"{PLURAL}.{GROUP}", "--subresource=status", "-A"),
        ("list", f"ecrregistries.{GROUP}"),
        ("watch", f"ecrregistries.{GROUP}"),
        ("patch", f"ecrregistries.{GROUP}"),
        ("patch", f"ecrregistries.{GROUP}", "--subresource=status"),
        ("create", "events", "-A"),
        ("patch", "events", "-A"),
    ]
    refused = [
        ("get", "secrets", "-A"),
        ("list", "secrets", "-A"),
        # spec.export only where a RoleBinding allows it (test_full_lifecycle binds its namespace; test_install.py)
        ("get", "configmaps", "-A"),
        ("create", "configmaps", "-A"),
        ("patch", "configmaps", "-A"),
        ("create", "configmaps", "-n", "kube-system"),
        ("list", "configmaps", "-A"),
        ("watch", "configmaps", "-A"),
        ("update", "configmaps", "-A"),
        ("delete", "configmaps", "-A"),
        ("create", f"{PLURAL}.{GROUP}", "-A"),
        ("delete", f"{PLURAL}.{GROUP}", "-A"),
        ("update", f"{PLURAL}.{GROUP}", "-A"),
        ("create", f"ecrregistries.{GROUP}"),
        ("delete", f"ecrregistries.{GROUP}"),
        ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
        ("get", "events", "-A"),
        ("delete", "events", "-A"),
        ("create", "pods", "-A"),
        ("create", "events.events.k8s.io", "-A"),
    ]
    assert [rule for rule in allowed if not can(*rule)] == []
    assert [rule for rule in refused if can(*rule)] == []


def allow_exports(cluster: Cluster, namespace: str) -> None:
    """The RoleBinding docs/install.md describes: the export ClusterRole, in this namespace only."""
    kubernetes.client.RbacAuthorizationV1Api(cluster.api).create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "ecr-operator-export"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ecr-operator-export"},
            "subjects": [{"kind": "ServiceAccount", "name": "ecr-operator", "namespace": "ecr-operator"}],
        },
    )


def test_full_lifecycle_with_the_service_account(env: Env) -> None:
    cluster, namespace, name = env.cluster, env.cluster.namespace("rbac"), "app"
    allow_exports(cluster, namespace)
    repository_name = unique("rbac-app")
    cluster.create(namespace, name, tagged_spec(repository_name, export={"configMapName": "app-ecr"}))
    created = cluster.wait_ready(namespace, name, context=env.log)
    assert created["status"]["repositoryUri"].endswith("/" + repository_name)
    assert created["metadata"]["finalizers"] == [f"{GROUP}/finalizer"]
    assert env.aws.repository(repository_name) is not None
    # spec.export with configmaps get + create (bound in this namespace); a tampered key is patched back (patch).
    exported = cluster.core.read_namespaced_config_map("app-ecr", namespace)
    assert exported.data["repositoryUri"] == created["status"]["repositoryUri"]
    cluster.core.patch_namespaced_config_map("app-ecr", namespace, {"data": {"repositoryUri": "tampered"}})

    cluster.patch(namespace, name, {"spec": {"imageTagMutability": "IMMUTABLE", "lifecycle": {"maxImageCount": 5}}})
    cluster.wait_ready(namespace, name, context=env.log)
    repository = env.aws.repository(repository_name)
    assert repository is not None and repository["imageTagMutability"] == "IMMUTABLE"
    lifecycle = env.aws.lifecycle(repository_name)
    assert lifecycle is not None
    rules = lifecycle["rules"]
    assert [rule["selection"]["countNumber"] for rule in rules] == [5]
    restored = cluster.core.read_namespaced_config_map("app-ecr", namespace)
    assert restored.data["repositoryUri"] == created["status"]["repositoryUri"]
    # The operator could post its events (core/v1 create).
    events = wait_for(
        lambda: cluster.events(namespace, name), "an event from the operator", timeout=60, context=env.log
    )
    assert any(e.reason == "Updated" for e in events), [(e.reason, e.message) for e in events]

    cluster.delete(namespace, name)
    cluster.wait_gone(namespace, name, context=env.log)
    assert env.aws.repository(repository_name) is None
    assert forbidden_lines(env.log()) == []


def _tenant_client(cluster: Cluster, namespace: str) -> kubernetes.client.CustomObjectsApi:
    kubeconfig: Path = cluster.controlplane.token_kubeconfig(namespace, "tenant")
    api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    return kubernetes.client.CustomObjectsApi(api)


def _status(call: Any) -> int:
    try:
        call()
    except kubernetes.client.ApiException as exc:
        return int(exc.status)
    return 200


def test_tenant_with_a_namespaced_role_reaches_only_its_namespace(env: Env) -> None:
    cluster = env.cluster
    mine, theirs = cluster.namespace("tenant-a"), cluster.namespace("tenant-b")
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role(
        mine,
        {
            "metadata": {"name": "ecr-editor"},
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "resources": [PLURAL],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                }
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        mine,
        {
            "metadata": {"name": "ecr-editor"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ecr-editor"},
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": mine}],
        },
    )
    tenant = _tenant_client(cluster, mine)
    cluster.create(theirs, "other", tagged_spec(unique("rbac-other"), encryption={"type": "AES256"}, lifecycle=None))

    def body(namespace: str, name: str) -> dict[str, Any]:
        return ecr_object(
            namespace, name, tagged_spec(unique("rbac-tenant"), encryption={"type": "AES256"}, lifecycle=None)
        )

    # Full CRUD in its own namespace; the operator serves the tenant's object like any other.
    tenant.create_namespaced_custom_object(GROUP, VERSION, mine, PLURAL, body(mine, "own"))
    assert tenant.get_namespaced_custom_object(GROUP, VERSION, mine, PLURAL, "own")["metadata"]["name"] == "own"
    listed = tenant.list_namespaced_custom_object(GROUP, VERSION, mine, PLURAL)["items"]
    assert [item["metadata"]["name"] for item in listed] == ["own"]
    cluster.wait_ready(mine, "own", context=env.log)
    tenant.patch_namespaced_custom_object(GROUP, VERSION, mine, PLURAL, "own", {"spec": {"scanOnPush": False}})
    cluster.wait_ready(mine, "own", context=env.log)
    # ... but it cannot forge the status (the Role does not grant the status subresource).
    forged = {"status": {"conditions": []}}
    assert (
        _status(lambda: tenant.patch_namespaced_custom_object_status(GROUP, VERSION, mine, PLURAL, "own", forged))
        == 403
    )
    tenant.delete_namespaced_custom_object(GROUP, VERSION, mine, PLURAL, "own")
    cluster.wait_gone(mine, "own", context=env.log)

    # Nothing in another namespace, and no cluster-wide listing.
    refused = {
        "get": lambda: tenant.get_namespaced_custom_object(GROUP, VERSION, theirs, PLURAL, "other"),
        "list": lambda: tenant.list_namespaced_custom_object(GROUP, VERSION, theirs, PLURAL),
        "create": lambda: tenant.create_namespaced_custom_object(GROUP, VERSION, theirs, PLURAL, body(theirs, "x")),
        "patch": lambda: tenant.patch_namespaced_custom_object(
            GROUP, VERSION, theirs, PLURAL, "other", {"spec": {"scanOnPush": False}}
        ),
        "delete": lambda: tenant.delete_namespaced_custom_object(GROUP, VERSION, theirs, PLURAL, "other"),
        "list cluster-wide": lambda: tenant.list_cluster_custom_object(GROUP, VERSION, PLURAL),
    }
    assert {what: _status(call) for what, call in refused.items()} == {what: 403 for what in refused}
    assert cluster.get(theirs, "other") is not None and cluster.get(theirs, "x") is None
