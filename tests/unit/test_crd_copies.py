"""The install trees carry the CRDs of crds/ (the generated source), plus the annotations that keep the API
through any uninstall: kustomize and Helm need copies (hack/sync-crds.sh writes them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_CRDS = REPO_ROOT / "deploy" / "crds"
CHART_CRDS = REPO_ROOT / "charts" / "ecr-operator" / "crds"
KOPF_PEERINGS = REPO_ROOT / "deploy" / "kopf-peering" / "kopf-peerings.yaml"

KEEP = {
    # Argo CD: not pruned when gone from the source, not deleted with the Application.
    "argocd.argoproj.io/sync-options": "Prune=false,Delete=false",
    # Helm: never deletes crds/; this keeps them should they ever be rendered as templates.
    "helm.sh/resource-policy": "keep",
    # Flux's kustomize-controller: not garbage-collected.
    "kustomize.toolkit.fluxcd.io/prune": "disabled",
}

COPIES = [
    (REPO_ROOT / "crds" / name, tree / name)
    for name in ("ecrrepository.yaml", "ecrregistry.yaml")
    for tree in (DEPLOY_CRDS, CHART_CRDS)
]


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize(("source", "copy"), COPIES, ids=[str(c.relative_to(REPO_ROOT)) for _, c in COPIES])
def test_crd_copies_are_the_source_with_the_keep_annotations(source: Path, copy: Path) -> None:
    [generated] = _documents(source)
    [kept] = _documents(copy)
    assert kept["metadata"].pop("annotations") == KEEP, f"{copy}: run hack/sync-crds.sh"
    assert kept == generated, f"{copy} differs from {source}: run hack/sync-crds.sh"


def test_kopf_peering_crds_ship_on_their_own_and_in_the_chart() -> None:
    assert (CHART_CRDS / "kopf-peerings.yaml").read_bytes() == KOPF_PEERINGS.read_bytes(), "run hack/sync-crds.sh"
    crds = _documents(KOPF_PEERINGS)
    assert {c["metadata"]["name"] for c in crds} == {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}
    assert all(c["metadata"]["annotations"] == KEEP for c in crds)
    kustomization = yaml.safe_load((KOPF_PEERINGS.parent / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["kopf-peerings.yaml"]


def test_the_crds_are_their_own_kustomization_and_not_the_operators() -> None:
    crds = yaml.safe_load((DEPLOY_CRDS / "kustomization.yaml").read_text())
    assert sorted(crds["resources"]) == ["ecrregistry.yaml", "ecrrepository.yaml"]
    base = yaml.safe_load((REPO_ROOT / "deploy" / "base" / "kustomization.yaml").read_text())
    assert not [r for r in base["resources"] if "crd" in r or "kopf" in r], "deleting the operator deletes the API"


def test_the_chart_ships_every_crd_of_the_kustomize_trees() -> None:
    kustomize = {p.name for p in DEPLOY_CRDS.glob("*.yaml") if p.name != "kustomization.yaml"} | {KOPF_PEERINGS.name}
    chart = {p.name for p in CHART_CRDS.glob("*.yaml")}
    assert chart == kustomize
