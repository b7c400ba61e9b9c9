"""`ecr-operator plan`: judged exactly as the operator judges (same refusals, same settings flags), against moto,
writing nothing; files, directories, stdin, multi-document YAML, JSON output, kubectl-diff exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_harness import CLUSTER, PartsHarness

from ecr_operator.cli.main import main
from ecr_operator.repository.reconcile import reconcile
from ecr_operator.repository.render import Owner, render
from ecr_operator.repository.spec import EcrRepositorySpec

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED = REPO_ROOT / "examples" / "my-application.yaml"
REGION = ["--region", "ap-northeast-2", "--cluster-id", CLUSTER]
CREATES = [
    "kms:create_key",
    "kms:create_alias",
    "kms:enable_key_rotation",
    "ecr:create_repository",
    "ecr:put_lifecycle_policy",
]


def seed(**changes: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(SEED.read_text())
    manifest["metadata"].update(changes.pop("metadata", {}))
    manifest["spec"].update(changes)
    return manifest


def write(path: Path, *documents: Any) -> Path:
    path.write_text(yaml.safe_dump_all(documents))
    return path


def plan_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["plan", *args, *REGION, "-o", "json"])
    return code, json.loads(capsys.readouterr().out)


def apply_seed(aws: PartsHarness) -> None:
    manifest = seed()
    owner = Owner(CLUSTER, manifest["metadata"]["namespace"], manifest["metadata"]["name"])
    aws.reconcile(render(EcrRepositorySpec.model_validate(manifest["spec"]), owner, "ap-northeast-2"))


def test_a_new_resource_plans_the_creates_exits_1_and_writes_nothing(
    aws: PartsHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", str(SEED), *REGION]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "default/my-application (repository my-application in ap-northeast-2): changes"
    assert [line.split()[0] for line in lines[1:]] == CREATES
    assert aws.repository_names() == []
    assert aws.all_keys() == []


def test_an_applied_resource_is_in_sync_and_exits_0(aws: PartsHarness, capsys: pytest.CaptureFixture[str]) -> None:
    apply_seed(aws)
    assert main(["plan", str(SEED), *REGION]) == 0
    assert capsys.readouterr().out.strip().endswith(": in-sync")


def test_refusals_are_the_operators_and_exit_2(
    aws: PartsHarness, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    untagged = seed(metadata={"name": "untagged"}, repositoryName="untagged", tags={"owner": "x"})
    bad_tag = seed(metadata={"name": "bad-tag"}, repositoryName="bad-tag")
    bad_tag["spec"]["tags"]["ecr.platform.dev/name"] = "spoof"
    foreign_name = seed(metadata={"name": "foreign", "namespace": "team-a"}, repositoryName="team-b/app")
    code, plans = plan_json(
        capsys,
        str(write(tmp_path / "all.yaml", untagged, bad_tag, foreign_name)),
        "--repository-name-policy",
        "namespace-prefix",
    )
    assert code == 2
    assert [(p["name"], p["verdict"], p["problems"][0]["reason"]) for p in plans] == [
        ("untagged", "refused", "MissingRequiredTags"),
        ("bad-tag", "refused", "InvalidSpec"),
        ("foreign", "refused", "RepositoryNameNotAllowed"),
    ]
    assert all(p["actions"] == [] for p in plans)
    # The same settings flags as `run`: no required tags, a granted prefix.
    code, plans = plan_json(
        capsys,
        str(tmp_path / "all.yaml"),
        "--required-tags",
        "",
        "--repository-name-policy",
        "namespace-prefix",
        "--allowed-prefixes",
        "team-b/,untagged",
    )
    assert [p["verdict"] for p in plans] == ["changes", "refused", "changes"]
    assert aws.repository_names() == []


def test_directories_stdin_multi_documents_and_other_kinds(
    aws: PartsHarness, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_seed(aws)
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    write(tmp_path / "a.yaml", seed(), config_map)
    write(
        tmp_path / "b.yml",
        {"apiVersion": "v1", "kind": "List", "items": [seed(metadata={"name": "second"}, repositoryName="second")]},
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    monkeypatch.setattr(
        "sys.stdin", io.StringIO(yaml.safe_dump(seed(metadata={"name": "piped"}, repositoryName="piped")))
    )
    code, plans = plan_json(capsys, str(tmp_path), "-")
    assert code == 1
    assert [(p["name"], p["verdict"]) for p in plans] == [
        ("my-application", "in-sync"),
        ("second", "changes"),
        ("piped", "changes"),
    ]


def test_other_kinds_are_noted_on_stderr(capsys: pytest.CaptureFixture[str], tmp_path: Path, aws: PartsHarness) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    assert main(["plan", str(write(tmp_path / "m.yaml", config_map, seed())), *REGION]) == 1
    captured = capsys.readouterr()
    assert "skipping ConfigMap (not an EcrRepository or EcrRegistry)" in captured.err
    assert captured.out.startswith("default/my-application")


def test_no_resource_at_all_is_an_error_not_in_sync(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, aws: PartsHarness
) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    assert main(["plan", str(write(tmp_path / "m.yaml", config_map)), *REGION]) == 2
    (tmp_path / "empty.yaml").write_text("")
    assert main(["plan", str(tmp_path / "empty.yaml"), *REGION]) == 2
    captured = capsys.readouterr()
    assert "no EcrRepository or EcrRegistry in" in captured.err and captured.out == ""


def test_an_ecr_registry_is_planned(capsys: pytest.CaptureFixture[str], tmp_path: Path, aws: PartsHarness) -> None:
    registry = {
        "apiVersion": "ecr.platform.dev/v1alpha1",
        "kind": "EcrRegistry",
        "metadata": {"name": "main"},
        "spec": {"scanning": {"scanType": "ENHANCED"}, "deletionPolicy": "Delete"},
    }
    code, [plan] = plan_json(capsys, str(write(tmp_path / "registry.yaml", registry)))
    assert (code, plan["kind"], plan["name"], plan["verdict"], plan["region"]) == (
        1,
        "EcrRegistry",
        "main",
        "changes",
        "ap-northeast-2",
    )
    assert [a["operation"] for a in plan["actions"]] == ["put_registry_scanning_configuration"], plan
    assert aws.ecr.get_registry_scanning_configuration()["scanningConfiguration"]["scanType"] == "BASIC"


def test_unreadable_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["plan", str(tmp_path / "missing.yaml"), *REGION]) == 2
    (tmp_path / "broken.yaml").write_text("a: [unclosed")
    assert main(["plan", str(tmp_path / "broken.yaml"), *REGION]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_the_adopt_annotation_is_honoured(
    aws: PartsHarness, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    aws.ecr.create_repository(repositoryName="my-application")  # exists, nobody's
    code, [plan] = plan_json(capsys, str(SEED))
    assert (code, plan["verdict"], plan["problems"][0]["reason"]) == (2, "refused", "RepositoryNotOwned")

    adopting = seed(metadata={"annotations": {"ecr.platform.dev/adopt": "true"}}, encryption={"type": "AES256"})
    path = str(write(tmp_path / "adopt.yaml", adopting))
    code, [plan] = plan_json(capsys, path)
    assert (code, plan["problems"][0]["reason"]) == (2, "AdoptionNotAllowed"), "the operator's default: disabled"
    code, [plan] = plan_json(capsys, path, "--adoption", "annotated-namespaces")
    assert plan["problems"][0]["reason"] == "AdoptionNotAllowed"
    code, [plan] = plan_json(capsys, path, "--adoption", "annotated-namespaces", "--namespace-allows-adoption")
    assert code == 1 and plan["verdict"] == "changes"
    code, [plan] = plan_json(capsys, path, "--adoption", "everywhere")
    assert code == 1 and plan["verdict"] == "changes"
    assert plan["actions"][0]["operation"] == "tag_resource"
    assert aws.repository_tags() == {}, "plan wrote nothing"


def test_a_namespace_given_with_admission_plans_in_its_mapped_account(
    aws: PartsHarness, aws_session: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A resource applied in the account the Namespace's role maps to is in sync there, and only there."""
    from ecr_operator.core.api import AWS_ROLE_ARN_ANNOTATION
    from ecr_operator.core.aws import ClientFactory

    role = "arn:aws:iam::111111111111:role/ecr-operator"
    manifest = seed()
    owner = Owner(CLUSTER, manifest["metadata"]["namespace"], manifest["metadata"]["name"])
    desired = render(EcrRepositorySpec.model_validate(manifest["spec"]), owner, "ap-northeast-2")
    reconcile(ClientFactory(aws_session).for_region("ap-northeast-2", role), desired)
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": manifest["metadata"]["namespace"], "annotations": {AWS_ROLE_ARN_ANNOTATION: role}},
    }
    mapped = write(tmp_path / "namespace.yaml", namespace)

    assert main(["plan", str(SEED), *REGION, "--admission", str(mapped)]) == 0
    assert capsys.readouterr().out.strip().endswith(": in-sync")
    assert main(["plan", str(SEED), *REGION]) == 1, "the CLI's own account holds nothing yet"
    assert aws.repository_names() == []
