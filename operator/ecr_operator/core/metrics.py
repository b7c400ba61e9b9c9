"""Prometheus metrics (``ecr_operator_<thing>_<unit>``; labels of bounded cardinality, never one per resource).

Served with ``/readyz`` and ``/healthz`` by :mod:`probes` on ``--metrics-port``. The default registry also
carries the process and Python collectors (CPU, memory, file descriptors, GC).
"""

from __future__ import annotations

import contextlib
from collections import Counter as Tally
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram

from ecr_operator.core.reasons import Reason

if TYPE_CHECKING:  # core.actions imports aws, which instruments its clients here
    from ecr_operator.core.actions import Action

PASSES = Counter(
    "ecr_operator_reconcile_passes_total",
    "Reconcile passes by trigger (change: create/update; resync: the timer and resumes; event: an AWS event) "
    "and result (in_sync, applied, problem, observe_only, error).",
    ["trigger", "result"],
)
PASS_SECONDS = Histogram(
    "ecr_operator_reconcile_duration_seconds",
    "Wall time of one reconcile pass (AWS reads and writes included), by trigger.",
    ["trigger"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
AWS_REQUESTS = Counter(
    "ecr_operator_aws_requests_total",
    "HTTP requests to AWS (each retry counts) by service, operation and outcome: ok, throttled, or the error code.",
    ["service", "operation", "outcome"],
)
AWS_RETRIES = Counter(
    "ecr_operator_aws_retries_total",
    "AWS requests that were retries of an earlier attempt (botocore's retry modes), by service and operation.",
    ["service", "operation"],
)
RATE_LIMITED_SECONDS = Counter(
    "ecr_operator_aws_rate_limited_seconds_total",
    "Seconds AWS requests waited for the client-side rate limiter (--aws-rate-limits), by service and operation.",
    ["service", "operation"],
)
WRITES = Counter(
    "ecr_operator_aws_writes_total",
    "Write actions applied, by part (key, repository) and trigger; a resync's writes are drift corrections.",
    ["part", "trigger"],
)
DRIFT_CORRECTIONS = Counter(
    "ecr_operator_drift_corrections_total",
    "Resyncs that corrected drift made outside Kubernetes, by part (key, repository).",
    ["part"],
)
IN_SYNC_PASSES = Counter(
    "ecr_operator_writes_skipped_total",
    "Passes that found AWS in sync and so made no write call, by trigger.",
    ["trigger"],
)
RESOURCES = Gauge(
    "ecr_operator_resources",
    "EcrRepository resources this replica has handled, by the reason of their Ready condition.",
    ["ready", "reason"],
)
IN_FLIGHT = Gauge("ecr_operator_passes_in_flight", "Passes running or waiting for an AWS worker thread.")
WAITING = Gauge("ecr_operator_passes_waiting", "Passes waiting for a free AWS worker thread (queue depth).")
READY = Gauge("ecr_operator_ready", "1 while the API server and AWS answer (the readiness probe), else 0.")
FINDINGS = Gauge(
    "ecr_operator_image_findings",
    "Scan findings of each resource's newest image, by severity (one series per resource: the alerting use case "
    "asks for it; a resource's series go with it).",
    ["namespace", "name", "severity"],
)
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")

_THROTTLING = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException"})
_PARTS = {"kms": "key", "ecr": "repository"}
DRIFT_TRIGGERS = ("resync", "event")
"""Passes whose writes correct drift: the periodic resync and a pass an AWS event triggered (runtime/eventqueue.py)."""


def part_of(action: Action) -> str:
    return _PARTS.get(action.service, action.service)


def count_writes(actions: Iterable[Action], trigger: str) -> None:
    corrected: set[str] = set()
    for action in actions:
        part = part_of(action)
        WRITES.labels(part, trigger).inc()
        corrected.add(part)
    if trigger in DRIFT_TRIGGERS:
        for part in corrected:
            DRIFT_CORRECTIONS.labels(part).inc()


class ReadyReasons:
    """Resource uid -> (Ready status, reason), summed into the ``ecr_operator_resources`` gauge."""

    def __init__(self) -> None:
        self._by_uid: dict[str, tuple[str, str]] = {}

    def set(self, uid: str, ready: str, reason: str) -> None:
        self._by_uid[uid] = (ready, reason)
        self._publish()

    def forget(self, uid: str) -> None:
        self._by_uid.pop(uid, None)
        self._publish()

    def _publish(self) -> None:
        counts = Tally(self._by_uid.values())
        RESOURCES.clear()
        for (ready, reason), count in counts.items():
            RESOURCES.labels(ready, reason).set(count)


def aws_outcome(http_response: Any, parsed: dict[str, Any] | None, exception: BaseException | None) -> str:
    """One label for what an AWS request came back with (bounded: ok, throttled, an AWS error code, or the
    connection error's class name)."""
    if exception is not None:
        return type(exception).__name__
    status = int(getattr(http_response, "status_code", 0) or 0)
    code = str(((parsed or {}).get("Error") or {}).get("Code", ""))
    if code in _THROTTLING or status == 429:
        return "throttled"
    if status and status < 300:
        return "ok"
    return code or f"http_{status}"


def instrument(client: Any) -> None:
    """Count every request ``client`` sends (registered on botocore's per-attempt event)."""
    service = str(client.meta.service_model.service_name)
    service_id = str(client.meta.service_model.service_id.hyphenize())

    def received(
        response_dict: dict[str, Any] | None = None,
        parsed_response: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        **kwargs: Any,
    ) -> None:
        operation = str(kwargs.get("event_name", "").rsplit(".", 1)[-1])
        status = (response_dict or {}).get("status_code")
        outcome = aws_outcome(_Status(status), parsed_response, exception)
        AWS_REQUESTS.labels(service, operation, outcome).inc()
        attempt = int(((context or {}).get("retries") or {}).get("attempt", 1) or 1)
        if attempt > 1:
            AWS_RETRIES.labels(service, operation).inc()

    client.meta.events.register(f"response-received.{service_id}", received)


class _Status:
    def __init__(self, status_code: Any) -> None:
        self.status_code = status_code


def ready_reason(status_patch: dict[str, Any]) -> tuple[str, str] | None:
    """(Ready status, reason) from a status patch the report wrote, if it has the Ready condition."""
    for condition in status_patch.get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status")), str(condition.get("reason", Reason.SYNCED))
    return None


def publish_findings(namespace: str, name: str, status_patch: dict[str, Any]) -> None:
    """The newest image's finding counts from a status patch that carries them (absent keys are 0)."""
    counts = (status_patch.get("scan") or {}).get("findingSeverityCounts")
    if counts is None:
        return
    for severity in SEVERITIES:
        FINDINGS.labels(namespace, name, severity).set(int(counts.get(severity, 0)))


def forget_findings(namespace: str, name: str) -> None:
    for severity in SEVERITIES:
        with contextlib.suppress(KeyError):  # never published for this resource
            FINDINGS.remove(namespace, name, severity)
