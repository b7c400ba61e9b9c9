"""The install trees carry the same CRDs as crds/ (the generated source): kustomize and Helm need copies."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

COPIES = [
    (REPO_ROOT / "crds" / "ecrrepository.yaml", REPO_ROOT / "deploy" / "crds" / "ecrrepository.yaml"),
    (REPO_ROOT / "crds" / "ecrrepository.yaml", REPO_ROOT / "charts" / "ecr-operator" / "crds" / "ecrrepository.yaml"),
    (REPO_ROOT / "crds" / "ecrregistry.yaml", REPO_ROOT / "deploy" / "crds" / "ecrregistry.yaml"),
    (REPO_ROOT / "crds" / "ecrregistry.yaml", REPO_ROOT / "charts" / "ecr-operator" / "crds" / "ecrregistry.yaml"),
    (
        REPO_ROOT / "deploy" / "crds" / "kopf-peerings.yaml",
        REPO_ROOT / "charts" / "ecr-operator" / "crds" / "kopf-peerings.yaml",
    ),
]


@pytest.mark.parametrize(("source", "copy"), COPIES, ids=[str(c.relative_to(REPO_ROOT)) for _, c in COPIES])
def test_crd_copies_are_identical(source: Path, copy: Path) -> None:
    assert copy.read_bytes() == source.read_bytes(), f"{copy} differs from {source}: run hack/sync-crds.sh"


def test_the_chart_ships_every_crd_of_the_kustomize_tree() -> None:
    kustomize = {p.name for p in (REPO_ROOT / "deploy" / "crds").glob("*.yaml") if p.name != "kustomization.yaml"}
    chart = {p.name for p in (REPO_ROOT / "charts" / "ecr-operator" / "crds").glob("*.yaml")}
    assert chart == kustomize
