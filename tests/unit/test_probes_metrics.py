"""probes.py and metrics.py: readiness from the last checks (fresh, all ok), AWS outcomes as bounded labels."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ecr_operator.core import metrics
from ecr_operator.core.actions import Action
from ecr_operator.runtime.probes import Readiness, ReadinessChecker


def test_ready_only_with_fresh_passing_checks() -> None:
    readiness = Readiness(interval=1.0, timeout=1.0)
    assert readiness.ready()[0] is False, "nothing checked yet"
    readiness.record({"apiServer": "ok", "aws": "ok"})
    ok, detail = readiness.ready()
    assert ok is True and detail["stale"] is False
    readiness.record({"apiServer": "ok", "aws": "EndpointConnectionError: ..."})
    ok, detail = readiness.ready()
    assert ok is False and detail["checks"] == {"apiServer": "ok", "aws": "EndpointConnectionError: ..."}
    readiness.record({"apiServer": "ok", "aws": "ok"})
    readiness.checked_at = time.monotonic() - 10  # a hung checker
    ok, detail = readiness.ready()
    assert ok is False and detail["stale"] is True


def test_the_checker_turns_failures_and_hangs_into_results() -> None:
    async def passes() -> None:
        return None

    async def fails() -> None:
        raise ConnectionError("refused")

    async def hangs() -> None:
        await asyncio.sleep(5)

    readiness = Readiness(interval=1.0, timeout=0.05)
    checker = ReadinessChecker(readiness, {"a": passes, "b": fails, "c": hangs})
    results = asyncio.run(checker.run_once())
    assert results["a"] == "ok" and results["b"] == "ConnectionError: refused" and results["c"].startswith("Timeout")
    assert readiness.ready()[0] is False


class _Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def test_aws_outcomes_are_bounded_labels() -> None:
    assert metrics.aws_outcome(_Response(200), {}, None) == "ok"
    assert metrics.aws_outcome(_Response(400), {"Error": {"Code": "ThrottlingException"}}, None) == "throttled"
    assert metrics.aws_outcome(_Response(429), {}, None) == "throttled"
    assert metrics.aws_outcome(_Response(400), {"Error": {"Code": "AccessDeniedException"}}, None) == (
        "AccessDeniedException"
    )
    assert metrics.aws_outcome(_Response(503), {}, None) == "http_503"
    assert metrics.aws_outcome(None, None, ConnectionResetError()) == "ConnectionResetError"


def _object(
    uid: str, ready: str | None = None, reason: str = "", findings: dict[str, int] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "reason": reason}]
    if findings is not None:
        status["scan"] = {"imageDigest": "sha256:x", "findingSeverityCounts": findings}
    return {"metadata": {"uid": uid, "namespace": "team-a", "name": f"app-{uid}"}, "status": status}


def _samples(gauge: Any) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels.values()): s.value for family in gauge.collect() for s in family.samples}


def test_resources_are_counted_by_kind_and_ready_reason_from_status_and_forgotten() -> None:
    published = metrics.ResourceMetrics()
    published.observe("EcrRepository", _object("a", "True", "Synced"))
    published.observe("EcrRepository", _object("b", "True", "Synced"))
    published.observe("EcrRepository", _object("c", "False", "MissingRequiredTags"))
    published.observe("EcrRegistry", _object("r", "True", "Synced"))
    published.observe("EcrRepository", _object("new"))  # not handled yet: no Ready condition
    assert metrics.RESOURCES.labels("EcrRepository", "True", "Synced")._value.get() == 2
    published.observe("EcrRepository", _object("b", "False", "Throttled"))
    published.forget("c")
    published.forget("never-seen")
    assert _samples(metrics.RESOURCES) == {
        ("EcrRepository", "True", "Synced"): 1,
        ("EcrRepository", "False", "Throttled"): 1,
        ("EcrRegistry", "True", "Synced"): 1,
        ("EcrRepository", "Unknown", ""): 1,
    }


def test_findings_are_summed_by_severity_without_a_series_per_resource() -> None:
    published = metrics.ResourceMetrics()
    published.observe("EcrRepository", _object("a", "True", "Synced", {"CRITICAL": 2, "HIGH": 1}))
    published.observe("EcrRepository", _object("b", "True", "Synced", {"HIGH": 4}))
    published.observe("EcrRepository", _object("c", "True", "Synced"))  # never scanned
    assert _samples(metrics.FINDINGS) == {
        ("CRITICAL",): 2,
        ("HIGH",): 5,
        ("MEDIUM",): 0,
        ("LOW",): 0,
        ("INFORMATIONAL",): 0,
        ("UNDEFINED",): 0,
    }
    assert _samples(metrics.RESOURCE_FINDINGS) == {}, "no series per resource unless asked"
    published.observe("EcrRepository", _object("a", "True", "Synced"))  # the scan left status (not ours any more)
    published.forget("b")
    assert _samples(metrics.FINDINGS)[("HIGH",)] == 0 and _samples(metrics.FINDINGS)[("CRITICAL",)] == 0


def test_per_resource_findings_are_opt_in_and_go_with_the_resource() -> None:
    published = metrics.ResourceMetrics(per_resource=True)
    published.observe("EcrRepository", _object("p", "True", "Synced", {"CRITICAL": 1}))
    published.observe("EcrRepository", _object("q", "True", "Synced", {"LOW": 3}))
    assert metrics.RESOURCE_FINDINGS.labels("team-a", "app-p", "CRITICAL")._value.get() == 1
    assert metrics.RESOURCE_FINDINGS.labels("team-a", "app-q", "LOW")._value.get() == 3
    published.observe("EcrRepository", _object("q", "True", "Synced"))
    published.forget("p")
    assert _samples(metrics.RESOURCE_FINDINGS) == {}


def test_build_info_names_the_versions() -> None:
    metrics.publish_build_info()
    [[sample]] = [family.samples for family in metrics.BUILD.collect()]
    assert sample.name == "ecr_operator_build_info" and sample.value == 1
    assert set(sample.labels) == {"version", "python", "kopf", "boto3"} and sample.labels["version"] == "0.1.0"


def test_resync_writes_are_drift_corrections_by_part() -> None:
    before = metrics.DRIFT_CORRECTIONS.labels("repository")._value.get()
    actions = [Action("ecr", "put_image_scanning_configuration", {}, "x"), Action("ecr", "tag_resource", {}, "y")]
    metrics.count_writes(actions, "resync")
    assert metrics.DRIFT_CORRECTIONS.labels("repository")._value.get() == before + 1, "one correction, two writes"
    metrics.count_writes(actions, "change")
    assert metrics.DRIFT_CORRECTIONS.labels("repository")._value.get() == before + 1
