"""`ecr-operator plan --offline`: the API server's admission judged without a cluster or AWS.

The corpus is tests/e2e/admission_corpus.py, which tests/e2e/test_admission.py proves against a real kube-apiserver
with the generated CRDs: offline, every entry is refused naming the same field, and the valid bases are accepted.
Every CEL rule of both CRDs is one the offline evaluator can run (none is skipped).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from ecr_operator.cli import cel
from ecr_operator.cli.admission import Crd, admit
from ecr_operator.cli.main import main
from ecr_operator.cli.plan import crd_of
from ecr_operator.registry.spec import REGISTRY_KIND
from ecr_operator.repository.spec import KIND

REPO_ROOT = Path(__file__).resolve().parents[2]


def _corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("admission_corpus", REPO_ROOT / "tests/e2e/admission_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("admission_corpus", module)
    spec.loader.exec_module(module)
    return module


CORPUS = _corpus()
EVALUATOR = cel.Evaluator()


def repository(spec: dict[str, Any], name: str = "valid") -> dict[str, Any]:
    return {
        "apiVersion": "ecr.platform.dev/v1alpha1",
        "kind": KIND,
        "metadata": {"name": name, "namespace": "admission"},
        "spec": spec,
    }


def registry(spec: dict[str, Any], name: str = "valid") -> dict[str, Any]:
    return {"apiVersion": "ecr.platform.dev/v1alpha1", "kind": REGISTRY_KIND, "metadata": {"name": name}, "spec": spec}


def violations(body: dict[str, Any]) -> list[str]:
    return [str(v) for v in admit(body, crd_of(body["kind"]), EVALUATOR).violations]


@pytest.mark.parametrize("kind", [KIND, REGISTRY_KIND])
def test_every_rule_of_the_crds_is_evaluable_offline(kind: str) -> None:
    rules = list(crd_of(kind).rules())
    assert rules, "the CRD has CEL rules"
    for rule in rules:
        assert cel.unsupported_functions(rule) == [], rule


def test_an_unsupported_function_is_named_not_passed() -> None:
    assert cel.unsupported_functions("self.x.isSorted() && quantity(self.q) > 1 && 'a'.lowerAscii() == 'a'") == [
        "isSorted",
        "quantity",
    ]
    with pytest.raises(cel.CelError, match="isSorted"):
        EVALUATOR.evaluate("self.isSorted()", {"self": [1, 2]})


def test_the_strings_extension_used_by_policies() -> None:
    value = EVALUATOR.evaluate("' a, b ,,c'.split(',').map(k, k.trim()).filter(k, k != '').join('+')", {})
    assert str(value) == "a+b+c"
    assert str(EVALUATOR.evaluate("'AbC'.lowerAscii() + 'x'.upperAscii()", {})) == "abcX"


def test_the_valid_bases_are_accepted() -> None:
    assert violations(repository(CORPUS.base_spec())) == []
    assert violations(registry(CORPUS.registry_base())) == []
    assert violations(registry({}, "empty")) == []


def test_defaults_are_applied_as_the_api_server_does() -> None:
    stored = admit(registry({}, "empty"), crd_of(REGISTRY_KIND), EVALUATOR).stored
    assert stored["spec"] == {"deletionPolicy": "Retain"}
    stored = admit(repository({"tags": {}}), crd_of(KIND), EVALUATOR).stored
    assert stored["spec"]["encryption"]["type"] == "KMS"


@pytest.mark.parametrize("bad", CORPUS.ADMISSION_CORPUS, ids=lambda bad: bad.id)
def test_offline_refuses_what_the_api_server_refuses(bad: Any) -> None:
    found = violations(repository(CORPUS.merged(CORPUS.base_spec(), bad.changes), "bad"))
    assert found, f"{bad.id}: accepted offline"
    assert any(bad.field in message for message in found), found


@pytest.mark.parametrize("bad", CORPUS.REGISTRY_CORPUS, ids=lambda bad: bad.id)
def test_offline_refuses_a_bad_registry_as_the_api_server_does(bad: Any) -> None:
    found = violations(registry(CORPUS.merged(CORPUS.registry_base(), bad.changes), "bad"))
    assert found, f"{bad.id}: accepted offline"
    assert any(bad.field in message for message in found), found


@pytest.mark.parametrize("name", ["a", "a--b", "app.v2--beta"])
def test_a_metadata_name_ecr_would_refuse_is_refused_by_the_root_rule(name: str) -> None:
    spec = {k: v for k, v in CORPUS.base_spec().items() if k != "repositoryName"}
    assert any("metadata.name" in message for message in violations(repository(spec, name)))


def test_a_rule_is_judged_only_after_the_schema_passed() -> None:
    """A wrong type is the schema's one message, not a CEL error of each rule that reads the field."""
    assert violations(repository(42)) == ["spec: must be of type object, not a number (42)"]  # type: ignore[arg-type]


def test_without_the_cel_library_the_schema_is_still_judged() -> None:
    bad = repository(CORPUS.merged(CORPUS.base_spec(), {"lifecycle": {"maxImageCount": 0}}))
    assert [v.field for v in admit(bad, crd_of(KIND), None).violations] == ["spec.lifecycle.maxImageCount"]
    rule_only = repository(CORPUS.merged(CORPUS.base_spec(), {"tags": {f"extra{i}": "x" for i in range(43)}}))
    assert admit(rule_only, crd_of(KIND), None).violations == [], "the size rule is CEL: left to the API server"


def test_crd_of_reads_the_generated_crd() -> None:
    crd = Crd.of(yaml.safe_load((REPO_ROOT / "crds/ecrrepository.yaml").read_text()))
    assert crd.schema == crd_of(KIND).schema and crd.namespaced and not crd_of(REGISTRY_KIND).namespaced


def test_plan_offline_needs_no_aws(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    good = repository(CORPUS.base_spec(), "good")
    bad = repository(CORPUS.merged(CORPUS.base_spec(), {"repositoryName": "Bad"}), "bad")
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all([good, registry(CORPUS.registry_base(), "main")]))
    assert main(["plan", "--offline", str(path), "--required-tags", ",".join(CORPUS.TAGS), "-o", "json"]) == 0
    plans = json.loads(capsys.readouterr().out)
    assert [(p["kind"], p["name"], p["verdict"]) for p in plans] == [
        (KIND, "good", "valid"),
        (REGISTRY_KIND, "main", "valid"),
    ]
    path.write_text(yaml.safe_dump_all([good, bad]))
    assert main(["plan", "--offline", str(path), "--required-tags", ",".join(CORPUS.TAGS)]) == 2
    out = capsys.readouterr().out
    assert "admission/bad: invalid" in out and f"{path} (document 2): spec.repositoryName" in out, out


def test_plan_offline_applies_the_operators_own_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What the API server accepts but the operator refuses (a required tag missing): refused, with the reason."""
    spec = CORPUS.base_spec()
    del spec["tags"]["owner"]
    path = tmp_path / "untagged.yaml"
    path.write_text(yaml.safe_dump(repository(spec, "untagged")))
    assert main(["plan", "--offline", str(path), "--required-tags", ",".join(CORPUS.TAGS), "-o", "json"]) == 2
    [plan] = json.loads(capsys.readouterr().out)
    assert plan["verdict"] == "refused" and plan["problems"][0]["reason"] == "MissingRequiredTags", plan


def test_without_the_offline_extra_plan_offline_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's image carries no CEL library: --offline refuses in one line, naming the extra."""
    monkeypatch.setattr(cel, "_AVAILABLE", False)
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(repository(CORPUS.base_spec())))
    assert main(["plan", "--offline", str(path)]) == 2
    assert "pip install 'ecr-operator[offline]'" in capsys.readouterr().err
