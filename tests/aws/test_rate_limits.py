"""The client-side rate limiter against a proxy that throttles like AWS above per-operation rates: the same burst
of reconcile passes gets throttled without the limiter and never with it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from aws_harness import REGION, PartsHarness

from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.ratelimit import RateLimiter
from ecr_operator.repository.reconcile import reconcile
from ecr_operator_dev import AwsProxy, MotoServer

RATES = {"kms:CreateKey": 4.0, "kms:*": 4.0, "kms:DescribeKey": 50.0, "ecr:*": 12.0, "tag:*": 5.0}
BURST = 12


def _burst(
    aws: PartsHarness, moto: MotoServer, session: boto3.session.Session, limiter: RateLimiter | None, label: str
) -> tuple[int, int]:
    """BURST resources reconciled at once from 8 threads; returns (throttled responses, resources converged)."""
    moto.reset()
    desired = [aws.desired({"repositoryName": f"{label}-{i}"}, name=f"{label}-{i}") for i in range(BURST)]
    with AwsProxy(upstream=moto.endpoint_url) as proxy, pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", proxy.endpoint_url)
        proxy.enforce_rates(RATES)
        clients = ClientFactory(session, limiter=limiter).for_region(REGION)

        def one(d: object) -> bool:
            try:
                reconcile(clients, d)  # type: ignore[arg-type]
            except OperatorError:
                return False
            return True

        with ThreadPoolExecutor(8) as pool:
            converged = sum(pool.map(one, desired))
        throttled = sum(1 for call in proxy.calls() if call.injected == "rate")
    return throttled, converged


def test_the_limiter_spreads_a_burst_within_the_quotas(
    aws: PartsHarness, moto_server: MotoServer, aws_session: boto3.session.Session
) -> None:
    throttled_without, _ = _burst(aws, moto_server, aws_session, None, "off")
    assert throttled_without > 0, "the proxy throttles a burst the limiter does not spread"
    throttled_with, converged = _burst(aws, moto_server, aws_session, RateLimiter(RATES), "on")
    assert throttled_with == 0
    assert converged == BURST
