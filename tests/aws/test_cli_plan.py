"""`ecr-operator plan manifest.yaml`: the dry-run plan from the command line, against moto, writing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_harness import Harness

from ecr_operator.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED = REPO_ROOT / "examples" / "my-application.yaml"


def test_plan_of_a_new_resource_lists_the_creates_and_writes_nothing(
    aws: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", str(SEED), "--region", "ap-northeast-2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "kms:create_key",
        "kms:create_alias",
        "kms:enable_key_rotation",
        "ecr:create_repository",
        "ecr:put_lifecycle_policy",
    ]
    assert aws.repository_names() == []
    assert aws.all_keys() == []


def test_plan_of_an_applied_resource_is_empty(aws: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from ecr_operator.render import Owner, render
    from ecr_operator.spec import EcrRepositorySpec

    manifest = yaml.safe_load(SEED.read_text())
    owner = Owner("default", manifest["metadata"]["namespace"], manifest["metadata"]["name"])
    aws.reconcile(render(EcrRepositorySpec.model_validate(manifest["spec"]), owner, "ap-northeast-2"))

    assert main(["plan", str(SEED), "--region", "ap-northeast-2"]) == 0
    assert capsys.readouterr().out.strip() == "my-application: in sync, nothing to do"
