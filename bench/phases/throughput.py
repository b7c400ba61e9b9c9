"""N resources applied at once: time until all are Ready, the Ready curve, CPU of every process, AWS calls."""

from __future__ import annotations

import time
from typing import Any

from bench.harness import (
    CURVE_STEP,
    PRODUCTION_RESYNC,
    Env,
    Watcher,
    count_calls,
    cpu_delta,
    create_many,
    log,
    memory_kib,
    percentile,
    process_cpu,
    wait_all_ready,
)


def phase_throughput(env: Env) -> dict[str, Any]:
    n = env.args.n
    namespace = env.namespace("throughput")
    env.moto.reset()
    names = [f"tp-{i:04d}" for i in range(n)]
    with env.operator(namespace, PRODUCTION_RESYNC) as operator:
        watcher = Watcher(env.client, namespace)
        try:
            rss_idle = memory_kib(operator.pid)
            cpu_before = process_cpu(env, operator)
            env.proxy.clear_calls()
            started = time.monotonic()
            submit_seconds, errors = create_many(env, namespace, names)
            log(f"throughput: {n} created in {submit_seconds:.1f}s, waiting for Ready")
            last_ready = wait_all_ready(watcher, names, env.args.timeout_all, operator)
            all_ready = last_ready - started
            cpu_after = process_cpu(env, operator)
            rss_after = memory_kib(operator.pid)
            calls = env.proxy.calls()
            with watcher._cond:
                times = sorted(watcher.ready_at[(name, 1)] - started for name in names)
        finally:
            watcher.close()
    curve: list[list[float]] = []
    step = 0.0
    while True:
        curve.append([round(step, 2), sum(1 for t in times if t <= step)])
        if step >= all_ready:
            break
        step += CURVE_STEP
    cpu = cpu_delta(cpu_before, cpu_after)
    counted = count_calls(calls)
    return {
        "n": n,
        "resync_interval": PRODUCTION_RESYNC,
        "submit_seconds": round(submit_seconds, 3),
        "create_errors": errors,
        "all_ready_seconds": round(all_ready, 3),
        "first_ready_seconds": round(times[0], 3) if times else None,
        "median_ready_seconds": percentile(times, 0.5),
        "ready_per_second": round(n / all_ready, 2) if all_ready > 0 else None,
        "ready_curve": {"step_seconds": CURVE_STEP, "points": curve},
        "cpu_seconds": cpu,
        "operator_cpu_seconds": cpu["operator"],
        "operator_cpu_seconds_per_resource": round(cpu["operator"] / n, 4) if cpu["operator"] else None,
        "operator_rss_kib": {"idle": rss_idle, "after_all_ready": rss_after},
        "aws_calls": counted,
        "aws_calls_per_resource": round((counted["reads"] + counted["writes"]) / n, 2),
    }
