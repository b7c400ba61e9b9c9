"""N resources at once against a proxy that throttles like AWS above its request quotas: limiter off, then on.

The proxy throttles each API on its own (``per_operation``): at AWS's published quotas where there are some, and at
``--quota-hidden-rate`` per operation where AWS publishes none (the rate the adaptive buckets have to find)."""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

from bench.harness import PRODUCTION_RESYNC, Env, Watcher, count_calls, create_many, log, wait_all_ready


def _quota_run(env: Env, rates: dict[str, float], limiter_args: list[str], label: str) -> dict[str, Any]:
    n = env.args.n
    namespace = env.namespace(f"quotas-{label}")
    env.moto.reset()
    names = [f"q-{i:04d}" for i in range(n)]
    env.proxy.enforce_rates(rates, per_operation=True)
    try:
        with env.operator(namespace, PRODUCTION_RESYNC, limiter_args) as operator:
            watcher = Watcher(env.client, namespace)
            try:
                env.proxy.clear_calls()
                load_before = os.getloadavg()
                started = time.monotonic()
                create_many(env, namespace, names, encryption=env.args.quota_encryption)
                log(f"quotas ({label}): {n} created, waiting for Ready")
                all_ready = wait_all_ready(watcher, names, env.args.timeout_all, operator) - started
                calls = env.proxy.calls()
            finally:
                watcher.close()
    finally:
        env.proxy.enforce_rates(None)
    throttled: Counter[str] = Counter()
    served: Counter[str] = Counter()
    for call in calls:
        prefix = {"tagging": "tag"}.get(call.service, call.service)
        key = next((k for k in (f"{prefix}:{call.operation}", f"{prefix}:*") if k in rates), None)
        if call.injected == "rate":
            throttled[f"{prefix}:{call.operation}"] += 1
        elif key is not None:
            served[f"{prefix}:{call.operation}"] += 1

    # The quota-bound minimum: every bucket must serve the calls that used it at its rate, so the run cannot end
    # before the busiest bucket has: max over buckets of calls / rate.
    def rate_of(operation: str) -> float:
        prefix = operation.split(":")[0]
        return rates[operation] if operation in rates else rates[f"{prefix}:*"]

    bound = {key: round(count / rate_of(key), 2) for key, count in served.items()}
    minimum = max(bound.values()) if bound else 0.0
    return {
        "n": n,
        "all_ready_seconds": round(all_ready, 2),
        "throttled_responses": sum(throttled.values()),
        "throttled_share": round(sum(throttled.values()) / max(1, len(calls)), 4),
        "throttled_by_operation": dict(sorted(throttled.items())),
        "served_by_bucket": dict(sorted(served.items())),
        "seconds_by_bucket_at_quota": dict(sorted(bound.items(), key=lambda kv: -kv[1])),
        "quota_bound_minimum_seconds": minimum,
        "vs_minimum": round(all_ready / minimum, 3) if minimum else None,
        "aws_calls": count_calls(calls),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def phase_quotas(env: Env) -> dict[str, Any]:
    """The same burst twice against AWS-like rate quotas (scaled by --quota-scale): limiter off, then on (its
    defaults: published quotas held, the others adaptive)."""
    from ecr_operator.core.ratelimit import DEFAULT_RATES

    scale = env.args.quota_scale
    hidden = env.args.quota_hidden_rate
    rates = {key: (hidden if rate is None else rate) * scale for key, rate in DEFAULT_RATES.items()}
    off = _quota_run(env, rates, ["--aws-rate-limits", "off"], "off")
    on = _quota_run(env, rates, ["--aws-rate-limit-scale", str(scale)], "on")
    return {
        "quota_scale": scale,
        "hidden_rate": hidden,
        "encryption": env.args.quota_encryption,
        "rates": rates,
        "limiter_off": off,
        "limiter_on": on,
    }
