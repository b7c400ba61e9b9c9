"""probes.py and metrics.py: readiness from the last checks (fresh, all ok), AWS outcomes as bounded labels."""

from __future__ import annotations

import asyncio
import time

from ecr_operator.core import metrics
from ecr_operator.core.actions import Action
from ecr_operator.repository import findings
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


def test_resources_by_ready_reason_are_counted_and_forgotten() -> None:
    reasons = metrics.ReadyReasons()
    reasons.set("a", "True", "Synced")
    reasons.set("b", "True", "Synced")
    reasons.set("c", "False", "MissingRequiredTags")
    assert metrics.RESOURCES.labels("True", "Synced")._value.get() == 2
    reasons.set("b", "False", "Throttled")
    reasons.forget("c")
    samples = {
        (s.labels["ready"], s.labels["reason"]): s.value
        for family in metrics.RESOURCES.collect()
        for s in family.samples
    }
    assert samples == {("True", "Synced"): 1, ("False", "Throttled"): 1}


def test_resync_writes_are_drift_corrections_by_part() -> None:
    before = metrics.DRIFT_CORRECTIONS.labels("repository")._value.get()
    actions = [Action("ecr", "put_image_scanning_configuration", {}, "x"), Action("ecr", "tag_resource", {}, "y")]
    metrics.count_writes(actions, "resync")
    assert metrics.DRIFT_CORRECTIONS.labels("repository")._value.get() == before + 1, "one correction, two writes"
    metrics.count_writes(actions, "change")
    assert metrics.DRIFT_CORRECTIONS.labels("repository")._value.get() == before + 1


def _findings(namespace: str, name: str) -> dict[str, float]:
    return {
        sample.labels["severity"]: sample.value
        for family in findings.FINDINGS.collect()
        for sample in family.samples
        if sample.labels.get("namespace") == namespace and sample.labels.get("name") == name
    }


def test_a_cleared_scan_removes_the_resources_findings_series() -> None:
    findings.publish("team-a", "gone-foreign", {"scan": {"findingSeverityCounts": {"HIGH": 2}}})
    assert _findings("team-a", "gone-foreign")["HIGH"] == 2
    findings.publish("team-a", "gone-foreign", {"images": None})
    assert _findings("team-a", "gone-foreign")["HIGH"] == 2, "a patch without the scan leaves the series"
    findings.publish("team-a", "gone-foreign", {"scan": None})
    assert _findings("team-a", "gone-foreign") == {}
