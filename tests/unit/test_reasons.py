"""reasons.py: one public list of reasons, every one described, the README's table generated from it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ecr_operator.cli.main import main
from ecr_operator.core.conditions import CONDITION_TYPES
from ecr_operator.core.errors import classify
from ecr_operator.core.reasons import DESCRIPTIONS, EVENT_ONLY, PERMANENT, Reason, markdown_table

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = REPO_ROOT / "operator" / "ecr_operator"


def test_every_reason_is_described_and_camel_case() -> None:
    assert set(DESCRIPTIONS) == set(Reason)
    for reason in Reason:
        assert reason.value[0].isupper() and reason.value.isalnum(), reason
    assert not PERMANENT & EVENT_ONLY


def test_the_readme_table_is_the_generated_one(capsys: pytest.CaptureFixture[str]) -> None:
    indented = "\n".join("  " + line for line in markdown_table().splitlines())
    assert indented in (REPO_ROOT / "README.md").read_text(), "README's reason table differs: run ecr-operator reasons"
    assert main(["reasons"]) == 0
    assert capsys.readouterr().out == markdown_table()


def test_reasons_are_never_spelled_as_strings_in_the_operator() -> None:
    """A condition or Event reason is a Reason member, never a literal: every string equal to a reason's value
    outside reasons.py is reported (AWS error codes that happen to look alike are compared in errors.py only)."""
    values = {reason.value for reason in Reason}
    spelled = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).as_posix() in ("core/reasons.py", "core/errors.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in values:
                if path.relative_to(PACKAGE).as_posix() == "core/conditions.py" and node.value in CONDITION_TYPES:
                    continue  # the condition type Synced, not the reason
                spelled.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    assert spelled == []


def test_unknown_aws_codes_are_aws_error_with_the_code_in_the_message() -> None:
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": "SomethingNewException", "Message": "new"}}, "CreateRepository")
    assert classify(error).reason == Reason.AWS_ERROR
