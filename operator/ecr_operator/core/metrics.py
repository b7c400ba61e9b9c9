"""Prometheus metrics (``ecr_operator_<thing>_<unit>``; labels of bounded cardinality, never one per resource).

Served with ``/readyz`` by ``runtime/probes.py`` on ``--metrics-port``. The default registry also
carries the process and Python collectors (CPU, memory, file descriptors, GC).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter, Gauge, Histogram

from ecr_operator.core.errors import is_throttling
from ecr_operator.core.reasons import Reason

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
    "EcrRepository resources this replica has handled, by the reason of their Ready condition.",
    ["ready", "reason"],
)
IN_FLIGHT = Gauge("ecr_operator_passes_in_flight", "Passes running or waiting for an AWS worker thread.")
WAITING = Gauge("ecr_operator_passes_waiting", "Passes waiting for a free AWS worker thread (queue depth).")
READY = Gauge("ecr_operator_ready", "1 while the API server and AWS answer (the readiness probe), else 0.")
_PARTS = {"kms": "key", "ecr": "repository"}
DRIFT_TRIGGERS = ("resync", "event")
"""Passes whose writes correct drift: the periodic resync and a pass an AWS event triggered (runtime/eventqueue.py)."""


class Write(Protocol):
    """An applied action, as the write counters see it (``actions.Action``)."""

    @property
    def service(self) -> str: ...


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


def ready_reason(status_patch: Mapping[str, Any]) -> tuple[str, str] | None:
    """(Ready status, reason) from a status patch the report wrote, if it has the Ready condition."""
    for condition in status_patch.get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status")), str(condition.get("reason", Reason.SYNCED))
    return None
