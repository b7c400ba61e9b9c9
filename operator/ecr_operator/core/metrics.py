"""Prometheus metrics (``ecr_operator_<thing>_<unit>``; labels of bounded cardinality, never one per resource
unless ``--per-resource-findings-metrics`` asks for it).

Served with ``/readyz`` and ``/healthz`` by :mod:`probes` on ``--metrics-port``. The default registry also
carries the process and Python collectors (CPU, memory, file descriptors, GC). The gauges about resources are
published from the objects' status as the watch delivers them (:class:`ResourceMetrics`), so a replica that starts
serving (a restart, a failover) shows them at its first listing, not after its next pass.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram, Info

from ecr_operator.core.reasons import Reason

if TYPE_CHECKING:  # core.actions imports aws, which instruments its clients here
    from ecr_operator.core.actions import Action

PASSES = Counter(
    "ecr_operator_reconcile_passes_total",
    "Reconcile passes by trigger (change: create/update/resume; resync) and result "
    "(in_sync, applied, problem, observe_only, refused: a permanent refusal that waits for a spec change, error: "
    "retried).",
    ["trigger", "result"],
)
REGISTRY_PASSES = Counter(
    "ecr_operator_registry_passes_total",
    "EcrRegistry passes by trigger (change, resync) and result (in_sync, applied, problem, observe_only, refused,"
    " error).",
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
    "Resources this replica serves, by kind (EcrRepository, EcrRegistry) and their Ready condition's status and "
    "reason (Unknown and no reason before the first pass).",
    ["kind", "ready", "reason"],
)
IN_FLIGHT = Gauge("ecr_operator_passes_in_flight", "Passes running or waiting for an AWS worker thread.")
WAITING = Gauge("ecr_operator_passes_waiting", "Passes waiting for a free AWS worker thread (queue depth).")
READY = Gauge("ecr_operator_ready", "1 while the API server and AWS answer (the readiness probe), else 0.")
FINDINGS = Gauge(
    "ecr_operator_image_findings",
    "Scan findings of the newest image of every EcrRepository this replica serves, summed, by severity (per "
    "resource: kube-state-metrics over status, deploy/monitoring/kube-state-metrics/, or "
    "--per-resource-findings-metrics).",
    ["severity"],
)
RESOURCE_FINDINGS = Gauge(
    "ecr_operator_resource_image_findings",
    "Scan findings of each EcrRepository's newest image, by severity: only with --per-resource-findings-metrics "
    "(six series per resource).",
    ["namespace", "name", "severity"],
)
BUILD = Info("ecr_operator_build", "The operator's version and those of Python, kopf and boto3 (value 1).")
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")

_THROTTLING = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException"})
_PARTS = {"kms": "key", "ecr": "repository"}


def part_of(action: Action) -> str:
    return _PARTS.get(action.service, action.service)


def failed_result(retryable: bool) -> str:
    """A failed pass's result label: ``error`` when the operator retries it (AWS or API server trouble, what the
    error-rate alert watches), ``refused`` when it waits for the user (InvalidSpec, RepositoryNotOwned...)."""
    return "error" if retryable else "refused"


def count_writes(actions: Iterable[Action], trigger: str) -> None:
    corrected: set[str] = set()
    for action in actions:
        part = part_of(action)
        WRITES.labels(part, trigger).inc()
        corrected.add(part)
    if trigger == "resync":
        for part in corrected:
            DRIFT_CORRECTIONS.labels(part).inc()


class ResourceMetrics:
    """Resource uid -> what its status says (kind, Ready status and reason, finding counts), summed into the
    ``ecr_operator_resources`` and ``ecr_operator_image_findings`` gauges; ``per_resource`` adds
    ``ecr_operator_resource_image_findings``."""

    def __init__(self, per_resource: bool = False) -> None:
        self.per_resource = per_resource
        self._ready: dict[str, tuple[str, str, str]] = {}
        self._findings: dict[str, tuple[str, str, dict[str, int]]] = {}

    def observe(self, kind: str, body: Mapping[str, Any]) -> None:
        """The object as the watch delivered it (its status is what the last pass wrote)."""
        metadata, status = body.get("metadata") or {}, body.get("status") or {}
        uid = str(metadata.get("uid"))
        self._ready[uid] = (kind, *(ready_reason(status) or ("Unknown", "")))
        counts = finding_counts(status)
        gone = self._findings.pop(uid, None)
        if counts is not None:
            self._findings[uid] = (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""), counts)
        if self.per_resource and gone is not None and counts is None:
            _remove_resource_findings(gone[0], gone[1])
        self._publish(uid)

    def forget(self, uid: str) -> None:
        self._ready.pop(uid, None)
        gone = self._findings.pop(uid, None)
        if self.per_resource and gone is not None:
            _remove_resource_findings(gone[0], gone[1])
        self._publish(None)

    def _publish(self, changed: str | None) -> None:
        counts = Tally(self._ready.values())
        RESOURCES.clear()
        for (kind, ready, reason), count in counts.items():
            RESOURCES.labels(kind, ready, reason).set(count)
        for severity in SEVERITIES:
            FINDINGS.labels(severity).set(sum(found.get(severity, 0) for _, _, found in self._findings.values()))
        if self.per_resource and changed in self._findings:
            namespace, name, found = self._findings[changed]
            for severity in SEVERITIES:
                RESOURCE_FINDINGS.labels(namespace, name, severity).set(found.get(severity, 0))


def _remove_resource_findings(namespace: str, name: str) -> None:
    for severity in SEVERITIES:
        with contextlib.suppress(KeyError):  # never published
            RESOURCE_FINDINGS.remove(namespace, name, severity)


def finding_counts(status: Mapping[str, Any]) -> dict[str, int] | None:
    """The newest image's finding counts by severity from status (absent severities are 0), or None."""
    counts = (status.get("scan") or {}).get("findingSeverityCounts")
    if not isinstance(counts, Mapping):
        return None
    return {severity: int(counts.get(severity) or 0) for severity in SEVERITIES}


def publish_build_info() -> None:
    def version(distribution: str) -> str:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    BUILD.info(
        {
            "version": version("ecr-operator"),
            "python": platform.python_version(),
            "kopf": version("kopf"),
            "boto3": version("boto3"),
        }
    )


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


def ready_reason(status: Mapping[str, Any]) -> tuple[str, str] | None:
    """(Ready status, reason) from a status (or a patch of it) that has the Ready condition."""
    for condition in status.get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return str(condition.get("status")), str(condition.get("reason", Reason.SYNCED))
    return None
