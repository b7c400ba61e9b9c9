"""Helpers for the install-tree tests (test_packaging, test_chart, test_install): running kubectl and helm,
rendering the kustomize trees and the chart, and comparing what they render.

helm comes from ``hack/helm/build.sh`` (built on first use, cached per version like the control plane).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from support import DEPLOY, REPO_ROOT, wait_established

from ecr_operator_dev import ControlPlaneBinaries, LocalControlPlane

CHART = REPO_ROOT / "charts" / "ecr-operator"
NAMESPACE = "ecr-operator"
SERVICE_ACCOUNT = f"system:serviceaccount:{NAMESPACE}:ecr-operator"
# The API and kopf's peering CRDs: their own kustomizations, applied before any overlay.
API_TREES = (DEPLOY / "crds", DEPLOY / "kopf-peering")
# kustomize appends a hash of the content to generated ConfigMap names (and rewrites the references).
GENERATED_SUFFIX = re.compile(r"^(ecr-operator-settings)-[a-z0-9]{10}$")


def run(*argv: str | Path, env: Mapping[str, str] | None = None, timeout: float = 120, input: str | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env) if env else None,
        input=input,
    )
    assert result.returncode == 0, f"{' '.join(map(str, argv))} failed ({result.returncode}):\n{result.stderr}"
    return result.stdout


def refused(*argv: str | Path) -> str:
    """The error output of a command that must fail."""
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0, f"{' '.join(map(str, argv))} succeeded:\n{result.stdout}"
    return result.stderr


def built_tool(name: str) -> Path:
    """hack/<name>/build.sh: built on first use, cached per version; its last line is the binary's path."""
    try:
        out = run(REPO_ROOT / "hack" / name / "build.sh", timeout=1800)
    except AssertionError as exc:
        pytest.fail(f"cannot build {name}:\n{exc}", pytrace=False)
    return Path(out.strip().splitlines()[-1])


@pytest.fixture(scope="module", name="helm")
def helm_fixture() -> Path:
    return built_tool("helm")


@pytest.fixture(scope="module", name="kubectl")
def kubectl_fixture(controlplane_binaries: ControlPlaneBinaries) -> Path:
    assert controlplane_binaries.kubectl is not None, "the control plane build has no kubectl"
    return controlplane_binaries.kubectl


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def kustomize(kubectl: Path, path: Path) -> list[dict[str, Any]]:
    return documents(run(kubectl, "kustomize", path))


def kustomize_install(kubectl: Path, overlay: Path) -> list[dict[str, Any]]:
    """Everything a kustomize install applies: the API trees, then the overlay."""
    return [obj for tree in (*API_TREES, overlay) for obj in kustomize(kubectl, tree)]


def helm_template(
    helm: Path, *values: str, release: str = "ecr-operator", namespace: str = NAMESPACE, json_values: bool = False
) -> list[dict[str, Any]]:
    """``helm template --include-crds`` with ``--set`` (or ``--set-json``) values."""
    flag = "--set-json" if json_values else "--set"
    sets = [arg for value in values for arg in (flag, value)]
    return documents(run(helm, "template", release, CHART, "--namespace", namespace, "--include-crds", *sets))


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    keyed = {}
    for obj in objects:
        name = GENERATED_SUFFIX.sub(r"\1", obj["metadata"]["name"])
        keyed[obj["kind"], name] = obj
    return keyed


@pytest.fixture(name="fresh_cluster")
def fresh_cluster_fixture(controlplane_binaries: ControlPlaneBinaries, tmp_path: Path) -> Iterator[LocalControlPlane]:
    """A kube-apiserver + etcd with nothing installed (no CRDs, unlike ``private_cluster``)."""
    with LocalControlPlane(controlplane_binaries, tmp_path / "controlplane") as controlplane:
        yield controlplane


def apply_api(controlplane: LocalControlPlane, kubectl: Path) -> list[str]:
    """The documented first step: ``kubectl apply --server-side -k`` of deploy/crds and deploy/kopf-peering, until
    every CRD is Established; returns the CRDs' names."""
    names = []
    for tree in API_TREES:
        out = run(kubectl, f"--kubeconfig={controlplane.kubeconfig}", "apply", "--server-side", "-k", tree)
        rendered = kustomize(kubectl, tree)
        assert len(re.findall(r"serverside-applied", out)) == len(rendered), out
        names += [o["metadata"]["name"] for o in rendered if o["kind"] == "CustomResourceDefinition"]
    with controlplane.api_client() as api:
        for name in names:
            wait_established(api, name)
    return names


def crd_names(controlplane: LocalControlPlane) -> set[str]:
    with controlplane.api_client() as api:
        listed = kubernetes.client.ApiextensionsV1Api(api).list_custom_resource_definition()
        return {crd.metadata.name for crd in listed.items}


def can_i(kubectl: Path, controlplane: LocalControlPlane, user: str, verb: str, resource: str, *extra: str) -> bool:
    """``kubectl auth can-i`` as ``user`` (impersonated by the admin)."""
    argv = [str(kubectl), f"--kubeconfig={controlplane.kubeconfig}", "auth", "can-i", verb, resource, f"--as={user}"]
    result = subprocess.run(
        [*argv, *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    answer = result.stdout.split()
    assert answer and answer[0] in ("yes", "no"), result.stderr
    return answer[0] == "yes"
