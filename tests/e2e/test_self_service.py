"""Self-service on the real control plane with kube-controller-manager: what a team gets and what holds it.

* the garbage collector deletes spec.export's ConfigMap once its EcrRepository is gone (the owner reference);
* deleting a team's Namespace with repositories in it completes: the Namespace controller deletes them, the
  operator honours its finalizers (the ECR repositories go), the Namespace goes;
* a ResourceQuota ``count/ecrrepositories.ecr.platform.dev`` limits a team: the API server refuses the next
  create with the quota's message, and frees the slot once a repository is deleted;
* deploy/team-roles: a user bound to the built-in ``edit`` role in a namespace may manage EcrRepository objects
  there (ClusterRole aggregation), a ``view`` user may read them, neither may touch EcrRegistry or status.

The first three use the session operator (namespaces ``ecrop-*``); the roles are installed on a private cluster,
since aggregation changes ``edit`` for everyone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from operator_env import Namespace, OperatorEnv
from support import DEPLOY, GROUP, PLURAL, VERSION, Cluster, ecr_object, private_cluster, tagged_spec, unique, wait_for

from ecr_operator_dev import ControlPlaneBinaries

pytestmark = pytest.mark.e2e

QUOTA_RESOURCE = f"count/{PLURAL}.{GROUP}"
# The garbage collector learns new resource types from discovery every 30 s and retries an owner it cannot
# resolve with a backoff: a collection may take a minute when the CRD is young.
GC_TIMEOUT = 150.0


def test_the_export_configmap_is_collected_with_its_repository(ns: Namespace) -> None:
    repository = unique("ss-export")
    created = ns.create("web", tagged_spec(repository, export={"configMapName": "web-ecr"}))
    ns.wait_ready("web")
    core = ns.env.core
    [owner] = core.read_namespaced_config_map("web-ecr", ns.name).metadata.owner_references
    assert owner.uid == created["metadata"]["uid"]

    ns.delete("web")
    ns.wait_gone("web")

    def collected() -> bool:
        try:
            core.read_namespaced_config_map("web-ecr", ns.name)
        except kubernetes.client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(collected, "the garbage collector to delete the export ConfigMap", timeout=GC_TIMEOUT, context=ns.context)
    assert ns.env.aws.repository(repository) is None


def test_deleting_a_namespace_with_repositories_completes(operator_env: OperatorEnv) -> None:
    kube, core = operator_env.kube, operator_env.core
    namespace = kube.namespace()
    names = {name: unique(f"ss-{name}") for name in ("api", "worker")}
    for name, repository in names.items():
        kube.create(namespace, name, tagged_spec(repository))
    for name in names:
        kube.wait_ready(namespace, name)

    core.delete_namespace(namespace)

    def namespace_gone() -> bool:
        try:
            core.read_namespace(namespace)
        except kubernetes.client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(namespace_gone, f"namespace {namespace} to be deleted", timeout=120, context=kube.context)
    for name, repository in names.items():
        operator_env.aws.assert_deleted(namespace, name, repository)


def _create(ns: Namespace, name: str, repository: str) -> kubernetes.client.ApiException | None:
    try:
        ns.create(name, tagged_spec(repository))
    except kubernetes.client.ApiException as exc:
        return exc
    return None


def test_a_resource_quota_limits_a_teams_repositories(ns: Namespace) -> None:
    core = ns.env.core
    core.create_namespaced_resource_quota(
        ns.name,
        {"metadata": {"name": "ecr-repositories"}, "spec": {"hard": {QUOTA_RESOURCE: "2"}}},
    )
    # The quota controller reports usage first (for a CRD, once discovery has shown it to the controller, every
    # 30 s); until it does, the API server refuses every create the quota covers ("status unknown for quota").
    wait_for(
        lambda: QUOTA_RESOURCE in (core.read_namespaced_resource_quota("ecr-repositories", ns.name).status.used or {}),
        "the quota controller to count the namespace's repositories",
        timeout=GC_TIMEOUT,
    )
    first, second, third = (unique("ss-quota") for _ in range(3))
    assert _create(ns, "one", first) is None
    assert _create(ns, "two", second) is None

    refused = _create(ns, "three", third)
    assert refused is not None and refused.status == 403
    message = json.loads(refused.body)["message"]
    assert "exceeded quota: ecr-repositories" in message and f"limited: {QUOTA_RESOURCE}=2" in message, message
    assert ns.get("three") is None

    ns.wait_ready("one")
    ns.delete("one")
    ns.wait_gone("one")
    wait_for(lambda: _create(ns, "three", third) is None, "the freed slot to be usable", timeout=GC_TIMEOUT)
    ns.wait_ready("three")
    for name in ("two", "three"):
        ns.delete(name)


# -- roles ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def roles_cluster(
    controlplane_binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    with private_cluster(controlplane_binaries, tmp_path_factory.mktemp("team-roles")) as cluster:
        yield cluster


def can(cluster: Cluster, user: str, namespace: str | None, verb: str, resource: str) -> bool:
    """``kubectl auth can-i`` (a SelfSubjectAccessReview as ``user``); no namespace for a cluster-scoped kind."""
    where = ["-n", namespace] if namespace else []
    kind, _, subresource = resource.partition("/")  # kubectl reads "kind/x" as the object named x
    flags = [f"--subresource={subresource}"] if subresource else []
    answer = cluster.kubectl("auth", "can-i", verb, kind, *flags, "--as", user, *where, check=False).splitlines()[0]
    assert answer in ("yes", "no"), answer
    return answer == "yes"


def bind(cluster: Cluster, namespace: str, user: str, role: str) -> None:
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": f"{user}-{role}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    )


def test_a_namespace_editor_manages_ecr_repositories_through_the_aggregated_roles(roles_cluster: Cluster) -> None:
    cluster, team, other = roles_cluster, "team-a", "team-b"
    core = kubernetes.client.CoreV1Api(cluster.api)
    for namespace in (team, other):
        core.create_namespace({"metadata": {"name": namespace}})
    bind(cluster, team, "alice", "edit")
    bind(cluster, team, "bob", "view")
    resource = f"{PLURAL}.{GROUP}"
    assert not can(cluster, "alice", team, "create", resource), "edit alone must not know EcrRepository"

    cluster.kubectl("apply", "-f", str(DEPLOY / "team-roles" / "roles.yaml"))
    wait_for(lambda: can(cluster, "alice", team, "create", resource), "the edit role to aggregate EcrRepository")

    expected: dict[tuple[str, str | None, str, str], bool] = {
        ("alice", team, "create", resource): True,
        ("alice", team, "delete", resource): True,
        ("alice", team, "patch", resource): True,
        ("alice", other, "create", resource): False,
        ("alice", team, "update", f"{resource}/status"): False,
        ("alice", None, "create", f"ecrregistries.{GROUP}"): False,
        ("bob", team, "list", resource): True,
        ("bob", team, "get", f"{resource}/status"): True,
        ("bob", team, "create", resource): False,
        ("bob", team, "delete", resource): False,
    }
    wait_for(
        lambda: {k: can(cluster, *k) for k in expected} == expected,
        "the view role to aggregate EcrRepository too",
    )

    # And for real, as alice: her manifest is stored; bob's is refused.
    alice = impersonated(cluster, "alice")
    created: dict[str, Any] = alice.create_namespaced_custom_object(
        GROUP, VERSION, team, PLURAL, ecr_object(team, "api", tagged_spec("team-a/api"))
    )
    assert created["metadata"]["name"] == "api"
    with pytest.raises(kubernetes.client.ApiException) as refused:
        impersonated(cluster, "bob").delete_namespaced_custom_object(GROUP, VERSION, team, PLURAL, "api")
    assert refused.value.status == 403


def impersonated(cluster: Cluster, user: str) -> kubernetes.client.CustomObjectsApi:
    api = cluster.controlplane.api_client()
    api.set_default_header("Impersonate-User", user)
    return kubernetes.client.CustomObjectsApi(api)
