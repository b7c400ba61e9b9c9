"""The Argo CD health checks (deploy/argocd/resource_customizations/ecr.platform.dev/<Kind>/health.lua, one per
kind), run with a real Lua 5.1 (Argo CD runs gopher-lua, Lua 5.1) through lupa: every case of each kind's
health_test.yaml, in Argo CD's own layout, and the status the operator's pure reports really write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.registry.reconcile import RegistryOutcome
from ecr_operator.registry.status import report as report_registry
from ecr_operator.registry.status import report_failure as report_registry_failure
from ecr_operator.repository.reconcile import Outcome
from ecr_operator.repository.status import report, report_failure

CHECKS = Path(__file__).resolve().parents[2] / "deploy" / "argocd" / "resource_customizations" / "ecr.platform.dev"
KINDS = ("EcrRepository", "EcrRegistry")
CHECK = CHECKS / "EcrRepository"
CASES = [
    (kind, case) for kind in KINDS for case in yaml.safe_load((CHECKS / kind / "health_test.yaml").read_text())["tests"]
]
T0 = "2026-11-26T10:00:00Z"


def health(obj: dict[str, Any]) -> dict[str, str]:
    """The health check of the object's kind."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    assert runtime.eval("_VERSION") == "Lua 5.1"
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    result = runtime.execute((CHECKS / obj["kind"] / "health.lua").read_text())
    return {"status": result["status"], "message": result["message"]}


@pytest.mark.parametrize(("kind", "case"), CASES, ids=[f"{k}-{Path(c['inputPath']).stem}" for k, c in CASES])
def test_argocd_cases(kind: str, case: dict[str, Any]) -> None:
    obj = yaml.safe_load((CHECKS / kind / case["inputPath"]).read_text())
    assert obj["kind"] == kind
    assert health(obj) == case["healthStatus"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_testdata_file_has_a_case(kind: str) -> None:
    cases = {c["inputPath"] for k, c in CASES if k == kind}
    assert {f"testdata/{p.name}" for p in (CHECKS / kind / "testdata").glob("*.yaml")} == cases


def test_every_kind_has_a_health_check() -> None:
    from ecr_operator.runtime.kinds import KINDS as SERVED

    assert {kind.crd.names.kind for kind in SERVED} == set(KINDS)


def _resource(status: dict[str, Any], generation: int = 2, **annotations: str) -> dict[str, Any]:
    metadata = {"name": "app", "namespace": "team-a", "generation": generation, "annotations": annotations}
    return {"apiVersion": "ecr.platform.dev/v1alpha1", "kind": "EcrRepository", "metadata": metadata, "status": status}


def test_the_operators_own_status_reads_as_expected() -> None:
    outcome = Outcome("team-a/app", "eu-west-1", repository_uri="1.dkr.ecr.eu-west-1.amazonaws.com/team-a/app")
    synced = report(outcome, {}, 2, T0, observe_only=False, resync=False).status
    assert health(_resource(synced))["status"] == "Healthy"
    assert health(_resource(synced, generation=3))["status"] == "Progressing"

    throttled = OperatorError(Reason.THROTTLED, "Rate exceeded")
    assert health(_resource(synced | report_failure(throttled, synced, 2, T0).status))["status"] == "Healthy"
    assert health(_resource(report_failure(throttled, {}, 2, T0).status))["status"] == "Progressing"

    missing = OperatorError(Reason.MISSING_REQUIRED_TAGS, "spec.tags lacks required tags: owner")
    degraded = health(_resource(report_failure(missing, synced, 2, T0).status))
    assert degraded == {"status": "Degraded", "message": f"{Reason.MISSING_REQUIRED_TAGS}: {missing.message}"}

    observed = report(outcome, {}, 2, T0, observe_only=True, resync=False).status
    observe_only = _resource(observed, **{"ecr.platform.dev/observe-only": "true"})
    assert health(observe_only)["status"] == "Suspended"


def _registry(status: dict[str, Any], generation: int = 2, **annotations: str) -> dict[str, Any]:
    metadata = {"name": "main", "generation": generation, "annotations": annotations}
    return {"apiVersion": "ecr.platform.dev/v1alpha1", "kind": "EcrRegistry", "metadata": metadata, "status": status}


def test_the_registrys_own_status_reads_as_expected() -> None:
    outcome = RegistryOutcome("eu-west-1", "123456789012")
    synced = report_registry(outcome, {}, 2, T0, observe_only=False, resync=False).status
    assert health(_registry(synced)) == {
        "status": "Healthy",
        "message": "registry 123456789012 in eu-west-1 is in sync",
    }
    assert health(_registry(synced, generation=3))["status"] == "Progressing"

    throttled = OperatorError(Reason.THROTTLED, "Rate exceeded")
    assert health(_registry(report_registry_failure(throttled, {}, 2, T0).status))["status"] == "Progressing"

    conflict = OperatorError(Reason.REGISTRY_ITEM_NOT_OWNED, "spec.pullThroughCacheRules[quay]: not ours")
    with_problem = RegistryOutcome("eu-west-1", "123456789012", problems=[conflict])
    degraded = health(_registry(report_registry(with_problem, synced, 2, T0, observe_only=False, resync=True).status))
    assert degraded == {"status": "Degraded", "message": f"{Reason.REGISTRY_ITEM_NOT_OWNED}: {conflict.message}"}

    managed = OperatorError(Reason.REGISTRY_ALREADY_MANAGED, "managed by first")
    assert health(_registry(report_registry_failure(managed, {}, 2, T0).status))["status"] == "Degraded"

    observed = report_registry(outcome, {}, 2, T0, observe_only=True, resync=False).status
    assert health(_registry(observed, **{"ecr.platform.dev/observe-only": "true"}))["status"] == "Suspended"
