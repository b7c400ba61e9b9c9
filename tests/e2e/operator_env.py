"""The session operator: one ``ecr-operator run`` against the session control plane, and a namespace per test.

``tests/e2e/conftest.py`` registers the fixtures once for every module (so there is one session operator):

``operator_env`` (session): the CRDs installed and Established, a moto server of its own (so that the
harness tests' ``reset()`` cannot wipe the operator's AWS state), boto3 clients and one
``ecr-operator run --namespace 'ecrop-*' --resync-interval 3 --cluster-id e2e`` process that tests may kill
and restart. It watches only ``ecrop-*`` namespaces, so operators of other e2e modules never race it, and it
serves no EcrRegistry (``--no-registries``): those are cluster-scoped, so it would race (with a moto of its own)
every module that creates them on the session control plane -- a delete resumed there after a kill found nothing
in its moto and let the object go with the module's rules and templates left behind.

``ns`` (function): a fresh namespace with the :class:`support.Kube` calls bound to it (create / patch / delete /
wait for ``EcrRepository`` objects). The operator's log lines written during the test are printed in the
teardown, so pytest shows them for a failed test only."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import kubernetes
import pytest
import yaml
from support import REGION, REPO_ROOT, Aws, Kube, Operator, install_crds

from ecr_operator_dev import LocalControlPlane, MotoServer

SEED_EXAMPLE = REPO_ROOT / "examples" / "my-application.yaml"
CLUSTER_ID = "e2e"
RESYNC_SECONDS = 3
ACCOUNT = "123456789012"  # moto's account
PULL_ACTIONS = {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
READ_OPERATIONS = ("Describe", "Get", "List", "BatchGet", "BatchCheck")

DEFAULT_TIMEOUT = 45.0
# The operator watches only these namespaces: other e2e modules run operators of their own on the same API server.
NAMESPACE_PREFIX = "ecrop"


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
    operator: Operator
    aws: Aws
    recorder: MotoRecorder
    kube: Kube = field(init=False)
    custom: kubernetes.client.CustomObjectsApi = field(init=False)
    core: kubernetes.client.CoreV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.kube = Kube(self.api, namespace_prefix=NAMESPACE_PREFIX)
        self.kube.log_context = self.operator.log_tail
        self.custom = self.kube.custom
        self.core = self.kube.core


@pytest.fixture(scope="session", name="operator_env")
def operator_env_fixture(
    controlplane: LocalControlPlane,
    k8s_api: kubernetes.client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorEnv]:
    install_crds(k8s_api)
    workdir = tmp_path_factory.mktemp("ecr-operator")
    with MotoServer(workdir / "moto") as moto:
        operator = Operator(
            kubeconfig=controlplane.kubeconfig,
            aws_env=moto.aws_environment(REGION),
            log_path=workdir / "ecr-operator.log",
            args=[
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
                "--no-registries",
            ],
            ready_timeout=30,
        )
        operator.start()
        try:
            yield OperatorEnv(
                controlplane,
                k8s_api,
                moto,
                operator,
                Aws(moto.endpoint_url, REGION, CLUSTER_ID),
                MotoRecorder(moto.endpoint_url),
            )
        finally:
            operator.stop()


# -- one namespace per test ----------------------------------------------------------------------------------


@dataclass
class Namespace:
    """The :class:`~support.Kube` calls for one namespace (waits default to ``DEFAULT_TIMEOUT``)."""

    env: OperatorEnv
    name: str

    ready_condition = staticmethod(Kube.ready_condition)

    def context(self) -> str:
        return self.env.kube.context()

    def create(self, name: str, spec: dict[str, Any], *, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        return self.env.kube.create(self.name, name, spec, annotations=annotations)

    def get(self, name: str) -> dict[str, Any] | None:
        return self.env.kube.get(self.name, name)

    def must_get(self, name: str) -> dict[str, Any]:
        return self.env.kube.must_get(self.name, name)

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.env.kube.patch(self.name, name, body)

    def patch_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return self.env.kube.patch_status(self.name, name, status)

    def patch_spec(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the spec (``None`` removes a key); returns the patched object."""
        return self.env.kube.patch_spec(self.name, name, spec)

    def delete(self, name: str) -> None:
        self.env.kube.delete(self.name, name)

    def events(self, name: str, *, reason: str | None = None, type_: str | None = None) -> list[Any]:
        return self.env.kube.events(self.name, name, reason=reason, type_=type_)

    def wait_condition(
        self, name: str, status: str, reason: str, *, generation: int | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """Wait until Ready has ``status``/``reason`` for ``generation`` (default: the current one)."""
        return self.env.kube.wait_condition(self.name, name, status, reason, generation=generation, timeout=timeout)

    def wait_ready(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return self.env.kube.wait_ready(self.name, name, timeout=timeout)

    def wait_gone(self, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.env.kube.wait_gone(self.name, name, timeout=timeout)

    def wait_event(self, name: str, reason: str, type_: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[Any]:
        return self.env.kube.wait_event(self.name, name, reason, type_, timeout=timeout)


def seed_spec(repository_name: str) -> dict[str, Any]:
    """The seed example's spec with a unique repository name."""
    manifest = yaml.safe_load(SEED_EXAMPLE.read_text())
    spec: dict[str, Any] = manifest["spec"]
    spec["repositoryName"] = repository_name
    return spec


@pytest.fixture(name="ns")
def ns_fixture(operator_env: OperatorEnv) -> Iterator[Namespace]:
    operator_env.operator.start()  # unless running
    name = operator_env.kube.namespace()
    offset = operator_env.operator.log_size()
    try:
        yield Namespace(operator_env, name)
    finally:
        # Shown by pytest for a failing test only ("Captured stdout teardown").
        print(f"--- operator log during the test (namespace {name}), {operator_env.operator.log_path} ---")
        print(operator_env.operator.log_since(offset))
        operator_env.operator.start()
