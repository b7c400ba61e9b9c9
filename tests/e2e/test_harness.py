"""The end-to-end harness itself: real control plane, RBAC, restarts, moto server."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import boto3
import kubernetes
import pytest

from ecr_operator_dev import LocalControlPlane, MotoServer

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


def _pinned_kubernetes_version() -> str:
    gomod = (REPO_ROOT / "hack" / "controlplane" / "kube-apiserver" / "go.mod").read_text()
    match = re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes\s+(v\S+)", gomod, re.MULTILINE)
    assert match, "k8s.io/kubernetes requirement not found in go.mod"
    return match.group(1)


def _unique(prefix: str) -> str:
    # A deleted Namespace lingers while its objects are finalized: never reuse names.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _create_namespace(api: kubernetes.client.ApiClient, name: str) -> None:
    kubernetes.client.CoreV1Api(api).create_namespace(
        kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name))
    )


def test_version_is_the_pinned_release(k8s_api: kubernetes.client.ApiClient) -> None:
    pinned = _pinned_kubernetes_version()
    info = kubernetes.client.VersionApi(k8s_api).get_code()
    assert info.git_version == pinned
    assert not info.git_version.startswith("v0.0.0")
    major, minor = pinned.lstrip("v").split(".")[:2]
    assert (info.major, info.minor) == (major, minor)
    assert info.git_tree_state == "clean"


def test_namespace_and_configmap(k8s_api: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(k8s_api)
    namespace = _unique("smoke")
    _create_namespace(k8s_api, namespace)
    core.create_namespaced_config_map(
        namespace,
        kubernetes.client.V1ConfigMap(metadata=kubernetes.client.V1ObjectMeta(name="settings"), data={"answer": "42"}),
    )
    fetched = core.read_namespaced_config_map("settings", namespace)
    assert fetched.data == {"answer": "42"}
    default = core.read_namespace("default")
    assert default.metadata is not None and default.metadata.name == "default"


def test_service_account_token_is_subject_to_rbac(
    controlplane: LocalControlPlane, k8s_api: kubernetes.client.ApiClient, tmp_path: Path
) -> None:
    own, other = _unique("sa-home"), _unique("sa-other")
    _create_namespace(k8s_api, own)
    _create_namespace(k8s_api, other)
    kubeconfig = controlplane.token_kubeconfig(own, "operator", tmp_path / "kubeconfig")

    sa_client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    with sa_client as sa_api:
        review = kubernetes.client.AuthenticationV1Api(sa_api).create_self_subject_review(
            kubernetes.client.V1SelfSubjectReview()
        )
        assert review.status is not None and review.status.user_info is not None
        assert review.status.user_info.username == f"system:serviceaccount:{own}:operator"

        with pytest.raises(kubernetes.client.ApiException) as forbidden:
            kubernetes.client.CoreV1Api(sa_api).list_namespaced_secret(other)
        assert forbidden.value.status == 403

    # A second call reuses the existing ServiceAccount.
    assert controlplane.token_kubeconfig(own, "operator").is_file()


def test_restart_apiserver_keeps_data(controlplane: LocalControlPlane, k8s_api: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(k8s_api)
    namespace = _unique("restart")
    _create_namespace(k8s_api, namespace)
    core.create_namespaced_config_map(
        namespace,
        kubernetes.client.V1ConfigMap(metadata=kubernetes.client.V1ObjectMeta(name="kept"), data={"k": "v"}),
    )
    server = controlplane.server

    controlplane.restart_apiserver()

    assert controlplane.server == server
    assert controlplane.running
    # Both a fresh client and the long-lived session client reach the restarted server.
    with controlplane.api_client() as fresh:
        assert kubernetes.client.CoreV1Api(fresh).read_namespaced_config_map("kept", namespace).data == {"k": "v"}
    assert core.read_namespaced_config_map("kept", namespace).data == {"k": "v"}


def test_kubectl_uses_the_admin_kubeconfig(controlplane: LocalControlPlane) -> None:
    kubectl = controlplane.binaries.kubectl
    if kubectl is None:
        pytest.skip("kubectl was not built")
    env = {**os.environ, "KUBECONFIG": str(controlplane.kubeconfig)}
    out = subprocess.run(
        [str(kubectl), "get", "namespace", "default", "-o", "name"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "namespace/default"
    client = subprocess.run(
        [str(kubectl), "version", "--client", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f'"gitVersion": "{_pinned_kubernetes_version()}"' in client.stdout


def test_moto_server_serves_ecr(moto_server: MotoServer) -> None:
    ecr = boto3.client(
        "ecr",
        endpoint_url=moto_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    created = ecr.create_repository(repositoryName="team/app")["repository"]
    assert created["repositoryName"] == "team/app"
    names = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
    assert "team/app" in names

    moto_server.reset()
    assert ecr.describe_repositories()["repositories"] == []


def test_moto_server_is_a_separate_process(tmp_path: Path) -> None:
    with MotoServer(tmp_path) as server:
        pid = server.pid
        assert pid is not None and pid != os.getpid()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
