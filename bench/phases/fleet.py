"""Fleet scale: N resources in batches, then the steady resync state at the production interval."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.harness import (
    PRODUCTION_RESYNC,
    Env,
    Watcher,
    count_calls,
    cpu_seconds,
    create_many,
    log,
    memory_kib,
    wait_all_ready,
)


def phase_fleet(env: Env) -> dict[str, Any]:
    """Fleet scale: N resources created in batches, then the steady state at the production resync interval.

    Per batch (``--fleet-batch``): seconds until the batch is all Ready, operator CPU, peak RSS, AWS calls, so
    linearity and memory growth show. Then the steady state: each resource's first resync comes 0.5-1.5
    intervals after the operator saw it (spread by uid), so from half an interval after the last create on,
    resyncs run at their production rate (N / interval per second). AWS calls and resync passes (lastSyncTime
    changes) are counted over ``--fleet-steady-window`` seconds there; reads per hour = reads in the window x
    3600 / window, measured at the default interval, not extrapolated from another one.
    """
    n, batch = env.args.n, max(1, env.args.fleet_batch)
    namespace = env.namespace("fleet")
    env.moto.reset()
    batches: list[dict[str, Any]] = []
    steady: dict[str, Any] = {}
    with env.operator(namespace, PRODUCTION_RESYNC) as operator:
        watcher = Watcher(env.client, namespace)
        try:
            rss_idle = memory_kib(operator.pid)
            started_all = time.monotonic()
            created = 0
            last_create = started_all
            while created < n:
                names = [f"fl-{i:05d}" for i in range(created, min(n, created + batch))]
                cpu_before = cpu_seconds(operator.pid)
                env.proxy.clear_calls()
                started = time.monotonic()
                submit, errors = create_many(env, namespace, names)
                last_create = time.monotonic()
                done = wait_all_ready(watcher, names, env.args.timeout_all, operator)
                cpu_after = cpu_seconds(operator.pid)
                memory = memory_kib(operator.pid)
                counted = count_calls(env.proxy.calls())
                created += len(names)
                entry = {
                    "resources_total": created,
                    "batch": len(names),
                    "submit_seconds": round(submit, 2),
                    "create_errors": errors[:10],
                    "all_ready_seconds": round(done - started, 2),
                    "ready_per_second": round(len(names) / (done - started), 2),
                    "operator_cpu_seconds": (
                        round(cpu_after - cpu_before, 2) if cpu_after is not None and cpu_before is not None else None
                    ),
                    "vm_hwm_kib": memory.get("VmHWM"),
                    "vm_rss_kib": memory.get("VmRSS"),
                    "aws_calls_per_resource": round((counted["reads"] + counted["writes"]) / len(names), 2),
                    "load_average": list(os.getloadavg()),
                }
                batches.append(entry)
                log(
                    f"fleet: {created}/{n} Ready; batch of {len(names)} in {entry['all_ready_seconds']} s, "
                    f"CPU {entry['operator_cpu_seconds']} s, peak RSS {(entry['vm_hwm_kib'] or 0) / 1024:.1f} MiB"
                )
            all_ready = time.monotonic() - started_all
            window = env.args.fleet_steady_window
            if window > 0:
                steady_from = last_create + PRODUCTION_RESYNC * 0.5 + 5
                wait = steady_from - time.monotonic()
                log(f"fleet: waiting {max(wait, 0):.0f} s for the steady resync state, then counting {window:.0f} s")
                if wait > 0:
                    time.sleep(wait)
                env.proxy.clear_calls()
                cpu_before = cpu_seconds(operator.pid)
                start = time.monotonic()
                time.sleep(window)
                end = time.monotonic()
                cpu_after = cpu_seconds(operator.pid)
                calls = [c for c in env.proxy.calls() if start <= c.started <= end]
                with watcher._cond:
                    passes = sum(1 for history in watcher.sync_times.values() for at, _ in history if start < at <= end)
                counted = count_calls(calls)
                per_pass = max(passes, 1)
                hour = 3600 / (end - start)
                steady = {
                    **counted,
                    "resync_interval": PRODUCTION_RESYNC,
                    "window_seconds": round(end - start, 1),
                    "passes": passes,
                    "passes_per_second": round(passes / (end - start), 2),
                    "expected_passes_per_second": round(n / PRODUCTION_RESYNC, 2),
                    "reads_per_pass": round(counted["reads"] / per_pass, 3),
                    "writes_per_pass": round(counted["writes"] / per_pass, 3),
                    "read_operations_per_pass": {
                        op: round(count / per_pass, 3) for op, count in counted["read_operations"].items()
                    },
                    "reads_per_hour": round(counted["reads"] * hour),
                    "reads_per_hour_method": "AWS reads counted at the proxy in the window x 3600 / window, at the "
                    "production interval in its steady state",
                    "operator_cpu_seconds": (
                        round(cpu_after - cpu_before, 2) if cpu_after is not None and cpu_before is not None else None
                    ),
                    "vm_hwm_kib_after": memory_kib(operator.pid).get("VmHWM"),
                }
                log(f"fleet steady state: {passes} passes, {steady['reads_per_pass']} reads per pass")
        finally:
            watcher.close()
    rates = [b["ready_per_second"] for b in batches]
    return {
        "n": n,
        "batch": batch,
        "resync_interval": PRODUCTION_RESYNC,
        "all_ready_seconds": round(all_ready, 1),
        "operator_cpu_seconds": round(sum(b["operator_cpu_seconds"] or 0 for b in batches), 2),
        # VmHWM never decreases: the last reading (after the steady window, if any) is the peak of the whole phase.
        "peak_rss_kib": max(
            [b["vm_hwm_kib"] or 0 for b in batches] + [(steady.get("vm_hwm_kib_after") or 0) if steady else 0]
        ),
        "rss_idle_kib": rss_idle,
        "batches": batches,
        "ready_per_second_first_last": [rates[0], rates[-1]] if rates else None,
        "steady_resync": steady,
    }
