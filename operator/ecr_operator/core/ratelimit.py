"""Client-side request rates shaped like AWS's throttles: one bucket per (account, region, operation), shared by
every worker thread and every pass, taken on botocore's ``before-send`` event (so every attempt, retries
included, takes a token) and told of every throttling answer on ``response-received``.

AWS throttles each API of an account and Region on its own. Where AWS publishes the rate (KMS's *Request
quotas*; ECR's image push/pull APIs) the bucket holds it. Where it does not (ECR's control-plane APIs, the
Resource Groups Tagging API, KMS operations the page does not list) a cap would be a guess, so the bucket
**adapts** instead: it starts unlimited, and a ``ThrottlingException`` (or HTTP 429) for that operation cuts its
rate multiplicatively (to ``BETA`` x the rate it was sending at; from unlimited, what it sent in the last
second), after which it climbs back linearly to that
rate within ``RECOVERY_SECONDS`` and then probes beyond it, doubling every ``RECOVERY_SECONDS`` until it is
unlimited again (AIMD, like TCP's congestion window and botocore's adaptive retry mode). A published rate is
adapted the same way below its quota, since other clients of the account spend the same quota.

Rates are requests per second. ``DEFAULT_RATES`` is the table (README: *AWS API quotas*, kept equal by a test);
``--aws-rate-limits`` overrides entries (``kms:CreateKey=5,ecr:*=20,tag:*=adaptive``) and
``--aws-rate-limit-scale`` multiplies the fixed ones (leave headroom for other clients, or follow a raised quota).
"""

from __future__ import annotations

import contextvars
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ecr_operator.core import metrics

IAM_PREFIXES = {"ecr": "ecr", "kms": "kms", "resourcegroupstaggingapi": "tag", "sts": "sts"}
"""botocore service name -> the prefix used in rate specs (IAM's action prefix)."""

ADAPTIVE = "adaptive"
"""The rate spec of an operation without a published quota: ``ecr:*=adaptive``."""

DEFAULT_RATES: dict[str, float | None] = {
    # AWS KMS Developer Guide, "Request quotas" (requests per second, per account and Region); the README's
    # *AWS API quotas* table states the same figures and a unit test keeps the two equal.
    "kms:CreateKey": 5,
    "kms:CreateAlias": 5,
    "kms:DeleteAlias": 15,
    "kms:ScheduleKeyDeletion": 15,
    "kms:CancelKeyDeletion": 5,
    "kms:EnableKey": 5,
    "kms:EnableKeyRotation": 15,
    "kms:DisableKeyRotation": 5,
    "kms:TagResource": 10,
    "kms:UntagResource": 5,
    "kms:DescribeKey": 2000,
    "kms:GetKeyRotationStatus": 1000,
    "kms:ListResourceTags": 2000,
    "kms:ListKeys": 500,
    "kms:*": None,
    # Amazon ECR User Guide, "Amazon ECR service quotas": rates are published for the image APIs only.
    "ecr:BatchCheckLayerAvailability": 1000,
    "ecr:BatchGetImage": 2000,
    "ecr:CompleteLayerUpload": 100,
    "ecr:GetAuthorizationToken": 500,
    "ecr:GetDownloadUrlForLayer": 3000,
    "ecr:InitiateLayerUpload": 100,
    "ecr:PutImage": 10,
    "ecr:UploadLayerPart": 500,
    # The control-plane APIs (CreateRepository, DescribeRepositories, PutLifecyclePolicy, ...) are throttled per
    # API at rates AWS does not publish: adaptive.
    "ecr:*": None,
    # Resource Groups Tagging API: no published rate.
    "tag:*": None,
}
"""``service:Operation`` (or ``service:*``: each other operation of the service) -> AWS's published quota in
requests per second, or None where AWS publishes none (adaptive)."""

BURST_SECONDS = 0.5
"""A bucket holds half a second of requests: a client burst never exceeds what AWS's own one-second bucket
absorbs, so arrival jitter on the wire does not turn into throttles."""
BETA = 0.7
"""A throttled bucket's rate is cut to BETA x the rate that was throttled (botocore's adaptive mode uses 0.7)."""
RECOVERY_SECONDS = 10.0
"""After a cut the rate climbs back linearly to the throttled rate within this time, then doubles every as long."""
FLOOR = 0.2
"""The lowest rate a cut goes to (requests per second)."""
YIELDING: contextvars.ContextVar[bool] = contextvars.ContextVar("ecr_operator_aws_yielding", default=False)
"""Set for background work (runtime/scheduler.py): its requests take only tokens available now (``reserve``)."""
UNLIMITED_ABOVE = 1000.0
"""An adaptive bucket that has probed past this rate without a throttle is unlimited again."""
MEASURE_SECONDS = 1.0
"""An unlimited bucket's rate, when it is first throttled, is what it sent in this last window (what AWS let
through would be a better estimate, but its answers come later than the throttles')."""


def parse_rates(text: str) -> dict[str, float | None]:
    """``"kms:CreateKey=5, ecr:*=adaptive"`` -> ``{"kms:CreateKey": 5.0, "ecr:*": None}``; raises ValueError."""
    rates: dict[str, float | None] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        name, sep, value = entry.partition("=")
        service, colon, operation = name.strip().partition(":")
        if not sep or not colon or not service or not operation:
            raise ValueError(f"{entry!r}: expected service:Operation=rate (e.g. kms:CreateKey=5, ecr:*=adaptive)")
        key = f"{service.strip()}:{operation.strip()}"
        if value.strip().lower() == ADAPTIVE:
            rates[key] = None
            continue
        rate = float(value)
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"{entry!r}: the rate must be a positive number of requests per second, or 'adaptive'")
        rates[key] = rate
    return rates


class AdaptiveBucket:
    """A token bucket whose rate AIMD-adapts to throttling, never above ``ceiling`` (None: no ceiling, and
    unlimited until the first throttle). Thread-safe; first come first served by reservation: a caller reserves
    the next token time under the lock and sleeps outside it."""

    def __init__(
        self,
        ceiling: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        burst_seconds: float = BURST_SECONDS,
    ) -> None:
        if ceiling is not None and not ceiling > 0:
            raise ValueError("ceiling must be > 0 (or None)")
        self.ceiling = ceiling
        self._burst_seconds = burst_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self._capacity(ceiling) if ceiling is not None else 0.0
        self._updated = clock()
        self._cut_at: float | None = None
        """When the rate was last cut (None: at the ceiling, or unlimited)."""
        self._cut_rate = 0.0
        self._throttled_rate = 0.0
        self._sent: deque[float] = deque()
        """Send times within the last MEASURE_SECONDS while unlimited (what a first throttle measures)."""
        self.cuts = 0

    def _capacity(self, rate: float) -> float:
        return max(1.0, rate * self._burst_seconds)

    def rate(self) -> float | None:
        """The rate now (requests per second); None: unlimited."""
        with self._lock:
            return self._rate_at(self._clock())

    def _rate_at(self, now: float) -> float | None:
        if self._cut_at is None:
            return self.ceiling
        since = now - self._cut_at
        if since <= RECOVERY_SECONDS:  # additive: linear back to the rate that was throttled
            rate = self._cut_rate + (self._throttled_rate - self._cut_rate) * since / RECOVERY_SECONDS
        else:  # then probing beyond it
            rate = self._throttled_rate * 2.0 ** ((since - RECOVERY_SECONDS) / RECOVERY_SECONDS)
        limit = self.ceiling if self.ceiling is not None else UNLIMITED_ABOVE
        if rate >= limit:
            self._cut_at = None
            return self.ceiling
        return rate

    def reserve(self, yielding: bool = False) -> float | None:
        """Take a token; returns how long the caller must wait before sending (0 when one was available).

        ``yielding`` (background work): only a token available now is taken, never a place in the queue of waiting
        callers; None when there is none (the caller waits a token's time and asks again), so interactive callers
        arriving meanwhile go first."""
        with self._lock:
            now = self._clock()
            rate = self._rate_at(now)
            if rate is None:
                self._sent.append(now)
                while self._sent[0] < now - MEASURE_SECONDS:
                    self._sent.popleft()
                self._updated = now
                return 0.0
            self._tokens = min(self._capacity(rate), self._tokens + (now - self._updated) * rate)
            self._updated = now
            if yielding and self._tokens < 1:
                return None
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / rate

    def acquire(self, yielding: bool = False) -> float:
        """Wait for a token; returns the seconds waited."""
        waited = 0.0
        while (wait := self.reserve(yielding)) is None:
            pause = 1.0 / (self.rate() or 1.0)
            self._sleep(pause)
            waited += pause
        if wait > 0:
            self._sleep(wait)
        return waited + wait

    def throttled(self, sent_at: float) -> bool:
        """AWS throttled a request sent at ``sent_at``: cut the rate, unless the cut for an earlier request already
        covers it (a request sent before the last cut says nothing about the new rate). Returns whether it cut."""
        with self._lock:
            if self._cut_at is not None and sent_at < self._cut_at:
                return False
            now = self._clock()
            current = self._rate_at(now)
            if current is None:
                sent = sum(1 for t in self._sent if t >= now - MEASURE_SECONDS)
                current = max(1.0, sent / MEASURE_SECONDS)
                self._sent.clear()
            self._throttled_rate = current
            self._cut_rate = max(FLOOR, current * BETA)
            self._cut_at = now
            self._tokens = min(self._tokens, 0.0)
            self._updated = now
            self.cuts += 1
            return True


@dataclass
class RateLimiter:
    """Buckets by (account, region, service:Operation). An operation's ceiling is its own entry's rate, else its
    service's ``service:*`` entry's (each operation still its own bucket); without either, no bucket."""

    rates: Mapping[str, float | None]
    burst_seconds: float = BURST_SECONDS
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _buckets: dict[tuple[str, str, str], AdaptiveBucket] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _sent: threading.local = field(default_factory=threading.local)
    """The bucket and send time of the request this thread has in flight (botocore sends synchronously)."""

    @classmethod
    def from_settings(cls, spec: str, scale: float) -> RateLimiter | None:
        """The limiter for ``--aws-rate-limits`` (``off``: none) and ``--aws-rate-limit-scale``."""
        if spec.strip().lower() == "off":
            return None
        rates = {**DEFAULT_RATES, **parse_rates(spec)}
        return cls({key: None if rate is None else rate * scale for key, rate in rates.items()})

    def rate_key(self, prefix: str, operation: str) -> str | None:
        for key in (f"{prefix}:{operation}", f"{prefix}:*"):
            if key in self.rates:
                return key
        return None

    def bucket(self, account: str, region: str, prefix: str, operation: str) -> AdaptiveBucket | None:
        key = self.rate_key(prefix, operation)
        if key is None:
            return None
        name = f"{prefix}:{operation}"
        with self._guard:
            bucket = self._buckets.get((account, region, name))
            if bucket is None:
                bucket = AdaptiveBucket(self.rates[key], self.clock, self.sleep, self.burst_seconds)
                self._buckets[(account, region, name)] = bucket
            return bucket

    def instrument(self, client: Any, account: str) -> None:
        """Every request ``client`` sends (each retry too) first takes a token of its operation's bucket, and every
        throttling answer cuts that bucket's rate."""
        service = str(client.meta.service_model.service_name)
        prefix = IAM_PREFIXES.get(service, service)
        service_id = str(client.meta.service_model.service_id.hyphenize())
        region = str(client.meta.region_name)

        def before_send(**kwargs: Any) -> None:
            operation = str(kwargs.get("event_name", "")).rsplit(".", 1)[-1]
            bucket = self.bucket(account, region, prefix, operation)
            self._sent.bucket = bucket
            if bucket is None:
                return
            waited = bucket.acquire(YIELDING.get())
            self._sent.at = self.clock()
            if waited:
                metrics.RATE_LIMITED_SECONDS.labels(prefix, operation).inc(waited)

        def received(
            response_dict: dict[str, Any] | None = None,
            parsed_response: dict[str, Any] | None = None,
            exception: BaseException | None = None,
            **kwargs: Any,
        ) -> None:
            bucket: AdaptiveBucket | None = getattr(self._sent, "bucket", None)
            self._sent.bucket = None
            if bucket is None:
                return
            status = SimpleNamespace(status_code=(response_dict or {}).get("status_code"))
            if metrics.aws_outcome(status, parsed_response, exception) == "throttled" and bucket.throttled(
                self._sent.at
            ):
                operation = str(kwargs.get("event_name", "")).rsplit(".", 1)[-1]
                metrics.RATE_CUTS.labels(prefix, operation).inc()

        client.meta.events.register(f"before-send.{service_id}", before_send)
        client.meta.events.register(f"response-received.{service_id}", received)
