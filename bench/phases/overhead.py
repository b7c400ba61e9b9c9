"""The harness's own cost per AWS call (the counting proxy), reported next to the operator's numbers."""

from __future__ import annotations

import time
from typing import Any

import boto3

from bench.harness import (
    REGION,
    Env,
    percentile,
)


def proxy_overhead(env: Env, calls: int = 200) -> dict[str, Any]:
    """The harness's own cost per AWS call: the same boto3 call straight to moto and through the proxy.

    ``ecr:DescribeRepositories`` on an empty moto, alternating direct / proxied, ``calls`` of each after a
    warm-up (both clients keep their connection to the first hop; the proxy opens one to moto per call).
    """
    env.moto.reset()
    direct = env.direct_ecr()
    proxied = boto3.client(
        "ecr",
        region_name=REGION,
        endpoint_url=env.proxy.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    samples: dict[str, list[float]] = {"direct": [], "proxy": []}
    for index in range(calls + 10):
        for label, client in (("direct", direct), ("proxy", proxied)):
            started = time.perf_counter()
            client.describe_repositories()
            if index >= 10:
                samples[label].append(1000 * (time.perf_counter() - started))
    env.proxy.clear_calls()
    direct_p50, proxy_p50 = percentile(samples["direct"], 0.5), percentile(samples["proxy"], 0.5)
    assert direct_p50 is not None and proxy_p50 is not None
    return {
        "operation": "ecr:DescribeRepositories (boto3, empty registry)",
        "calls_each": calls,
        "direct_p50_ms": round(direct_p50, 3),
        "proxy_p50_ms": round(proxy_p50, 3),
        "overhead_p50_ms": round(proxy_p50 - direct_p50, 3),
        "direct_p95_ms": round(percentile(samples["direct"], 0.95) or 0.0, 3),
        "proxy_p95_ms": round(percentile(samples["proxy"], 0.95) or 0.0, 3),
    }
