"""One operator process behind an AwsProxy, for the fault, kill-point and delete-safety e2e modules.

:func:`operator_harness` starts ``ecr-operator run`` (a unique ``--cluster-id``, its own AWS region in the
session's moto server, ``--namespace <prefix>-*``) with ``AWS_ENDPOINT_URL`` pointing at an
:class:`~ecr_operator.devenv.AwsProxy` in front of moto. :meth:`Harness.namespace` makes a fresh namespace
matching the pattern (kopf picks it up), so every test gets its own namespace while a module shares one
operator. The :class:`Aws` helper reads moto directly (never through the proxy): what AWS really holds.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
import kubernetes
import yaml

from ecr_operator.devenv import AwsProxy, LocalControlPlane, MotoServer, OperatorProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"
GROUP = "ecr.platform.dev"
VERSION = "v1alpha1"
PLURAL = "ecrrepositories"
FINALIZER = f"{GROUP}/finalizer"
CLUSTER_TAG, NAMESPACE_TAG, NAME_TAG = (f"{GROUP}/cluster", f"{GROUP}/namespace", f"{GROUP}/name")
TIMEOUT = 90.0
T = TypeVar("T")


def unique(prefix: str) -> str:
    # Namespaces never finish deleting here (no namespace controller): never reuse a name.
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def wait_for(
    check: Callable[[], T | None],
    what: str,
    *,
    timeout: float = TIMEOUT,
    interval: float = 0.3,
    context: Callable[[], str] | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy (an AssertionError counts as "not yet")."""
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


def apply_crds(api: kubernetes.client.ApiClient) -> None:
    """Create (or leave) the CRDs from crds/ and wait until they are Established."""
    extensions = kubernetes.client.ApiextensionsV1Api(api)
    names = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            names.append(document["metadata"]["name"])
            try:
                extensions.create_custom_resource_definition(document)
            except kubernetes.client.ApiException as exc:
                if exc.status != 409:
                    raise

    def established(name: str) -> bool:
        crd = extensions.read_custom_resource_definition(name)
        conditions = (crd.status.conditions if crd.status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    assert names, f"no CRDs in {CRD_DIR}"
    for name in names:
        wait_for(lambda name=name: established(name), f"CRD {name} Established", timeout=30)


class Aws:
    """boto3 straight to moto (not through the proxy) in one region."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        kwargs: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.region = region
        self.ecr = boto3.client("ecr", **kwargs)
        self.kms = boto3.client("kms", **kwargs)

    def repository(self, name: str) -> dict[str, Any] | None:
        try:
            repositories: list[dict[str, Any]] = self.ecr.describe_repositories(repositoryNames=[name])["repositories"]
        except self.ecr.exceptions.RepositoryNotFoundException:
            return None
        return repositories[0] if repositories else None

    def repository_names(self) -> set[str]:
        names: set[str] = set()
        for page in self.ecr.get_paginator("describe_repositories").paginate():
            names.update(r["repositoryName"] for r in page["repositories"])
        return names

    def images(self, name: str) -> list[dict[str, Any]]:
        ids: list[dict[str, Any]] = self.ecr.list_images(repositoryName=name)["imageIds"]
        return ids

    def put_image(self, name: str, tag: str = "v1") -> str:
        """Push a minimal image manifest (moto does not check blobs); returns its digest."""
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": 2,
                    "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
                },
                "layers": [],
            }
        )
        image = self.ecr.put_image(repositoryName=name, imageManifest=manifest, imageTag=tag)["image"]
        digest: str = image["imageId"]["imageDigest"]
        return digest

    def alias_target(self, repository_name: str) -> str | None:
        alias = "alias/ecr/" + repository_name.replace(".", "_")
        for page in self.kms.get_paginator("list_aliases").paginate():
            for entry in page["Aliases"]:
                if entry["AliasName"] == alias:
                    target: str | None = entry.get("TargetKeyId")
                    return target
        return None

    def key(self, key_id: str) -> dict[str, Any]:
        metadata: dict[str, Any] = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]
        return metadata

    def key_tags(self, key_id: str) -> dict[str, str]:
        return {t["TagKey"]: t["TagValue"] for t in self.kms.list_resource_tags(KeyId=key_id)["Tags"]}

    def owned_keys(self, cluster: str, namespace: str, name: str) -> list[dict[str, Any]]:
        """Every KMS key (any state) whose ownership tags name ``namespace/name`` in ``cluster``."""
        wanted = {CLUSTER_TAG: cluster, NAMESPACE_TAG: namespace, NAME_TAG: name}
        keys = []
        for page in self.kms.get_paginator("list_keys").paginate():
            for entry in page["Keys"]:
                tags = self.key_tags(entry["KeyId"])
                if all(tags.get(k) == v for k, v in wanted.items()):
                    keys.append(self.key(entry["KeyId"]))
        return keys


@dataclass
class Harness:
    controlplane: LocalControlPlane
    api: kubernetes.client.ApiClient
    proxy: AwsProxy
    operator: OperatorProcess
    aws: Aws
    cluster_id: str
    namespace_prefix: str
    custom: kubernetes.client.CustomObjectsApi = field(init=False)
    core: kubernetes.client.CoreV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.custom = kubernetes.client.CustomObjectsApi(self.api)
        self.core = kubernetes.client.CoreV1Api(self.api)

    # -- namespaces and objects -------------------------------------------------------------------------------

    def namespace(self) -> str:
        """A fresh namespace the operator watches."""
        name = unique(self.namespace_prefix)
        self.core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name)))
        return name

    def create(self, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "EcrRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
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

    def must_get(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self.get(namespace, name)
        assert obj is not None, f"{namespace}/{name} does not exist"
        return obj

    def patch_spec(self, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """JSON merge patch of the spec; returns the patched object (with its new generation)."""
        patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"spec": spec}
        )
        return patched

    def delete(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def events(self, namespace: str, name: str, *, reason: str | None = None, type_: str | None = None) -> list[Any]:
        items = self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
        return [e for e in items if (reason is None or e.reason == reason) and (type_ is None or e.type == type_)]

    # -- waits ------------------------------------------------------------------------------------------------

    def context(self) -> str:
        calls = [
            f"{c.service}:{c.operation}={c.status}{'/' + c.injected if c.injected else ''}" for c in self.proxy.calls()
        ]
        log = self.operator.log_tail(8000)
        return f"--- last AWS calls ---\n{' '.join(calls[-40:])}\n--- operator log tail ---\n{log}"

    @staticmethod
    def ready_condition(obj: dict[str, Any]) -> dict[str, Any]:
        conditions = (obj.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c.get("type") == "Ready"), {})

    def wait_condition(
        self,
        namespace: str,
        name: str,
        status: str,
        reason: str,
        *,
        generation: int | None = None,
        timeout: float = TIMEOUT,
    ) -> dict[str, Any]:
        """Ready has ``status``/``reason`` for ``generation`` (default: the object's current generation)."""

        def check() -> dict[str, Any]:
            obj = self.must_get(namespace, name)
            wanted = generation if generation is not None else obj["metadata"]["generation"]
            condition = self.ready_condition(obj)
            if (
                (obj.get("status") or {}).get("observedGeneration") == wanted
                and condition.get("observedGeneration") == wanted
                and condition.get("status") == status
                and condition.get("reason") == reason
            ):
                return obj
            raise AssertionError(f"generation {wanted}, Ready {condition}")

        return wait_for(check, f"{namespace}/{name} Ready={status} {reason}", timeout=timeout, context=self.context)

    def wait_ready(self, namespace: str, name: str, *, timeout: float = TIMEOUT) -> dict[str, Any]:
        return self.wait_condition(namespace, name, "True", "Synced", timeout=timeout)

    def wait_gone(self, namespace: str, name: str, *, timeout: float = TIMEOUT) -> None:
        wait_for(
            lambda: self.get(namespace, name) is None,
            f"{namespace}/{name} to be gone",
            timeout=timeout,
            context=self.context,
        )

    # -- AWS state of one resource ----------------------------------------------------------------------------

    def owned_keys(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return self.aws.owned_keys(self.cluster_id, namespace, name)

    def live_keys(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Owned keys that are not scheduled for deletion."""
        return [k for k in self.owned_keys(namespace, name) if k["KeyState"] != "PendingDeletion"]

    def assert_converged(self, namespace: str, name: str, repository_name: str) -> dict[str, Any]:
        """Exactly one live key for the owner, aliased, used by the one repository; returns the repository."""
        keys = self.live_keys(namespace, name)
        assert len(keys) == 1, f"expected one live key for {namespace}/{name}, found {keys}"
        [key] = keys
        assert key["KeyState"] == "Enabled", key
        assert self.aws.alias_target(repository_name) == key["KeyId"], "the alias does not point at the live key"
        repository = self.aws.repository(repository_name)
        assert repository is not None, f"repository {repository_name} is missing"
        assert repository["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key["Arn"]}
        tags = {
            t["Key"]: t["Value"]
            for t in self.aws.ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
        }
        assert tags.get(CLUSTER_TAG) == self.cluster_id and tags.get(NAME_TAG) == name, tags
        return repository

    def assert_deleted(self, namespace: str, name: str, repository_name: str) -> None:
        """No repository, no alias, and every key of the owner pending deletion."""
        assert self.aws.repository(repository_name) is None, f"repository {repository_name} still exists"
        assert self.aws.alias_target(repository_name) is None, "the alias still exists"
        states = [k["KeyState"] for k in self.owned_keys(namespace, name)]
        assert states and all(s == "PendingDeletion" for s in states), f"owned keys in states {states}"


def full_spec(repository_name: str, **overrides: Any) -> dict[str, Any]:
    """A spec that exercises every create write: key, alias, rotation, repository, lifecycle, pull policy."""
    spec: dict[str, Any] = {
        "repositoryName": repository_name,
        "encryption": {"type": "KMS", "enableKeyRotation": True, "deletionWindowInDays": 7},
        "lifecycle": {"maxImageCount": 10},
        "crossAccountPull": {"enabled": True, "allowedAccountIds": ["210987654321"]},
        "tags": {"team": "platform"},
    }
    spec.update(overrides)
    return spec


@contextmanager
def operator_harness(
    controlplane: LocalControlPlane,
    api: kubernetes.client.ApiClient,
    moto: MotoServer,
    workdir: Path,
    *,
    region: str,
    resync_seconds: float = 5.0,
) -> Iterator[Harness]:
    """CRDs applied, a proxy in front of moto, one operator watching ``<prefix>-*`` namespaces."""
    apply_crds(api)
    cluster_id = unique("hard")
    prefix = unique("hard")
    with AwsProxy(upstream=moto.endpoint_url) as proxy:
        aws_env = {**moto.aws_environment(region), "AWS_ENDPOINT_URL": proxy.endpoint_url}
        operator = OperatorProcess(
            kubeconfig=controlplane.kubeconfig,
            aws_env=aws_env,
            log_path=workdir / "ecr-operator.log",
            args=[
                "--namespace",
                f"{prefix}-*",
                "--cluster-id",
                cluster_id,
                "--region",
                region,
                "--resync-interval",
                str(resync_seconds),
                "--required-tags",
                "",
                "--log-format",
                "plain",
                "--workers",
                "4",
            ],
            extra_env={"PYTHONUNBUFFERED": "1", "ECR_OPERATOR_PEERING": ""},
        )
        operator.start()
        try:
            yield Harness(controlplane, api, proxy, operator, Aws(moto.endpoint_url, region), cluster_id, prefix)
        finally:
            operator.stop()
