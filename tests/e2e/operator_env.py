"""The real operator as a subprocess against the local control plane and a moto server, plus helpers.

Import the fixtures into a test module::

    from operator_env import ns_fixture, operator_env_fixture  # noqa: F401

``operator_env`` (session): the CRDs applied and Established, a moto server of its own (so that the
harness tests' ``reset()`` cannot wipe the operator's AWS state), boto3 clients and one
``ecr-operator run --namespace 'ecrop-*' --resync-interval 3 --cluster-id e2e`` process that tests may kill
and restart. It watches only ``ecrop-*`` namespaces, so operators of other e2e modules never race it.

``ns`` (function): a fresh namespace with helpers to create / patch / delete / wait for
``EcrRepository`` objects in it. The operator's log lines written during the test are printed in the
teardown, so pytest shows them for a failed test only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
import kubernetes
import pytest
import yaml

from ecr_operator.devenv import LocalControlPlane, MotoServer
from ecr_operator.devenv._process import ManagedProcess, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"
SEED_EXAMPLE = REPO_ROOT / "examples" / "my-application.yaml"

GROUP = "ecr.platform.dev"
VERSION = "v1alpha1"
PLURAL = "ecrrepositories"
REGION = "ap-northeast-2"
CLUSTER_ID = "e2e"
RESYNC_SECONDS = 3
ACCOUNT = "123456789012"  # moto's account
OWNER_TAGS = ("ecr.platform.dev/cluster", "ecr.platform.dev/namespace", "ecr.platform.dev/name")
PULL_ACTIONS = {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
READ_OPERATIONS = ("Describe", "Get", "List", "BatchGet", "BatchCheck")

DEFAULT_TIMEOUT = 45.0
# The operator watches only these namespaces: other e2e modules run operators of their own on the same API server.
NAMESPACE_PREFIX = "ecrop"
T = TypeVar("T")


def unique(prefix: str) -> str:
    # Namespaces never finish deleting here (no namespace controller): never reuse a name.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(
    check: Callable[[], T | None],
    what: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.25,
    context: Callable[[], str] | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy; fail with the last value (and context) otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError as exc:  # a check may assert to explain what is still missing
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            extra = f"\n{context()}" if context is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}{extra}")
        time.sleep(interval)


# -- the operator process ------------------------------------------------------------------------------------


class OperatorProcess:
    """``ecr-operator run`` as a child process; its output is appended to ``log_path``."""

    def __init__(self, kubeconfig: Path, aws_env: dict[str, str], workdir: Path) -> None:
        self.log_path = workdir / "ecr-operator.log"
        self.workdir = workdir
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), **aws_env, "PYTHONUNBUFFERED": "1"}
        for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "ECR_OPERATOR_REQUIRED_TAGS"):
            self.env.pop(key, None)
        self.health_port = free_port()
        self._process: ManagedProcess | None = None

    @property
    def argv(self) -> list[str]:
        script = shutil.which("ecr-operator", path=str(Path(sys.executable).parent))
        command = [script] if script else [sys.executable, "-m", "ecr_operator.cli"]
        return [
            *command,
            "run",
            "--namespace",
            f"{NAMESPACE_PREFIX}-*",
            "--resync-interval",
            str(RESYNC_SECONDS),
            "--cluster-id",
            CLUSTER_ID,
            "--region",
            REGION,
            "--log-format",
            "full",
            "--workers",
            "4",
            "--liveness",
            f"http://127.0.0.1:{self.health_port}/healthz",
        ]

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_since(0).splitlines()
        state = "running" if self.running else "NOT running"
        return f"--- operator ({state}) log tail, {self.log_path} ---\n" + "\n".join(text[-lines:])

    def start(self, *, wait: bool = True) -> None:
        assert not self.running, "the operator is already running"
        self._process = ManagedProcess("ecr-operator", self.argv, self.log_path, env=self.env, cwd=self.workdir)
        self._process.start()
        if wait:
            self.wait_started()

    def wait_started(self, timeout: float = 30.0) -> None:
        def healthy() -> bool:
            assert self._process is not None
            self._process.check_running()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False

        wait_for(healthy, "the operator's liveness endpoint", timeout=timeout, context=self.log_tail)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finalizer handling, exactly like an OOM kill or a node loss."""
        if self._process is None or self._process.pid is None:
            return
        if self._process.running:
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.stop(timeout=10)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop(timeout=10)

    def ensure_running(self) -> None:
        if not self.running:
            self.start()


# -- AWS helpers ---------------------------------------------------------------------------------------------


class Aws:
    """boto3 clients against the moto server, and the reads the tests check."""

    def __init__(self, endpoint_url: str) -> None:
        kwargs: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.ecr = boto3.client("ecr", **kwargs)
        self.kms = boto3.client("kms", **kwargs)

    def repository(self, name: str) -> dict[str, Any] | None:
        try:
            repositories = self.ecr.describe_repositories(repositoryNames=[name])["repositories"]
        except self.ecr.exceptions.RepositoryNotFoundException:
            return None
        return repositories[0] if repositories else None

    def repository_tags(self, name: str) -> dict[str, str]:
        repository = self.repository(name)
        assert repository is not None, f"repository {name} does not exist"
        tags = self.ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
        return {t["Key"]: t["Value"] for t in tags}

    def lifecycle(self, name: str) -> dict[str, Any] | None:
        try:
            text = self.ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]
        except self.ecr.exceptions.LifecyclePolicyNotFoundException:
            return None
        document: dict[str, Any] = json.loads(text)
        return document

    def policy(self, name: str) -> dict[str, Any] | None:
        try:
            text = self.ecr.get_repository_policy(repositoryName=name)["policyText"]
        except self.ecr.exceptions.RepositoryPolicyNotFoundException:
            return None
        document: dict[str, Any] = json.loads(text)
        return document

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
        tags = self.kms.list_resource_tags(KeyId=key_id)["Tags"]
        return {t["TagKey"]: t["TagValue"] for t in tags}

    def rotation(self, key_id: str) -> bool:
        return bool(self.kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"])

    def key_ids(self) -> set[str]:
        ids: set[str] = set()
        for page in self.kms.get_paginator("list_keys").paginate():
            ids.update(k["KeyId"] for k in page["Keys"])
        return ids

    def owned_keys(self, namespace: str, name: str, *, include_pending: bool = True) -> list[dict[str, Any]]:
        """Every KMS key carrying the ownership tags of ``namespace/name`` in this cluster."""
        wanted = {OWNER_TAGS[0]: CLUSTER_ID, OWNER_TAGS[1]: namespace, OWNER_TAGS[2]: name}
        keys = []
        for key_id in sorted(self.key_ids()):
            tags = self.key_tags(key_id)
            if all(tags.get(k) == v for k, v in wanted.items()):
                metadata = self.key(key_id)
                if include_pending or metadata["KeyState"] != "PendingDeletion":
                    keys.append(metadata)
        return keys


class MotoRecorder:
    """moto's request recorder: which AWS API calls reached the server while it was on."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def _call(self, action: str) -> bytes:
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/recorder/{action}", method="POST", data=b"")
        if action == "download-recording":
            request = urllib.request.Request(f"{self.endpoint_url}/moto-api/recorder/{action}")
        with urllib.request.urlopen(request, timeout=30) as resp:
            body: bytes = resp.read()
            return body

    def start(self) -> None:
        self._call("reset-recording")
        self._call("start-recording")

    def stop(self) -> list[dict[str, Any]]:
        """Stop recording; returns the calls: ``operation`` (e.g. ``TrentService.EnableKeyRotation``), ``body``."""
        self._call("stop-recording")
        calls = []
        for line in self._call("download-recording").decode().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode(errors="replace")
            calls.append({"operation": headers.get("x-amz-target", ""), "body": body})
        return calls

    @staticmethod
    def writes(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [c for c in calls if not c["operation"].rsplit(".", 1)[-1].startswith(READ_OPERATIONS)]


# -- the session environment ---------------------------------------------------------------------------------


@dataclass
class OperatorEnv:
    controlplane: LocalControlPlane
    api: kubernetes.client.ApiClient
    moto: MotoServer
    operator: OperatorProcess
    aws: Aws
    recorder: MotoRecorder
    custom: kubernetes.client.CustomObjectsApi = field(init=False)
    core: kubernetes.client.CoreV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.custom = kubernetes.client.CustomObjectsApi(self.api)
        self.core = kubernetes.client.CoreV1Api(self.api)


def apply_crds(api: kubernetes.client.ApiClient, timeout: float = 30.0) -> list[str]:
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

    def established(name: str) -> bool:
        crd = extensions.read_custom_resource_definition(name)
        conditions = (crd.status.conditions if crd.status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    for name in names:
        wait_for(lambda name=name: established(name), f"CRD {name} to be Established", timeout=timeout)
    return names


_SESSION: dict[str, OperatorEnv] = {}


@pytest.fixture(scope="session", name="operator_env")
def operator_env_fixture(
    controlplane: LocalControlPlane,
    k8s_api: kubernetes.client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorEnv]:
    # Every test module imports this fixture, and pytest then holds one session fixture per module:
    # keep a single environment (one operator!) for the whole session, torn down by the first holder.
    if "env" in _SESSION:
        yield _SESSION["env"]
        return
    assert apply_crds(k8s_api), f"no CRDs in {CRD_DIR}"
    workdir = tmp_path_factory.mktemp("ecr-operator")
    with MotoServer(workdir / "moto") as moto:
        operator = OperatorProcess(controlplane.kubeconfig, moto.aws_environment(REGION), workdir)
        operator.start()
        try:
            _SESSION["env"] = OperatorEnv(
                controlplane, k8s_api, moto, operator, Aws(moto.endpoint_url), MotoRecorder(moto.endpoint_url)
            )
            yield _SESSION["env"]
        finally:
            operator.stop()
            _SESSION.clear()


# -- one namespace per test ----------------------------------------------------------------------------------


@dataclass
class Namespace:
    env: OperatorEnv
    name: str

    # objects

    def create(self, name: str, spec: dict[str, Any], *, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "EcrRepository",
            "metadata": {"name": name, "namespace": self.name, "annotations": annotations or {}},
            "spec": spec,
        }
        created: dict[str, Any] = self.env.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.name, PLURAL, body
        )
        return created

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.env.custom.get_namespaced_custom_object(GROUP, VERSION, self.name, PLURAL, name)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def must_get(self, name: str) -> dict[str, Any]:
        obj = self.get(name)
        assert obj is not None, f"{self.name}/{name} does not exist"
        return obj

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.env.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.name, PLURAL, name, body
        )
        return patched

    def patch_spec(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the spec (``None`` removes a key); returns the patched object."""
        return self.patch(name, {"spec": spec})

    def delete(self, name: str) -> None:
        self.env.custom.delete_namespaced_custom_object(GROUP, VERSION, self.name, PLURAL, name)

    # waits

    def context(self) -> str:
        return self.env.operator.log_tail()

    @staticmethod
    def ready_condition(obj: dict[str, Any]) -> dict[str, Any]:
        conditions = (obj.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c.get("type") == "Ready"), {})

    def wait_condition(
        self,
        name: str,
        status: str,
        reason: str,
        *,
        generation: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        """Wait until Ready has ``status``/``reason`` for ``generation`` (default: the current one)."""

        def check() -> dict[str, Any] | None:
            obj = self.must_get(name)
            wanted = generation if generation is not None else obj["metadata"]["generation"]
            condition = self.ready_condition(obj)
            observed = (obj.get("status") or {}).get("observedGeneration")
            if (
                observed == wanted
                and condition.get("observedGeneration") == wanted
                and condition.get("status") == status
                and condition.get("reason") == reason
            ):
                return obj
            raise AssertionError(f"generation {wanted}, status.observedGeneration {observed}, Ready {condition}")

        return wait_for(check, f"{self.name}/{name} Ready={status} {reason}", timeout=timeout, context=self.context)

    def wait_ready(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return self.wait_condition(name, "True", "Synced", timeout=timeout)

    def wait_gone(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        wait_for(
            lambda: self.get(name) is None, f"{self.name}/{name} to be gone", timeout=timeout, context=self.context
        )

    # events

    def events(self, name: str, *, reason: str | None = None, type_: str | None = None) -> list[Any]:
        items = self.env.core.list_namespaced_event(self.name, field_selector=f"involvedObject.name={name}").items
        return [e for e in items if (reason is None or e.reason == reason) and (type_ is None or e.type == type_)]

    def wait_event(self, name: str, reason: str, type_: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[Any]:
        return wait_for(
            lambda: self.events(name, reason=reason, type_=type_),
            f"a {type_} event {reason} on {self.name}/{name}",
            timeout=timeout,
            context=self.context,
        )


def seed_spec(repository_name: str) -> dict[str, Any]:
    """The seed example's spec with a unique repository name."""
    manifest = yaml.safe_load(SEED_EXAMPLE.read_text())
    spec: dict[str, Any] = manifest["spec"]
    spec["repositoryName"] = repository_name
    return spec


@pytest.fixture(name="ns")
def ns_fixture(operator_env: OperatorEnv) -> Iterator[Namespace]:
    operator_env.operator.ensure_running()
    name = unique(NAMESPACE_PREFIX)
    operator_env.core.create_namespace(
        kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name))
    )
    offset = operator_env.operator.log_size()
    try:
        yield Namespace(operator_env, name)
    finally:
        # Shown by pytest for a failing test only ("Captured stdout teardown").
        print(f"--- operator log during the test (namespace {name}), {operator_env.operator.log_path} ---")
        print(operator_env.operator.log_since(offset))
        operator_env.operator.ensure_running()
