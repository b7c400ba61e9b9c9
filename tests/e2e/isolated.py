"""A private control plane for the e2e tests that install cluster-wide objects or run their own operators.

The session control plane (``controlplane`` fixture) may have another operator watching every namespace
(``operator_env``); a second operator there would race it for the same objects. The RBAC, IAM and HA
tests therefore start their own kube-apiserver + etcd (a few seconds), with the CRDs installed, and
run ``ecr-operator run`` as a child process (``ecr_operator.devenv.OperatorProcess``) against it.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import yaml

from ecr_operator.devenv import ControlPlaneBinaries, LocalControlPlane, OperatorProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = REPO_ROOT / "crds" / "ecrrepository.yaml"
DEPLOY = REPO_ROOT / "deploy"

GROUP = "ecr.platform.dev"
VERSION = "v1alpha1"
PLURAL = "ecrrepositories"
REGION = "ap-northeast-2"
REQUIRED_TAGS = "owner,cost_center,resource_lifecycle,data_class,service"
TAGS = {
    "owner": "platform-team",
    "cost_center": "engineering",
    "resource_lifecycle": "permanent",
    "data_class": "confidential",
    "service": "container-registry",
}
# Not a bare "403": log timestamps carry milliseconds (",403]").
FORBIDDEN_MARKERS = ("status=403", "code': 403", "Forbidden", "forbidden", "Not enough permissions")

T = TypeVar("T")


def unique(prefix: str) -> str:
    # Namespaces never finish deleting here (no namespace controller): never reuse a name.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(
    check: Callable[[], T | None],
    what: str,
    *,
    timeout: float = 60.0,
    interval: float = 0.25,
    context: Callable[[], str] | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy; an AssertionError inside explains what is missing."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            extra = f"\n{context()}" if context is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}{extra}")
        time.sleep(interval)


def spec(repository_name: str, **overrides: Any) -> dict[str, Any]:
    """A KMS-encrypted repository with rotation, a lifecycle policy and the required tags."""
    body: dict[str, Any] = {
        "repositoryName": repository_name,
        "region": REGION,
        "imageTagMutability": "MUTABLE",
        "scanOnPush": True,
        "encryption": {"type": "KMS", "enableKeyRotation": True, "deletionWindowInDays": 7},
        "lifecycle": {"maxImageCount": 30},
        "tags": dict(TAGS),
        "deletionPolicy": "Delete",
        "forceDelete": False,
    }
    body.update(overrides)
    return body


def forbidden_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(marker in line for marker in FORBIDDEN_MARKERS)]


class Cluster:
    """An admin view of a private control plane, with the few reads and writes the tests need."""

    def __init__(self, controlplane: LocalControlPlane, binaries: ControlPlaneBinaries) -> None:
        self.controlplane = controlplane
        self.binaries = binaries
        self.api = controlplane.api_client()
        self.custom = kubernetes.client.CustomObjectsApi(self.api)
        self.core = kubernetes.client.CoreV1Api(self.api)
        self.extensions = kubernetes.client.ApiextensionsV1Api(self.api)

    def close(self) -> None:
        self.api.close()

    # kubectl / setup

    def kubectl(self, *args: str, kubeconfig: Path | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [str(self.binaries.kubectl), f"--kubeconfig={kubeconfig or self.controlplane.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout + result.stderr

    def apply(self, path: Path) -> None:
        """``kubectl apply -f path``; a file holding CRDs and their objects is applied again once they exist."""
        first = self.kubectl("apply", "-f", str(path), check=False)
        if "ensure CRDs are installed first" in first or "no matches for kind" in first:
            for document in yaml.safe_load_all(path.read_text()):
                if document and document.get("kind") == "CustomResourceDefinition":
                    self.wait_established(document["metadata"]["name"])
            self.kubectl("apply", "-f", str(path))
        elif "error" in first.lower():
            raise AssertionError(f"kubectl apply -f {path} failed:\n{first}")

    def wait_established(self, name: str) -> None:
        def established() -> bool:
            crd = self.extensions.read_custom_resource_definition(name)
            conditions = (crd.status.conditions if crd.status else None) or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        wait_for(established, f"CRD {name} to be Established", timeout=30)

    def create_namespace(self, prefix: str) -> str:
        name = unique(prefix)
        self.core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name)))
        return name

    # EcrRepository objects

    def create(
        self, namespace: str, name: str, body_spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "EcrRepository",
            "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
            "spec": dict(body_spec),
        }
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        return created

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def patch(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, dict(body)
        )
        return patched

    def delete(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    @staticmethod
    def ready(obj: Mapping[str, Any]) -> dict[str, Any]:
        conditions = (obj.get("status") or {}).get("conditions") or []
        return next((dict(c) for c in conditions if c.get("type") == "Ready"), {})

    def wait_condition(
        self,
        namespace: str,
        name: str,
        status: str = "True",
        reason: str = "Synced",
        *,
        timeout: float = 90.0,
        context: Callable[[], str] | None = None,
    ) -> dict[str, Any]:
        """Ready=status/reason observed for the object's current generation."""

        def check() -> dict[str, Any]:
            obj = self.get(namespace, name)
            assert obj is not None, f"{namespace}/{name} does not exist"
            generation = obj["metadata"]["generation"]
            condition = self.ready(obj)
            observed = (obj.get("status") or {}).get("observedGeneration")
            assert (
                observed == generation
                and condition.get("observedGeneration") == generation
                and condition.get("status") == status
                and condition.get("reason") == reason
            ), f"generation {generation}, observedGeneration {observed}, Ready {condition}"
            return obj

        return wait_for(check, f"{namespace}/{name} Ready={status} {reason}", timeout=timeout, context=context)

    def wait_gone(
        self, namespace: str, name: str, *, timeout: float = 90.0, context: Callable[[], str] | None = None
    ) -> None:
        what = f"{namespace}/{name} gone"
        wait_for(lambda: self.get(namespace, name) is None, what, timeout=timeout, context=context)


@contextmanager
def private_cluster(binaries: ControlPlaneBinaries, workdir: Path) -> Iterator[Cluster]:
    """A fresh control plane with the EcrRepository CRD installed and Established."""
    with LocalControlPlane(binaries, workdir) as controlplane:
        cluster = Cluster(controlplane, binaries)
        try:
            cluster.apply(CRD_FILE)
            for document in yaml.safe_load_all(CRD_FILE.read_text()):
                if document and document.get("kind") == "CustomResourceDefinition":
                    cluster.wait_established(document["metadata"]["name"])
            yield cluster
        finally:
            cluster.close()


def operator_process(
    *,
    kubeconfig: Path,
    aws_env: Mapping[str, str],
    log_path: Path,
    cluster_id: str,
    extra_args: Sequence[str] = (),
    resync_seconds: float = 600,
) -> OperatorProcess:
    """``ecr-operator run`` with explicit settings (nothing inherited from the caller's environment)."""
    args = [
        "--cluster-id",
        cluster_id,
        "--region",
        REGION,
        "--required-tags",
        REQUIRED_TAGS,
        "--resync-interval",
        str(resync_seconds),
        "--workers",
        "4",
        "--log-format",
        "full",
        *extra_args,
    ]
    process = OperatorProcess(
        kubeconfig=kubeconfig, aws_env=aws_env, log_path=log_path, args=args, extra_env={"PYTHONUNBUFFERED": "1"}
    )
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        process.env.pop(key, None)
    return process
