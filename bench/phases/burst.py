"""Bursts of AES256 repositories (no KMS quota applies) applied at once: the default limiter against none.

With every ECR control-plane operation adaptive (unlimited until AWS throttles), the default operator should run a
burst as fast as ``--aws-rate-limits off``; the proxy enforces no rate here, as moto does not.
"""

from __future__ import annotations

import time
from typing import Any

from bench.harness import (
    PRODUCTION_RESYNC,
    Env,
    Watcher,
    count_calls,
    cpu_seconds,
    create_many,
    load,
    log,
    percentile,
    wait_all_ready,
)

SETTINGS = {"defaults": [], "limiter_off": ["--aws-rate-limits", "off"]}


def _run(env: Env, n: int, label: str, extra: list[str]) -> dict[str, Any]:
    namespace = env.namespace(f"burst-{label.replace('_', '-')}")
    env.moto.reset()
    names = [f"b-{i:04d}" for i in range(n)]
    with env.operator(namespace, PRODUCTION_RESYNC, extra) as operator:
        watcher = Watcher(env.client, namespace)
        try:
            before = load()
            cpu_before = cpu_seconds(operator.pid)
            env.proxy.clear_calls()
            started = time.monotonic()
            create_many(env, namespace, names, encryption="AES256")
            last = wait_all_ready(watcher, names, env.args.timeout_all, operator)
            cpu_after = cpu_seconds(operator.pid)
            with watcher._cond:
                times = sorted(watcher.ready_at[(name, 1)] - started for name in names)
            calls = env.proxy.calls()
        finally:
            watcher.close()
    counted = count_calls(calls)
    result = {
        "n": n,
        "settings": label,
        "operator_args": extra,
        "all_ready_seconds": round(last - started, 2),
        "median_ready_seconds": round(percentile(times, 0.5) or 0.0, 2),
        "operator_cpu_seconds": (
            round(cpu_after - cpu_before, 2) if cpu_after is not None and cpu_before is not None else None
        ),
        "aws_calls_per_resource": round((counted["reads"] + counted["writes"]) / n, 2),
        "throttled_responses": sum(1 for c in calls if c.injected == "rate"),
        "load_before": before,
        "load_after": load(),
    }
    log(f"burst {n} ({label}): all Ready in {result['all_ready_seconds']} s, CPU {result['operator_cpu_seconds']} s")
    return result


def phase_burst(env: Env) -> dict[str, Any]:
    """Each size in ``--burst-sizes``, ``--burst-runs`` times, alternating the default settings and limiter off."""
    sizes = [int(size) for size in env.args.burst_sizes.split(",") if size.strip()]
    runs: list[dict[str, Any]] = []
    for n in sizes:
        for repetition in range(env.args.burst_runs):
            order = list(SETTINGS.items()) if repetition % 2 == 0 else list(reversed(SETTINGS.items()))
            for label, extra in order:
                runs.append(_run(env, n, label, extra))
    summary: dict[str, Any] = {}
    for n in sizes:
        of_size = [r for r in runs if r["n"] == n]
        by = {label: [r["all_ready_seconds"] for r in of_size if r["settings"] == label] for label in SETTINGS}
        best = {label: min(values) for label, values in by.items()}
        summary[str(n)] = {
            "all_ready_seconds": by,
            "best_defaults_over_best_off": round(best["defaults"] / best["limiter_off"], 3),
            "median_defaults_over_median_off": round(
                (percentile(by["defaults"], 0.5) or 0.0) / (percentile(by["limiter_off"], 0.5) or 1.0), 3
            ),
        }
    return {"encryption": "AES256", "resync_interval": PRODUCTION_RESYNC, "runs": runs, "summary": summary}
