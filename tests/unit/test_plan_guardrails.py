"""`ecr-operator plan --offline --admission deploy/policies/` gates a pull request as admission will: every create of
the guardrails' corpus (tests/guardrails/, whose verdicts and messages tests/e2e/test_guardrails.py checks against a
real kube-apiserver with the policies installed) goes through the command, with the case's parameters, the corpus's
Namespaces and the operator settings the corpus is written for, and gets the API server's verdict: allowed cases are
valid (exit 0), denied ones are invalid (exit 2) with the API server's message.

Updates (cases with an old object) are the API server's alone: a plan judges creates.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecr_operator.cli.main import main
from ecr_operator.cli.plan import EXIT_ERROR, EXIT_IN_SYNC
from ecr_operator_dev import policycorpus

CASES = [case for case in policycorpus.load_cases() if case.old is None]
SHIPPED = policycorpus.shipped_parameters()


def test_the_corpus_has_creates_of_every_rule_both_ways() -> None:
    rules = {case.rule for case in policycorpus.load_cases()}
    assert {(case.rule, case.expect) for case in CASES} >= {(rule, e) for rule in rules for e in ("allowed", "denied")}


def _admission(tmp: Path, parameters: dict[str, str]) -> Path:
    """deploy/policies/ as shipped, but the ConfigMap ecr-guardrails holding the case's parameters; plus the corpus's
    Namespaces (the rules read their labels, the operator's checks their annotations)."""
    directory = tmp / "admission"
    shutil.copytree(policycorpus.policies_dir(), directory)
    documents = []
    for document in policycorpus.policy_documents(directory):
        if document["kind"] == "ConfigMap" and document["metadata"]["name"] == policycorpus.PARAMETERS_CONFIGMAP:
            document = {**document, "data": parameters}
        documents.append(document)
    for path in directory.glob("*.yaml"):
        path.unlink()  # kustomization.yaml too: plan reads every manifest of the directory
    (directory / "policies.yaml").write_text(yaml.safe_dump_all(documents))
    namespaces = [ns.manifest() for ns in policycorpus.load_namespaces().values()]
    (directory / "namespaces.yaml").write_text(yaml.safe_dump_all(namespaces))
    return directory


def _plan(case: Any, tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    parameters = case.parameters(SHIPPED)
    manifest = tmp / "manifest.yaml"
    manifest.write_text(yaml.safe_dump(case.manifest()))
    code = main(
        [
            "plan",
            "--offline",
            "--admission",
            str(_admission(tmp, parameters)),
            "--region",
            "eu-west-1",
            # The operator settings a platform runs next to these parameters (tests/guardrails/README.md).
            "--required-tags",
            parameters.get("requiredTags", ""),
            "--repository-name-policy",
            "namespace-prefix",
            "-o",
            "json",
            str(manifest),
        ]
    )
    [judged] = json.loads(capsys.readouterr().out)
    return code, judged


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_plan_offline_gives_the_api_servers_verdict(
    case: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, judged = _plan(case, tmp_path, capsys)
    messages = [problem["message"] for problem in judged["problems"]]
    if case.future and any("unknown field" in m or "unsupported value" in m for m in messages):
        pytest.skip(f"the CRD does not know it yet: {case.future}")
    if case.expect == "allowed":
        assert (code, judged["verdict"], messages) == (EXIT_IN_SYNC, "valid", [])
    else:
        assert (code, judged["verdict"]) == (EXIT_ERROR, "invalid"), messages
        assert any(case.message in message for message in messages), messages
