"""The guardrails and the operator agree: every case of the corpus (tests/guardrails/) goes through the operator's
one judgement of a manifest (``ecr_operator.repository.manifest.request_for``) with the corpus's parameters as its
settings.

Where a rule has an operator twin (required tags, the namespace-prefix name policy), a case the policies refuse
is refused by the operator with the twin's reason, and a case they allow is accepted. And no manifest the
policies allow is refused by the operator: an Argo CD sync that admission accepts never turns into Ready=False
for the same rule. (tests/e2e/test_guardrails.py proves the policies' side on the API server.)
"""

from __future__ import annotations

import pytest

from ecr_operator.core.errors import SpecError
from ecr_operator.core.settings import Settings
from ecr_operator.repository.manifest import request_for
from ecr_operator.repository.spec import REPOSITORY_PREFIXES_ANNOTATION
from ecr_operator.repository.validate import parse_prefixes
from ecr_operator_dev.policycorpus import Case, load_cases, load_namespaces, shipped_parameters

SHIPPED = shipped_parameters()
NAMESPACES = load_namespaces()
REPOSITORY_CASES = [c for c in load_cases() if c.manifest()["kind"] == "EcrRepository"]


def settings_for(case: Case) -> Settings:
    """The operator settings a platform runs next to these parameters."""
    listed = case.parameters(SHIPPED).get("requiredTags", "")
    required = tuple(key.strip() for key in listed.split(",") if key.strip())
    return Settings(region="eu-west-1", required_tags=required, repository_name_policy="namespace-prefix")


def operator_verdict(case: Case) -> str | None:
    """The Reason the operator reports for the case's object, or None when it accepts it."""
    assert case.namespace is not None
    manifest = case.manifest()
    metadata = manifest["metadata"]
    granted = parse_prefixes(NAMESPACES[case.namespace].annotations.get(REPOSITORY_PREFIXES_ANNOTATION))
    try:
        request_for(
            manifest.get("spec") or {},
            case.namespace,
            metadata["name"],
            metadata.get("annotations") or {},
            settings_for(case),
            granted,
        )
    except SpecError as exc:
        return str(exc.reason)
    return None


@pytest.mark.parametrize("case", REPOSITORY_CASES, ids=[c.id for c in REPOSITORY_CASES])
def test_the_operator_agrees_with_the_policies(case: Case) -> None:
    verdict = operator_verdict(case)
    if case.future and verdict == "InvalidSpec":
        pytest.skip(f"{case.future}: the operator's spec model refuses it")
    if case.expect == "allowed":
        assert verdict is None, f"admission allows {case.id!r}, the operator refuses it: {verdict}"
    elif case.twin is not None:
        assert verdict == case.twin, f"admission refuses {case.id!r}, the operator says {verdict}"


def test_the_twin_rules_are_covered() -> None:
    twins = {c.twin for c in REPOSITORY_CASES if c.twin is not None and c.expect == "denied"}
    assert twins == {"MissingRequiredTags", "RepositoryNameNotAllowed"}


def test_the_shipped_required_tags_are_the_operators_defaults() -> None:
    shipped = tuple(key.strip() for key in SHIPPED["requiredTags"].split(","))
    assert shipped == Settings(region="eu-west-1").required_tags
