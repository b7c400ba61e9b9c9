"""The client-side rate limiter against a proxy that throttles like AWS above per-operation rates: published quotas
are held (a burst is spread, never throttled), and where no quota is published the adaptive buckets find AWS's rate
from its throttles and converge without a storm."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from aws_harness import REGION, PartsHarness

from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.ratelimit import DEFAULT_RATES, RateLimiter
from ecr_operator.repository.reconcile import reconcile
from ecr_operator_dev import AwsProxy, MotoServer

AES256 = {"encryption": {"type": "AES256"}}


def _burst(
    moto: MotoServer,
    session: boto3.session.Session,
    desired: list[Any],
    rates: Mapping[str, float],
    limiter: RateLimiter | None,
) -> tuple[Counter[str], int]:
    """The resources reconciled at once from 8 threads against AWS-like quotas (``service:*`` per operation);
    returns (throttled responses by operation, resources converged)."""
    moto.reset()
    with AwsProxy(upstream=moto.endpoint_url) as proxy, pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", proxy.endpoint_url)
        proxy.enforce_rates(dict(rates), per_operation=True)
        clients = ClientFactory(session, limiter=limiter).for_region(REGION)

        def one(d: object) -> bool:
            try:
                reconcile(clients, d)  # type: ignore[arg-type]
            except OperatorError:
                return False
            return True

        with ThreadPoolExecutor(8) as pool:
            converged = sum(pool.map(one, desired))
        throttled = Counter(f"{call.service}:{call.operation}" for call in proxy.calls() if call.injected == "rate")
    return throttled, converged


def test_published_quotas_are_held_a_burst_is_spread_never_throttled(
    aws: PartsHarness, moto_server: MotoServer, aws_session: boto3.session.Session
) -> None:
    # KMS's write quotas (scaled down so that 12 keys exceed them), published: the limiter holds them.
    published = {"kms:CreateKey": 4.0, "kms:CreateAlias": 4.0, "kms:EnableKeyRotation": 4.0}
    aws_side = {**published, "kms:*": 50.0, "ecr:*": 50.0, "tag:*": 20.0}
    desired = [aws.desired({"repositoryName": f"kms-{i}"}, name=f"kms-{i}") for i in range(12)]

    throttled_without, _ = _burst(moto_server, aws_session, desired, aws_side, None)
    assert sum(throttled_without.values()) > 0, "the proxy throttles a burst the limiter does not spread"

    limiter = RateLimiter({**DEFAULT_RATES, **published})
    throttled_with, converged = _burst(moto_server, aws_session, desired, aws_side, limiter)
    assert converged == len(desired)
    assert not throttled_with, "every quota was held"


def test_unpublished_quotas_are_found_from_throttles_and_the_burst_converges_without_a_storm(
    aws: PartsHarness, moto_server: MotoServer, aws_session: boto3.session.Session
) -> None:
    # AWS publishes no rate for CreateRepository, PutLifecyclePolicy, ...: the proxy throttles each ECR API above
    # 4/s, the limiter (its defaults: ECR's control plane adaptive) has to find that rate.
    aws_side = {"ecr:*": 4.0, "kms:*": 50.0, "tag:*": 20.0}
    n = 40
    desired = [aws.desired({"repositoryName": f"aes-{i}", **AES256}, name=f"aes-{i}") for i in range(n)]

    limiter = RateLimiter(dict(DEFAULT_RATES))
    throttled, converged = _burst(moto_server, aws_session, desired, aws_side, limiter)
    assert converged == n
    assert throttled, "the burst exceeds AWS's rate: the adaptive path is taken"
    for operation, count in throttled.items():
        bucket = limiter.bucket("", REGION, *operation.split(":"))
        assert bucket is not None and bucket.cuts >= 1, operation
        rate = bucket.rate()
        assert rate is None or rate < 3 * 4, f"{operation} paced near AWS's rate"
        # n calls of the operation at 4/s (10 s or more): a few throttles to find the rate, not one per call.
        assert count <= 8, throttled
