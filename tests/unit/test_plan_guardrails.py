"""The guardrails of deploy/policies/ judged offline (`plan --offline --admission deploy/policies/`) agree with the real
API server on every create of their corpus (tests/guardrails/, which tests/e2e/test_guardrails.py sends to a
kube-apiserver with the policies installed): the same cases allowed, the same denied with the same message.

Skipped while the guardrails (and their corpus loader, ecr_operator_dev.policycorpus) are not in this checkout.
Updates (cases with an old object) are the API server's alone: a plan judges creates.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from ecr_operator.cli import cel
from ecr_operator.cli.admission import admit
from ecr_operator.cli.manifests import Document
from ecr_operator.cli.plan import crd_of
from ecr_operator.cli.policies import ClusterState, PolicyJudge, Target

policycorpus: Any = pytest.importorskip("ecr_operator_dev.policycorpus")

CASES = [case for case in policycorpus.load_cases() if case.old is None]
EVALUATOR = cel.Evaluator()


def cluster_state(case: Any) -> ClusterState:
    documents = [
        {**doc, "data": case.parameters(policycorpus.shipped_parameters())}
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == policycorpus.PARAMETERS_CONFIGMAP
        else doc
        for doc in policycorpus.policy_documents()
    ]
    documents += [namespace.manifest() for namespace in policycorpus.load_namespaces().values()]
    return ClusterState.of(Document("admission", d) for d in documents)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_offline_admission_agrees_with_the_api_server(case: Any) -> None:
    body = case.manifest()
    crd = crd_of(body["kind"])
    target = Target("ecr.platform.dev", "v1alpha1", body["kind"], crd.plural, crd.namespaced)
    judge = PolicyJudge(cluster_state(case), EVALUATOR)
    found = [str(v) for v in admit(body, crd, EVALUATOR, [functools.partial(judge.judge, target=target)]).violations]
    if case.future and any("unknown field" in m or "unsupported value" in m for m in found):
        pytest.skip(f"the CRD does not know it yet: {case.future}")
    if case.expect == "allowed":
        assert found == []
    else:
        assert any(case.message in message for message in found), found
