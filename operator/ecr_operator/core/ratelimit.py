"""Client-side request rates within AWS's API quotas: one token bucket per (account, region, service, operation
class), shared by every worker thread, taken on botocore's ``before-send`` event (so every attempt, retries
included, takes a token). A burst of work is spread over time instead of being throttled; botocore's adaptive
retry mode still backs off if AWS throttles anyway (other clients in the account use the same quota).

Rates are requests per second. ``DEFAULT_RATES`` are AWS's documented default quotas (README: *AWS API
quotas*); ``--aws-rate-limits`` overrides entries (``kms:CreateKey=5,ecr:*=20``) and ``--aws-rate-limit-scale``
multiplies them all (leave headroom for other clients of the account, or follow a raised quota).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecr_operator.core import metrics

IAM_PREFIXES = {"ecr": "ecr", "kms": "kms", "resourcegroupstaggingapi": "tag", "sts": "sts"}
"""botocore service name -> the prefix used in rate specs (IAM's action prefix)."""

DEFAULT_RATES: dict[str, float] = {
    # AWS KMS, "Request quotas" (requests per second, per account and Region).
    "kms:CreateKey": 5,
    "kms:CreateAlias": 5,
    "kms:DeleteAlias": 5,
    "kms:ScheduleKeyDeletion": 5,
    "kms:CancelKeyDeletion": 5,
    "kms:EnableKey": 5,
    "kms:EnableKeyRotation": 5,
    "kms:DisableKeyRotation": 5,
    "kms:TagResource": 10,
    "kms:UntagResource": 10,
    "kms:DescribeKey": 2000,
    "kms:GetKeyRotationStatus": 1000,
    "kms:ListResourceTags": 2000,
    "kms:ListKeys": 500,
    "kms:*": 5,
    # Amazon ECR publishes rate quotas for its image push/pull APIs only; the control-plane APIs the operator
    # calls are throttled at undocumented per-account rates. 20/s each is a conservative default.
    "ecr:*": 20,
    # Resource Groups Tagging API: no published per-operation rate; conservative.
    "tag:GetResources": 5,
    "tag:*": 5,
}

BURST_SECONDS = 0.5
"""A bucket holds half a second of requests: a client burst never exceeds what AWS's own one-second bucket
absorbs, so arrival jitter on the wire does not turn into throttles."""


def parse_rates(text: str) -> dict[str, float]:
    """``"kms:CreateKey=5, ecr:*=20"`` -> ``{"kms:CreateKey": 5.0, "ecr:*": 20.0}``; raises ValueError."""
    rates: dict[str, float] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        name, sep, value = entry.partition("=")
        service, colon, operation = name.strip().partition(":")
        if not sep or not colon or not service or not operation:
            raise ValueError(f"{entry!r}: expected service:Operation=rate (e.g. kms:CreateKey=5, ecr:*=20)")
        rate = float(value)
        if not rate > 0:
            raise ValueError(f"{entry!r}: the rate must be a positive number of requests per second")
        rates[f"{service.strip()}:{operation.strip()}"] = rate
    return rates


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity``; ``acquire`` waits for one. Thread-safe, first come first
    served by reservation: a caller reserves the next token time under the lock and sleeps outside it."""

    def __init__(
        self,
        rate: float,
        capacity: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = capacity
        self._updated = clock()

    def reserve(self) -> float:
        """Take a token; returns how long the caller must wait before using it (0 when one was available)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Wait for a token; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


@dataclass
class RateLimiter:
    """Buckets by (account, region, rate key); a rate key is ``service:Operation`` when configured, else
    ``service:*`` (one bucket for the service's other operations), else unlimited."""

    rates: Mapping[str, float]
    burst_seconds: float = BURST_SECONDS
    _buckets: dict[tuple[str, str, str], TokenBucket] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, spec: str, scale: float) -> RateLimiter | None:
        """The limiter for ``--aws-rate-limits`` (``off``: none) and ``--aws-rate-limit-scale``."""
        if spec.strip().lower() == "off":
            return None
        rates = {**DEFAULT_RATES, **parse_rates(spec)}
        return cls({key: rate * scale for key, rate in rates.items()})

    def rate_key(self, prefix: str, operation: str) -> str | None:
        for key in (f"{prefix}:{operation}", f"{prefix}:*"):
            if key in self.rates:
                return key
        return None

    def bucket(self, account: str, region: str, prefix: str, operation: str) -> TokenBucket | None:
        key = self.rate_key(prefix, operation)
        if key is None:
            return None
        with self._guard:
            bucket = self._buckets.get((account, region, key))
            if bucket is None:
                rate = self.rates[key]
                bucket = TokenBucket(rate, max(1.0, rate * self.burst_seconds))
                self._buckets[(account, region, key)] = bucket
            return bucket

    def instrument(self, client: Any, account: str) -> None:
        """Every request ``client`` sends (each retry too) first takes a token of its operation's bucket."""
        service = str(client.meta.service_model.service_name)
        prefix = IAM_PREFIXES.get(service, service)
        service_id = str(client.meta.service_model.service_id.hyphenize())
        region = str(client.meta.region_name)

        def before_send(**kwargs: Any) -> None:
            operation = str(kwargs.get("event_name", "")).rsplit(".", 1)[-1]
            bucket = self.bucket(account, region, prefix, operation)
            if bucket is not None:
                waited = bucket.acquire()
                if waited:
                    metrics.RATE_LIMITED_SECONDS.labels(prefix, operation).inc(waited)

        client.meta.events.register(f"before-send.{service_id}", before_send)
