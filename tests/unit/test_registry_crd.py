"""crds/ecrregistry.yaml is the generated EcrRegistry CRD, and `ecr-operator crd` prints it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ecr_operator.cli.main import main
from ecr_operator.core.crd import build_crd, render_crd_yaml
from ecr_operator.registry.crd import CRD

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_checked_in_crd_is_the_generated_one() -> None:
    assert (REPO_ROOT / "crds" / "ecrregistry.yaml").read_text() == render_crd_yaml(CRD), (
        "crds/ecrregistry.yaml drifted: ecr-operator crd --kind EcrRegistry > crds/ecrregistry.yaml; hack/sync-crds.sh"
    )


def test_cluster_scoped_with_status_and_the_limits_of_ecr() -> None:
    crd = build_crd(CRD)
    assert crd["spec"]["scope"] == "Cluster"
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = spec["properties"]["replication"]["properties"]["rules"]
    assert rules["maxItems"] == 10
    assert rules["items"]["properties"]["destinations"]["maxItems"] == 25
    assert rules["items"]["properties"]["repositoryFilters"]["maxItems"] == 100
    assert spec["properties"]["deletionPolicy"]["default"] == "Retain"


@pytest.mark.parametrize(
    ("kind", "names"), [("EcrRegistry", ["EcrRegistry"]), ("all", ["EcrRepository", "EcrRegistry"])]
)
def test_the_crd_command_prints_the_chosen_kinds(
    kind: str, names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["crd", "--kind", kind]) == 0
    documents = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert [d["spec"]["names"]["kind"] for d in documents] == names
