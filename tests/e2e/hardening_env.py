"""A private control plane, moto and operator processes for the admission, tenancy and secrets e2e modules.

The session control plane may have another operator watching every namespace (``operator_env``); an
operator of ours there would race it for the same objects. These modules therefore start their own
kube-apiserver + etcd (a few seconds) with the CRD installed, their own moto server, and run
``ecr-operator run`` (``ecr_operator.devenv.OperatorProcess``) with the flags under test.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
import kubernetes
import yaml

from ecr_operator.devenv import ControlPlaneBinaries, LocalControlPlane, MotoServer, OperatorProcess
from ecr_operator.devenv._process import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = REPO_ROOT / "crds" / "ecrrepository.yaml"
GROUP = "ecr.platform.dev"
VERSION = "v1alpha1"
PLURAL = "ecrrepositories"
REGION = "eu-central-1"
OWNER_TAGS = (f"{GROUP}/cluster", f"{GROUP}/namespace", f"{GROUP}/name")
TAGS = {
    "owner": "platform-team",
    "cost_center": "engineering",
    "resource_lifecycle": "permanent",
    "data_class": "internal",
    "service": "hardening",
}
TIMEOUT = 90.0
T = TypeVar("T")


def unique(prefix: str) -> str:
    # Namespaces never finish deleting here (no namespace controller): never reuse a name.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(
    check: Callable[[], T | None],
    what: str,
    *,
    timeout: float = TIMEOUT,
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


def ecr_object(
    namespace: str, name: str, spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrRepository",
        "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
        "spec": dict(spec),
    }


@dataclass
class Cluster:
    controlplane: LocalControlPlane
    api: kubernetes.client.ApiClient
    custom: kubernetes.client.CustomObjectsApi = field(init=False)
    core: kubernetes.client.CoreV1Api = field(init=False)
    log_context: Callable[[], str] = field(default=lambda: "")

    def __post_init__(self) -> None:
        self.custom = kubernetes.client.CustomObjectsApi(self.api)
        self.core = kubernetes.client.CoreV1Api(self.api)

    def namespace(self, prefix: str, annotations: Mapping[str, str] | None = None) -> str:
        name = unique(prefix)
        metadata = kubernetes.client.V1ObjectMeta(name=name, annotations=dict(annotations or {}))
        self.core.create_namespace(kubernetes.client.V1Namespace(metadata=metadata))
        return name

    def create(
        self,
        namespace: str,
        name: str,
        spec: Mapping[str, Any],
        *,
        annotations: Mapping[str, str] | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if dry_run:
            kwargs["dry_run"] = "All"
        if strict:
            kwargs["field_validation"] = "Strict"
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, ecr_object(namespace, name, spec, annotations), **kwargs
        )
        return created

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        return obj

    def patch_spec(self, namespace: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"spec": dict(spec)}
        )
        return patched

    def delete(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def gone(self, namespace: str, name: str) -> bool:
        try:
            self.get(namespace, name)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    @staticmethod
    def ready(obj: Mapping[str, Any]) -> dict[str, Any]:
        conditions = (obj.get("status") or {}).get("conditions") or []
        return next((dict(c) for c in conditions if c.get("type") == "Ready"), {})

    def wait_condition(
        self, namespace: str, name: str, status: str, reason: str, *, timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        """Wait until Ready is ``status``/``reason`` for the object's current generation; returns the object."""

        def check() -> dict[str, Any]:
            obj = self.get(namespace, name)
            generation = obj["metadata"]["generation"]
            condition = self.ready(obj)
            if (
                condition.get("status") == status
                and condition.get("reason") == reason
                and condition.get("observedGeneration") == generation
            ):
                return obj
            raise AssertionError(f"generation {generation}, Ready {condition}")

        return wait_for(check, f"{namespace}/{name} Ready={status} {reason}", timeout=timeout, context=self.log_context)

    def events(self, namespace: str, name: str | None = None) -> list[Any]:
        selector = f"involvedObject.name={name}" if name else None
        items: list[Any] = self.core.list_namespaced_event(namespace, field_selector=selector).items
        return items


@contextmanager
def isolated_cluster(binaries: ControlPlaneBinaries, workdir: Path) -> Iterator[Cluster]:
    """A fresh kube-apiserver + etcd with the EcrRepository CRD installed and Established."""
    with LocalControlPlane(binaries, workdir) as controlplane, controlplane.api_client() as api:
        extensions = kubernetes.client.ApiextensionsV1Api(api)
        crd = yaml.safe_load(CRD_FILE.read_text())
        extensions.create_custom_resource_definition(crd)

        def established() -> bool:
            status = extensions.read_custom_resource_definition(crd["metadata"]["name"]).status
            return any(c.type == "Established" and c.status == "True" for c in (status.conditions or []))

        wait_for(established, "the EcrRepository CRD to be Established", timeout=30)
        yield Cluster(controlplane, api)


def start_operator(
    kubeconfig: Path,
    moto: MotoServer,
    log_path: Path,
    args: Sequence[str],
    *,
    aws_env: Mapping[str, str] | None = None,
) -> OperatorProcess:
    """``ecr-operator run <args> --region REGION --liveness ...``, started and alive (its probe answers)."""
    port = free_port()
    operator = OperatorProcess(
        kubeconfig=kubeconfig,
        aws_env=dict(aws_env) if aws_env is not None else moto.aws_environment(REGION),
        log_path=log_path,
        args=[*args, "--region", REGION, "--liveness", f"http://127.0.0.1:{port}/healthz"],
        extra_env={"ECR_OPERATOR_REQUIRED_TAGS": ",".join(TAGS), "PYTHONUNBUFFERED": "1"},
    )
    for variable in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        operator.env.pop(variable, None)
    operator.start()

    def healthy() -> bool:
        assert operator.running, f"the operator exited:\n{operator.log_tail()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        wait_for(healthy, "the operator's liveness endpoint", timeout=60)
    except BaseException:
        operator.stop()
        raise
    return operator


class Aws:
    """boto3 against the moto server: what AWS really holds."""

    def __init__(self, endpoint_url: str) -> None:
        kwargs: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.ecr = boto3.client("ecr", **kwargs)
        self.kms = boto3.client("kms", **kwargs)

    def repository_names(self) -> set[str]:
        names: set[str] = set()
        for page in self.ecr.get_paginator("describe_repositories").paginate():
            names.update(r["repositoryName"] for r in page["repositories"])
        return names

    def key_ids(self) -> set[str]:
        ids: set[str] = set()
        for page in self.kms.get_paginator("list_keys").paginate():
            ids.update(k["KeyId"] for k in page["Keys"])
        return ids

    def repository(self, name: str) -> dict[str, Any] | None:
        try:
            repositories: list[dict[str, Any]] = self.ecr.describe_repositories(repositoryNames=[name])["repositories"]
        except self.ecr.exceptions.RepositoryNotFoundException:
            return None
        return repositories[0]

    def snapshot(self, name: str) -> dict[str, Any]:
        """Everything the operator could change on a repository: settings, tags, lifecycle and repository policy."""
        repository = self.repository(name)
        assert repository is not None, f"repository {name} does not exist"
        tags = self.ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
        try:
            lifecycle = json.loads(self.ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
        except self.ecr.exceptions.LifecyclePolicyNotFoundException:
            lifecycle = None
        try:
            policy = json.loads(self.ecr.get_repository_policy(repositoryName=name)["policyText"])
        except self.ecr.exceptions.RepositoryPolicyNotFoundException:
            policy = None
        return {
            "imageTagMutability": repository["imageTagMutability"],
            "scanOnPush": repository["imageScanningConfiguration"]["scanOnPush"],
            "encryption": repository["encryptionConfiguration"],
            "tags": {t["Key"]: t["Value"] for t in tags},
            "lifecycle": lifecycle,
            "policy": policy,
        }
