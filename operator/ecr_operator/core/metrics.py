"""Prometheus metrics (``ecr_operator_<thing>_<unit>``; labels of bounded cardinality, never one per resource
unless ``--per-resource-findings-metrics`` asks for it).

Served with ``/readyz`` by ``runtime/probes.py`` on ``--metrics-port``. The default registry also
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
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter, Gauge, Histogram, Info

from ecr_operator.core.errors import is_throttling
from ecr_operator.core.reasons import Reason

PASSES = Counter(
    "ecr_operator_reconcile_passes_total",
    "Reconcile passes by trigger (change: create/update/resume; resync; event: the pass an AWS event started) and "
    "result (in_sync, applied, problem, observe_only, refused: a permanent refusal that waits for a spec change, "
    "error: retried).",
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
RATE_CUTS = Counter(
    "ecr_operator_aws_rate_cuts_total",
    "Times AWS throttled an operation and the client-side rate of its (account, region) bucket was cut "
    "(multiplicative decrease; it climbs back by itself), by service and operation.",
    ["service", "operation"],
)
AWS_CLIENT_SETS = Gauge(
    "ecr_operator_aws_client_sets",
    "(AWS role, region) client sets cached (at most --client-cache-size).",
)
AWS_CLIENT_EVICTIONS = Counter(
    "ecr_operator_aws_client_evictions_total",
    "(AWS role, region) client sets dropped from the cache, least recently used first (--client-cache-size).",
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
"""The keys of ECR's findingSeverityCounts (basic scanning; an absent key means 0): the findings gauges' labels and
what the EcrRepository's status reports (repository/parts/images.py)."""
_PARTS = {"kms": "key", "ecr": "repository"}
DRIFT_TRIGGERS = ("resync", "event")
"""Passes whose writes correct drift: the periodic resync and a pass an AWS event triggered (runtime/eventqueue.py)."""


class Write(Protocol):
    """An applied action, as the write counters see it (``actions.Action``)."""

    @property
    def service(self) -> str: ...


def failed_result(retryable: bool) -> str:
    """A failed pass's result label: ``error`` when the operator retries it (AWS or API server trouble, what the
    error-rate alert watches), ``refused`` when it waits for the user (InvalidSpec, RepositoryNotOwned...)."""
    return "error" if retryable else "refused"


def count_writes(actions: Iterable[Write], trigger: str, part: str | None = None) -> None:
    """Writes by part, and a resync's writes as one drift correction per part. The part is ``part`` when given,
    else named after the action's service (kms: key, ecr: repository)."""
    corrected: set[str] = set()
    for action in actions:
        name = part or _PARTS.get(action.service, action.service)
        WRITES.labels(name, trigger).inc()
        corrected.add(name)
    if trigger in DRIFT_TRIGGERS:
        for name in corrected:
            DRIFT_CORRECTIONS.labels(name).inc()


@dataclass(frozen=True)
class PassMetrics:
    """Where one kind's passes are counted: its pass counter (``trigger``, ``result``) and, where the kind has them,
    the pass durations and the passes that found AWS in sync; writes count under ``part`` (None: per service)."""

    passes: Counter
    seconds: Histogram | None = None
    in_sync: Counter | None = None
    part: str | None = None


class ResourceMetrics:
    """Resource uid -> what its status says (kind, Ready status and reason, finding counts), summed into the
    ``ecr_operator_resources`` and ``ecr_operator_image_findings`` gauges; ``per_resource`` adds
    ``ecr_operator_resource_image_findings``.

    The sums are kept as they change (a watch event costs the same at 5,000 objects as at 5): a restart's first
    listing delivers every object at once. One per operator process: it owns the gauges and starts them empty."""

    def __init__(self, per_resource: bool = False) -> None:
        self.per_resource = per_resource
        self._ready: dict[str, tuple[str, str, str]] = {}
        self._ready_counts: Tally[tuple[str, str, str]] = Tally()
        self._findings: dict[str, tuple[str, str, dict[str, int]]] = {}
        self._finding_totals: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
        RESOURCES.clear()
        RESOURCE_FINDINGS.clear()
        for severity in SEVERITIES:
            FINDINGS.labels(severity).set(0)

    def observe(self, kind: str, body: Mapping[str, Any]) -> None:
        """The object as the watch delivered it (its status is what the last pass wrote)."""
        metadata, status = body.get("metadata") or {}, body.get("status") or {}
        uid = str(metadata.get("uid"))
        self._count(self._ready.get(uid), -1)
        self._ready[uid] = (kind, *(ready_reason(status) or ("Unknown", "")))
        self._count(self._ready[uid], +1)
        counts = finding_counts(status)
        gone = self._drop_findings(uid)
        if counts is not None:
            namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
            self._findings[uid] = (namespace, name, counts)
            self._add_findings(counts, +1)
            if self.per_resource:
                for severity in SEVERITIES:
                    RESOURCE_FINDINGS.labels(namespace, name, severity).set(counts[severity])
        elif self.per_resource and gone is not None:
            _remove_resource_findings(gone[0], gone[1])

    def forget(self, uid: str) -> None:
        self._count(self._ready.pop(uid, None), -1)
        gone = self._drop_findings(uid)
        if self.per_resource and gone is not None:
            _remove_resource_findings(gone[0], gone[1])

    def _count(self, key: tuple[str, str, str] | None, change: int) -> None:
        if key is None:
            return
        self._ready_counts[key] += change
        if self._ready_counts[key] > 0:
            RESOURCES.labels(*key).set(self._ready_counts[key])
            return
        del self._ready_counts[key]
        with contextlib.suppress(KeyError):
            RESOURCES.remove(*key)

    def _drop_findings(self, uid: str) -> tuple[str, str, dict[str, int]] | None:
        gone = self._findings.pop(uid, None)
        if gone is not None:
            self._add_findings(gone[2], -1)
        return gone

    def _add_findings(self, counts: Mapping[str, int], sign: int) -> None:
        for severity in SEVERITIES:
            self._finding_totals[severity] += sign * counts[severity]
            FINDINGS.labels(severity).set(self._finding_totals[severity])


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
    if is_throttling(code, status):
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
