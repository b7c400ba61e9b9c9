"""The Argo CD health check (deploy/argocd/resource_customizations/ecr.platform.dev/EcrRepository/health.lua), run
with a real Lua 5.1 (Argo CD runs gopher-lua, Lua 5.1) through lupa: every case of health_test.yaml, in Argo CD's
own layout, and the status the operator's pure report really writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.repository.reconcile import Outcome
from ecr_operator.repository.status import report, report_failure

CHECK = (
    Path(__file__).resolve().parents[2]
    / "deploy"
    / "argocd"
    / "resource_customizations"
    / "ecr.platform.dev"
    / "EcrRepository"
)
CASES = yaml.safe_load((CHECK / "health_test.yaml").read_text())["tests"]
T0 = "2026-11-26T10:00:00Z"


def health(obj: dict[str, Any]) -> dict[str, str]:
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    assert runtime.eval("_VERSION") == "Lua 5.1"
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    result = runtime.execute((CHECK / "health.lua").read_text())
    return {"status": result["status"], "message": result["message"]}


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_argocd_cases(case: dict[str, Any]) -> None:
    obj = yaml.safe_load((CHECK / case["inputPath"]).read_text())
    assert health(obj) == case["healthStatus"]


def test_every_testdata_file_has_a_case() -> None:
    assert {f"testdata/{p.name}" for p in (CHECK / "testdata").glob("*.yaml")} == {c["inputPath"] for c in CASES}


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
