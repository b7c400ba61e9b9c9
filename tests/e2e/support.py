"""What the e2e modules share: waits, EcrRepository objects, AWS reads, the operator process and its contexts.

* :func:`wait_for` polls a condition; :func:`unique` names things (never reused: deletions take a while).
* :func:`install_crds` creates (or replaces) the CRDs from ``crds/`` and waits until they are Established.
* :class:`Kube`: create / get / patch / delete EcrRepository objects, wait for Ready, for them to be gone,
  for events; a failed wait shows ``context()`` (the operator's log).
* :class:`Aws`: boto3 straight to moto (never through a proxy), i.e. what AWS really holds.
* :class:`Operator`: ``ecr_operator_dev.OperatorProcess`` with a liveness endpoint; ``start()`` returns
  once it answers. :func:`operator_process` builds one with explicit settings for a private cluster.
* :func:`private_cluster`: a kube-apiserver + etcd of its own (:class:`Cluster`), for the modules that install
  cluster-wide objects or run operators with flags of their own. The session control plane has the session
  operator (``operator_env``, namespaces ``ecrop-*``) and the :func:`operator_harness` ones; a second operator
  watching the same namespaces would race them.
* :func:`operator_harness`: one operator behind an :class:`~ecr_operator_dev.AwsProxy` on the session control
  plane (its own region of the session's moto, ``--namespace <prefix>-*``), for the fault, kill-point and
  delete-safety modules (fixture: :func:`harness_fixture`): every test gets a fresh namespace
  (:meth:`Harness.namespace`), a module one operator.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import kubernetes
import pytest
import yaml
from admission_corpus import TAGS as TAGS  # values for the operator's default required tags

from ecr_operator.repository.render import key_alias_for
from ecr_operator_dev import (
    AwsProxy,
    ControlPlaneBinaries,
    LocalControlPlane,
    MotoServer,
    OperatorProcess,
    ProcessExitedError,
)
from ecr_operator_dev._process import free_port
from ecr_operator_dev.awsread import AwsReader

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"
DEPLOY = REPO_ROOT / "deploy"

GROUP = "ecr.platform.dev"
VERSION = "v1alpha1"
PLURAL = "ecrrepositories"
FINALIZER = f"{GROUP}/finalizer"
OWNER_TAGS = (f"{GROUP}/cluster", f"{GROUP}/namespace", f"{GROUP}/name")
CLUSTER_TAG, NAMESPACE_TAG, NAME_TAG = OWNER_TAGS
REGION = "ap-northeast-2"
REQUIRED_TAGS = ",".join(TAGS)
# Not a bare "403": log timestamps carry milliseconds (",403]").
FORBIDDEN_MARKERS = ("status=403", "code': 403", "Forbidden", "forbidden", "Not enough permissions")
ROLE_ANNOTATION = f"{GROUP}/aws-role-arn"
"""On a Namespace: the IAM role its resources' AWS calls assume (the account they live in)."""
OWN_ACCOUNT = "123456789012"  # moto's
ACCOUNT_B, ROLE_B = "222233334444", "arn:aws:iam::222233334444:role/ecr-operator-team-b"
ACCOUNT_C, ROLE_C = "333344445555", "arn:aws:iam::333344445555:role/ecr-operator-team-c"
ACCOUNT_D, ROLE_D = "444455556666", "arn:aws:iam::444455556666:role/ecr-operator-team-d"
TIMEOUT = 90.0
T = TypeVar("T")


def unique(prefix: str) -> str:
    # A deleted Namespace lingers while its objects are finalized: never reuse a name.
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


# -- Kubernetes ----------------------------------------------------------------------------------------------


def wait_established(api: kubernetes.client.ApiClient, name: str, timeout: float = 30.0) -> None:
    extensions = kubernetes.client.ApiextensionsV1Api(api)

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(name)
        conditions = (crd.status.conditions if crd.status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for(established, f"CRD {name} to be Established", timeout=timeout)


def install_crds(api: kubernetes.client.ApiClient) -> list[str]:
    """Create (or replace) the CRDs from crds/ and wait until they are Established; returns their names."""
    extensions = kubernetes.client.ApiextensionsV1Api(api)
    names = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            name = document["metadata"]["name"]
            try:
                extensions.create_custom_resource_definition(document)
            except kubernetes.client.ApiException as exc:
                if exc.status != 409:
                    raise
                current = extensions.read_custom_resource_definition(name)
                document["metadata"]["resourceVersion"] = current.metadata.resource_version
                extensions.replace_custom_resource_definition(name, document)
            names.append(name)
    assert names, f"no CRDs in {CRD_DIR}"
    for name in names:
        wait_established(api, name)
    return names


def ecr_object(
    namespace: str, name: str, spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrRepository",
        "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
        "spec": dict(spec),
    }


def tagged_spec(repository_name: str, **overrides: Any) -> dict[str, Any]:
    """A KMS-encrypted repository in :data:`REGION` with rotation, a lifecycle policy and the required tags."""
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


def ready_condition(obj: Mapping[str, Any]) -> dict[str, Any]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((dict(c) for c in conditions if c.get("type") == "Ready"), {})


class Kube:
    """EcrRepository objects, namespaces and events through one (admin) API client.

    A failed wait shows ``context()``: ``log_context()`` unless a subclass knows better.
    """

    def __init__(self, api: kubernetes.client.ApiClient, *, namespace_prefix: str = "e2e") -> None:
        self.api = api
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.core = kubernetes.client.CoreV1Api(api)
        self.namespace_prefix = namespace_prefix
        self.log_context: Callable[[], str] = lambda: ""

    def context(self) -> str:
        return self.log_context()

    ready_condition = staticmethod(ready_condition)

    # -- namespaces and objects -------------------------------------------------------------------------------

    def namespace(self, prefix: str | None = None, annotations: Mapping[str, str] | None = None) -> str:
        """A fresh namespace named ``<prefix>-<random>`` (default prefix: ``namespace_prefix``)."""
        name = unique(prefix or self.namespace_prefix)
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

    def gone(self, namespace: str, name: str) -> bool:
        return self.get(namespace, name) is None

    def patch(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (``None`` removes a key); returns the patched object (with its new generation)."""
        patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, dict(body)
        )
        return patched

    def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch the status subresource (e.g. what a crashed operator had recorded)."""
        result: dict[str, Any] = self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, {"status": dict(status)}
        )
        return result

    def patch_spec(self, namespace: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        return self.patch(namespace, name, {"spec": dict(spec)})

    def delete(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def events(
        self, namespace: str, name: str | None = None, *, reason: str | None = None, type_: str | None = None
    ) -> list[Any]:
        selector = f"involvedObject.name={name}" if name else None
        items = self.core.list_namespaced_event(namespace, field_selector=selector).items
        return [e for e in items if (reason is None or e.reason == reason) and (type_ is None or e.type == type_)]

    # -- waits ----------------------------------------------------------------------------------------------

    def wait_condition(
        self,
        namespace: str,
        name: str,
        status: str,
        reason: str,
        *,
        generation: int | None = None,
        timeout: float = TIMEOUT,
        context: Callable[[], str] | None = None,
    ) -> dict[str, Any]:
        """Ready is ``status``/``reason``, observed for ``generation`` (default: the object's current one)."""

        def check() -> dict[str, Any]:
            obj = self.must_get(namespace, name)
            wanted = generation if generation is not None else obj["metadata"]["generation"]
            condition = ready_condition(obj)
            observed = (obj.get("status") or {}).get("observedGeneration")
            assert (
                observed == wanted
                and condition.get("observedGeneration") == wanted
                and condition.get("status") == status
                and condition.get("reason") == reason
            ), f"generation {wanted}, status.observedGeneration {observed}, Ready {condition}"
            return obj

        what = f"{namespace}/{name} Ready={status} {reason}"
        return wait_for(check, what, timeout=timeout, context=context or self.context)

    def wait_ready(
        self, namespace: str, name: str, *, timeout: float = TIMEOUT, context: Callable[[], str] | None = None
    ) -> dict[str, Any]:
        return self.wait_condition(namespace, name, "True", "Synced", timeout=timeout, context=context)

    def wait_gone(
        self, namespace: str, name: str, *, timeout: float = TIMEOUT, context: Callable[[], str] | None = None
    ) -> None:
        what = f"{namespace}/{name} to be gone"
        wait_for(lambda: self.gone(namespace, name), what, timeout=timeout, context=context or self.context)

    def wait_event(
        self,
        namespace: str,
        name: str,
        reason: str,
        type_: str,
        *,
        timeout: float = TIMEOUT,
        context: Callable[[], str] | None = None,
    ) -> list[Any]:
        return wait_for(
            lambda: self.events(namespace, name, reason=reason, type_=type_),
            f"a {type_} event {reason} on {namespace}/{name}",
            timeout=timeout,
            context=context or self.context,
        )


# -- AWS -----------------------------------------------------------------------------------------------------


class Aws(AwsReader):
    """boto3 straight to moto in one region: what AWS really holds. ``cluster_id`` names the owner tags' cluster."""

    def __init__(self, endpoint_url: str, region: str = REGION, cluster_id: str | None = None) -> None:
        kwargs: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        super().__init__(boto3.client("ecr", **kwargs), boto3.client("kms", **kwargs))
        self.region = region
        self.cluster_id = cluster_id

    @classmethod
    def assuming(cls, endpoint_url: str, role_arn: str, region: str = REGION, cluster_id: str | None = None) -> Aws:
        """What AWS holds in the role's account: ECR and KMS clients with credentials assumed straight from moto."""
        sts = boto3.client(
            "sts",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="test")["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )
        aws = cls(endpoint_url, region, cluster_id)
        aws.ecr = session.client("ecr", endpoint_url=endpoint_url)
        aws.kms = session.client("kms", endpoint_url=endpoint_url)
        return aws

    def snapshot(self, name: str) -> dict[str, Any]:
        """Everything the operator could change on a repository: settings, tags, lifecycle and repository policy."""
        repository = self.repository(name)
        assert repository is not None, f"repository {name} does not exist"
        return {
            "imageTagMutability": repository["imageTagMutability"],
            "scanOnPush": repository["imageScanningConfiguration"]["scanOnPush"],
            "encryption": repository["encryptionConfiguration"],
            "tags": self.repository_tags(name),
            "lifecycle": self.lifecycle(name),
            "policy": self.policy(name),
        }

    def images(self, name: str) -> list[dict[str, Any]]:
        ids: list[dict[str, Any]] = self.ecr.list_images(repositoryName=name)["imageIds"]
        return ids

    def put_image(self, name: str, tag: str = "v1") -> str:
        """Push a minimal image manifest (no blobs: moto does not check them); returns its digest."""
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
        """The key id behind the operator's alias for ``repository_name``."""
        return self.alias_target_of(key_alias_for(repository_name))

    # -- what one resource owns

    def owned_keys(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Every KMS key (any state) whose ownership tags name ``namespace/name`` in ``cluster_id``."""
        assert self.cluster_id is not None, "Aws(cluster_id=...) is needed to find owned keys"
        wanted = {CLUSTER_TAG: self.cluster_id, NAMESPACE_TAG: namespace, NAME_TAG: name}
        keys = []
        for key_id in sorted(self.key_ids()):
            tags = self.key_tags(key_id)
            if all(tags.get(k) == v for k, v in wanted.items()):
                keys.append(self.key(key_id))
        return keys

    def live_keys(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Owned keys that are not scheduled for deletion."""
        return [k for k in self.owned_keys(namespace, name) if k["KeyState"] != "PendingDeletion"]

    def assert_converged(self, namespace: str, name: str, repository_name: str) -> dict[str, Any]:
        """Exactly one live key for the owner, aliased, used by the one repository; returns the repository."""
        keys = self.live_keys(namespace, name)
        assert len(keys) == 1, f"expected one live key for {namespace}/{name}, found {keys}"
        [key] = keys
        assert key["KeyState"] == "Enabled", key
        assert self.alias_target(repository_name) == key["KeyId"], "the alias does not point at the live key"
        repository = self.repository(repository_name)
        assert repository is not None, f"repository {repository_name} is missing"
        assert repository["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key["Arn"]}
        tags = self.repository_tags(repository_name)
        assert tags.get(CLUSTER_TAG) == self.cluster_id and tags.get(NAME_TAG) == name, tags
        return repository

    def assert_deleted(self, namespace: str, name: str, repository_name: str) -> None:
        """No repository, no alias, and every key of the owner pending deletion."""
        assert self.repository(repository_name) is None, f"repository {repository_name} still exists"
        assert self.alias_target(repository_name) is None, "the alias still exists"
        states = [k["KeyState"] for k in self.owned_keys(namespace, name)]
        assert states and all(s == "PendingDeletion" for s in states), f"owned keys in states {states}"


# -- the operator --------------------------------------------------------------------------------------------

_NOT_INHERITED = ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


class Operator(OperatorProcess):
    """``ecr-operator run <args> --liveness ...``; :meth:`start` returns once the liveness endpoint answers.

    Nothing that changes the operator's settings comes from the caller's environment: no AWS profile or shared
    config, no ``ECR_OPERATOR_*`` variable other than those in ``extra_env``.
    """

    def __init__(
        self,
        *,
        kubeconfig: Path,
        aws_env: Mapping[str, str],
        log_path: Path,
        args: Sequence[str],
        extra_env: Mapping[str, str] | None = None,
        ready_timeout: float = 60.0,
    ) -> None:
        self.health_url = f"http://127.0.0.1:{free_port()}/healthz"
        self.ready_timeout = ready_timeout
        extra = {"PYTHONUNBUFFERED": "1", **(extra_env or {})}
        super().__init__(
            kubeconfig=kubeconfig,
            aws_env=aws_env,
            log_path=log_path,
            args=[*args, "--liveness", self.health_url],
            extra_env=extra,
        )
        for key in list(self.env):
            if key in _NOT_INHERITED or (key.startswith("ECR_OPERATOR_") and key not in extra):
                del self.env[key]

    def start(self) -> None:
        if self.running:
            return
        super().start()
        try:
            wait_for(self._healthy, "the liveness endpoint", timeout=self.ready_timeout, context=self.log_tail)
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        if not self.running:  # not an AssertionError: fail at once
            raise ProcessExitedError(f"the operator exited:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")


def forbidden_lines(log: str) -> list[str]:
    """The log lines that say a request of the operator was refused (403)."""
    return [line for line in log.splitlines() if any(marker in line for marker in FORBIDDEN_MARKERS)]


def operator_process(
    *,
    kubeconfig: Path,
    aws_env: Mapping[str, str],
    log_path: Path,
    cluster_id: str,
    region: str = REGION,
    resync_seconds: float = 600,
    workers: int | None = 4,
    extra_args: Sequence[str] = (),
) -> Operator:
    """An operator for a private cluster with explicit settings (required tags: :data:`TAGS`); not started.

    ``workers=None`` keeps the operator's default ``--workers``.
    """
    args = [
        "--cluster-id",
        cluster_id,
        "--region",
        region,
        "--required-tags",
        REQUIRED_TAGS,
        "--resync-interval",
        str(resync_seconds),
        *(["--workers", str(workers)] if workers is not None else []),
        "--log-format",
        "full",
        *extra_args,
    ]
    return Operator(kubeconfig=kubeconfig, aws_env=aws_env, log_path=log_path, args=args)


# -- a private control plane ---------------------------------------------------------------------------------


class Cluster(Kube):
    """An admin view of a private control plane, with kubectl."""

    def __init__(
        self, controlplane: LocalControlPlane, binaries: ControlPlaneBinaries, api: kubernetes.client.ApiClient
    ) -> None:
        super().__init__(api)
        self.controlplane = controlplane
        self.binaries = binaries

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
                    wait_established(self.api, document["metadata"]["name"])
            self.kubectl("apply", "-f", str(path))
        elif "error" in first.lower():
            raise AssertionError(f"kubectl apply -f {path} failed:\n{first}")


@contextmanager
def private_cluster(binaries: ControlPlaneBinaries, workdir: Path) -> Iterator[Cluster]:
    """A fresh kube-apiserver + etcd (a few seconds) with the CRDs installed and Established."""
    with LocalControlPlane(binaries, workdir) as controlplane, controlplane.api_client() as api:
        install_crds(api)
        yield Cluster(controlplane, binaries, api)


# -- one operator behind a proxy on the session control plane ------------------------------------------------


class Harness(Kube):
    """The operator of :func:`operator_harness`, its proxy, and moto's view of its region."""

    def __init__(
        self,
        controlplane: LocalControlPlane,
        api: kubernetes.client.ApiClient,
        proxy: AwsProxy,
        operator: Operator,
        aws: Aws,
        namespace_prefix: str,
    ) -> None:
        super().__init__(api, namespace_prefix=namespace_prefix)
        self.controlplane = controlplane
        self.proxy = proxy
        self.operator = operator
        self.aws = aws

    def context(self) -> str:
        calls = [
            f"{c.service}:{c.operation}={c.status}{'/' + c.injected if c.injected else ''}" for c in self.proxy.calls()
        ]
        log = self.operator.log_tail(8000)
        return f"--- last AWS calls ---\n{' '.join(calls[-40:])}\n--- operator log tail ---\n{log}"


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


def proxied_operator(
    kubeconfig: Path,
    moto: MotoServer,
    proxy: AwsProxy,
    log_path: Path,
    *,
    prefix: str,
    region: str,
    args: Sequence[str] = (),
    cluster_id: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Operator:
    """An operator on the session control plane watching only ``<prefix>-*`` namespaces (cluster id: ``prefix``
    unless given), its AWS calls through ``proxy`` in front of ``moto``, 4 workers, plain logs; not started."""
    return Operator(
        kubeconfig=kubeconfig,
        aws_env={**moto.aws_environment(region), "AWS_ENDPOINT_URL": proxy.endpoint_url},
        log_path=log_path,
        args=[
            "--namespace",
            f"{prefix}-*",
            "--cluster-id",
            cluster_id or prefix,
            "--region",
            region,
            "--log-format",
            "plain",
            "--workers",
            "4",
            *args,
        ],
        extra_env=extra_env,
    )


@contextmanager
def operator_harness(
    controlplane: LocalControlPlane,
    api: kubernetes.client.ApiClient,
    moto: MotoServer,
    workdir: Path,
    *,
    region: str,
    resync_seconds: float = 5.0,
    extra_args: Sequence[str] = (),
) -> Iterator[Harness]:
    """CRDs installed, a proxy in front of moto, one operator watching ``<prefix>-*`` namespaces."""
    install_crds(api)
    cluster_id = unique("hard")
    prefix = unique("hard")
    with AwsProxy(upstream=moto.endpoint_url) as proxy:
        operator = proxied_operator(
            controlplane.kubeconfig,
            moto,
            proxy,
            workdir / "ecr-operator.log",
            prefix=prefix,
            cluster_id=cluster_id,
            region=region,
            args=["--resync-interval", str(resync_seconds), "--required-tags", "", *extra_args],
        )
        operator.start()
        try:
            yield Harness(controlplane, api, proxy, operator, Aws(moto.endpoint_url, region, cluster_id), prefix)
        finally:
            operator.stop()


def harness_fixture(region: str, resync_seconds: float = 5.0, extra_args: Sequence[str] = ()) -> Any:
    """A module-scoped ``harness`` fixture: ``harness = harness_fixture(REGION)`` in the test module."""

    @pytest.fixture(scope="module", name="harness")
    def harness(
        controlplane: LocalControlPlane,
        k8s_api: kubernetes.client.ApiClient,
        moto_server: MotoServer,
        tmp_path_factory: pytest.TempPathFactory,
        request: pytest.FixtureRequest,
    ) -> Iterator[Harness]:
        workdir = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
        with operator_harness(
            controlplane,
            k8s_api,
            moto_server,
            workdir,
            region=region,
            resync_seconds=resync_seconds,
            extra_args=extra_args,
        ) as env:
            yield env

    return harness


# -- cluster-scoped EcrRegistry objects ----------------------------------------------------------------------

REGISTRY_PLURAL = "ecrregistries"
CLUSTER_EVENTS_NAMESPACE = "default"
"""Where Events about cluster-scoped objects live."""


def registry_object(name: str, spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrRegistry",
        "metadata": {"name": name, "annotations": dict(annotations or {})},
        "spec": dict(spec),
    }


class Registries:
    """EcrRegistry objects (cluster-scoped) through an admin API client; ``context`` shows on a failed wait."""

    def __init__(self, api: kubernetes.client.ApiClient, context: Callable[[], str] = lambda: "") -> None:
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.core = kubernetes.client.CoreV1Api(api)
        self.context = context

    def create(
        self,
        name: str,
        spec: Mapping[str, Any],
        *,
        annotations: Mapping[str, str] | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        if strict:
            kwargs["field_validation"] = "Strict"
        body = registry_object(name, spec, annotations)
        created: dict[str, Any] = self.custom.create_cluster_custom_object(
            GROUP, VERSION, REGISTRY_PLURAL, body, **kwargs
        )
        return created

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.custom.get_cluster_custom_object(GROUP, VERSION, REGISTRY_PLURAL, name)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def must_get(self, name: str) -> dict[str, Any]:
        obj = self.get(name)
        assert obj is not None, f"EcrRegistry {name} does not exist"
        return obj

    def patch(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (``None`` removes a key)."""
        patched: dict[str, Any] = self.custom.patch_cluster_custom_object(
            GROUP, VERSION, REGISTRY_PLURAL, name, dict(body)
        )
        return patched

    def delete(self, name: str) -> None:
        self.custom.delete_cluster_custom_object(GROUP, VERSION, REGISTRY_PLURAL, name)

    def condition(self, name: str, type_: str) -> dict[str, Any]:
        conditions = (self.must_get(name).get("status") or {}).get("conditions") or []
        return next((dict(c) for c in conditions if c.get("type") == type_), {})

    def wait_condition(self, name: str, status: str, reason: str, *, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Ready is ``status``/``reason`` for the object's current generation."""

        def check() -> dict[str, Any]:
            obj = self.must_get(name)
            generation = obj["metadata"]["generation"]
            condition = ready_condition(obj)
            observed = (obj.get("status") or {}).get("observedGeneration")
            assert (
                observed == generation
                and condition.get("observedGeneration") == generation
                and condition.get("status") == status
                and condition.get("reason") == reason
            ), f"generation {generation}, status.observedGeneration {observed}, Ready {condition}"
            return obj

        return wait_for(check, f"EcrRegistry {name} Ready={status} {reason}", timeout=timeout, context=self.context)

    def wait_ready(self, name: str, *, timeout: float = TIMEOUT) -> dict[str, Any]:
        return self.wait_condition(name, "True", "Synced", timeout=timeout)

    def wait_gone(self, name: str, *, timeout: float = TIMEOUT) -> None:
        wait_for(
            lambda: self.get(name) is None, f"EcrRegistry {name} to be gone", timeout=timeout, context=self.context
        )

    def events(self, name: str, *, reason: str | None = None) -> list[Any]:
        items = self.core.list_namespaced_event(
            CLUSTER_EVENTS_NAMESPACE, field_selector=f"involvedObject.name={name}"
        ).items
        return [e for e in items if reason is None or e.reason == reason]

    def wait_event(self, name: str, reason: str, *, timeout: float = TIMEOUT) -> list[Any]:
        return wait_for(
            lambda: self.events(name, reason=reason),
            f"an event {reason} on EcrRegistry {name}",
            timeout=timeout,
            context=self.context,
        )


class Registry:
    """moto's registry-level settings in one region (straight to moto)."""

    def __init__(self, aws: Aws) -> None:
        self.ecr = aws.ecr

    def replication(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = self.ecr.describe_registry()["replicationConfiguration"]["rules"]
        return rules

    def scanning(self) -> dict[str, Any]:
        configuration: dict[str, Any] = self.ecr.get_registry_scanning_configuration()["scanningConfiguration"]
        return configuration

    def policy(self) -> dict[str, Any] | None:
        try:
            text = self.ecr.get_registry_policy()["policyText"]
        except self.ecr.exceptions.RegistryPolicyNotFoundException:
            return None
        document: dict[str, Any] = json.loads(text)
        return document


@dataclass
class RegistryEnv:
    """A private control plane with one operator process for EcrRegistry modules, and the moto it talks to."""

    cluster: Cluster
    operator: Operator
    registries: Registries
    moto: MotoServer


E = TypeVar("E", bound=RegistryEnv)


@contextmanager
def registry_env(
    env_type: type[E], binaries: ControlPlaneBinaries, moto: MotoServer, workdir: Path, *, name: str, region: str
) -> Iterator[E]:
    """``env_type`` (a :class:`RegistryEnv`) over a fresh private cluster and a running operator (resync 3 s)."""
    with private_cluster(binaries, workdir / "controlplane") as cluster:
        operator = operator_process(
            kubeconfig=cluster.controlplane.kubeconfig,
            aws_env=moto.aws_environment(region),
            log_path=workdir / "operator.log",
            cluster_id=unique(name),
            region=region,
            resync_seconds=3,
        )
        with operator:
            yield env_type(cluster, operator, Registries(cluster.api, lambda: operator.log_tail(12000)), moto)
