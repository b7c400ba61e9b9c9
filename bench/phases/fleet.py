"""Fleet scale: N resources in batches, then the steady resync state at the production interval."""

from __future__ import annotations

import os
import time
from typing import Any

import kubernetes

from bench.harness import (
    GROUP,
    PLURAL,
    PRODUCTION_RESYNC,
    VERSION,
    Env,
    Watcher,
    count_calls,
    cpu_seconds,
    create_many,
    histogram_quantiles,
    load,
    log,
    manifest,
    memory_kib,
    scrape,
    summary,
    wait_all_ready,
)

INVENTORY_READS = ("ecr:DescribeImages", "ecr:DescribeImageScanFindings")


def _per_resource_hour(
    calls: list[Any], timers: dict[str, Any], n: int, inventory_interval: float, window: float
) -> dict[str, Any]:
    """Reads per resource and hour at the default intervals, from the reads per pass measured in the window (the
    window holds resyncs at their steady rate, but may hold only the first of the inventory timer's runs)."""
    resyncs = timers["resync_lag_seconds"]["count"]
    inventories = timers["queue_wait_seconds"]["inventory"]["count"]
    counted = count_calls(calls)["read_operations"]
    inventory_reads = sum(counted.get(op, 0) for op in INVENTORY_READS)
    probe_reads = counted.get("sts:GetCallerIdentity", 0)
    resync_reads = sum(counted.values()) - inventory_reads - probe_reads
    per_resync = resync_reads / resyncs if resyncs else None
    per_inventory = inventory_reads / inventories if inventories else 1.0  # DescribeImages of an empty repository
    hourly = (per_resync or 0) * 3600 / PRODUCTION_RESYNC + per_inventory * 3600 / inventory_interval
    return {
        "resync_passes_counted_by_operator": resyncs,
        "inventory_passes_counted_by_operator": inventories,
        "reads_per_resync_pass": round(per_resync, 3) if per_resync is not None else None,
        "reads_per_inventory_pass": round(per_inventory, 3),
        "readiness_probe_reads_per_hour": round(probe_reads * 3600 / window),
        "reads_per_resource_per_hour_at_default_intervals": round(hourly, 2),
        "reads_per_resource_per_hour_method": "reads per resync pass x 3600 / 600 + reads per inventory pass x 3600 /"
        " inventory interval (passes counted by the operator's histograms in the window; the readiness probe's"
        " sts:GetCallerIdentity is per process, not per resource, and left out)",
    }


def _interactive(env: Env, namespace: str, watcher: Watcher, count: int) -> dict[str, Any]:
    """``count`` creates and edits made one at a time while the fleet's background runs: seconds to Ready."""
    created: list[float] = []
    edited: list[float] = []
    with env.client() as client:
        api = kubernetes.client.CustomObjectsApi(client)
        for index in range(count):
            name = f"probe-{index:03d}"
            started = time.monotonic()
            api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest(name, namespace))
            created.append(watcher.wait_ready(name, 1, env.args.timeout) - started)
            started = time.monotonic()
            patched = api.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, {"spec": {"lifecycle": {"maxImageCount": 40}}}
            )
            edited.append(watcher.wait_ready(name, int(patched["metadata"]["generation"]), env.args.timeout) - started)
            time.sleep(0.5)
    return {"create_to_ready_seconds": summary(created), "edit_to_ready_seconds": summary(edited)}


def phase_fleet(env: Env) -> dict[str, Any]:
    """Fleet scale: N resources created in batches, then the steady state at the production resync interval.

    Per batch (``--fleet-batch``): seconds until the batch is all Ready, operator CPU, peak RSS, AWS calls, so
    linearity and memory growth show. Then the steady state: kopf starts an object's timers when its create pass
    is done, and its first resync comes 0.5-1.5 intervals later (spread by uid), so from half an interval after the
    last create pass on, resyncs run at their production rate (N / interval per second). AWS calls and resync
    passes are counted over ``--fleet-steady-window`` seconds there; reads per hour = reads in the window x 3600 /
    window, measured at the default interval, not extrapolated from another one. Then ``--fleet-probes`` creates
    and edits, one at a time, each timed to Ready while the background runs.
    """
    n, batch = env.args.n, max(1, env.args.fleet_batch)
    namespace = env.namespace("fleet")
    env.moto.reset()
    batches: list[dict[str, Any]] = []
    steady: dict[str, Any] = {}
    interactive: dict[str, Any] = {}
    timers: dict[str, Any] = {}
    load_start = load()
    with env.operator(namespace, PRODUCTION_RESYNC) as operator:
        watcher = Watcher(env.client, namespace)
        try:
            time.sleep(2)  # idle: started, watching, nothing to do
            rss_idle = memory_kib(operator.pid)
            started_all = time.monotonic()
            created = 0
            while created < n:
                names = [f"fl-{i:05d}" for i in range(created, min(n, created + batch))]
                cpu_before = cpu_seconds(operator.pid)
                env.proxy.clear_calls()
                started = time.monotonic()
                submit, errors = create_many(env, namespace, names, encryption=env.args.fleet_encryption)
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
                    "uptime": load()["uptime"],
                }
                batches.append(entry)
                log(
                    f"fleet: {created}/{n} Ready; batch of {len(names)} in {entry['all_ready_seconds']} s, "
                    f"CPU {entry['operator_cpu_seconds']} s, peak RSS {(entry['vm_hwm_kib'] or 0) / 1024:.1f} MiB"
                )
            all_ready = time.monotonic() - started_all
            rss_all_ready = memory_kib(operator.pid)
            window = env.args.fleet_steady_window
            if window > 0:
                # kopf starts an object's timers once its create pass is done, and the first resync comes 0.5-1.5
                # intervals later: from half an interval after the last create pass on, resyncs run at N / interval
                # (as long as the creates took less than an interval).
                steady_from = time.monotonic() + PRODUCTION_RESYNC * 0.5 + 5
                wait = steady_from - time.monotonic()
                log(f"fleet: waiting {max(wait, 0):.0f} s for the steady resync state, then counting {window:.0f} s")
                if wait > 0:
                    time.sleep(wait)
                env.proxy.clear_calls()
                cpu_before = cpu_seconds(operator.pid)
                metrics_before = scrape(operator.metrics_url)
                start = time.monotonic()
                time.sleep(window)
                end = time.monotonic()
                cpu_after = cpu_seconds(operator.pid)
                metrics_after = scrape(operator.metrics_url)
                timers = {
                    "method": "kopf's timers are not sharp: a timer's next run starts its interval after the "
                    "previous run ended, so a run's lag against the configured interval is the previous run's "
                    "duration, i.e. the resync pass's wall time (ecr_operator_reconcile_duration_seconds, which "
                    "includes the wait for the object's lock, the batched view and an AWS thread); quantiles "
                    "interpolated within the histogram's buckets over the steady window",
                    "resync_lag_seconds": histogram_quantiles(
                        metrics_before, metrics_after, "ecr_operator_reconcile_duration_seconds", {"trigger": "resync"}
                    ),
                    "queue_wait_seconds": {
                        kind: histogram_quantiles(
                            metrics_before, metrics_after, "ecr_operator_pass_queue_wait_seconds", {"kind": kind}
                        )
                        for kind in ("resync", "inventory", "create", "update")
                    },
                }
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
                steady["reads_per_resource_per_hour"] = round(steady["reads_per_hour"] / n, 2)
                steady.update(_per_resource_hour(calls, timers, n, env.args.fleet_inventory_interval, end - start))
                log(f"fleet steady state: {passes} passes, {steady['reads_per_pass']} reads per pass")
            if env.args.fleet_probes > 0:
                log(f"fleet: {env.args.fleet_probes} creates and edits while the background runs")
                probes_before = scrape(operator.metrics_url)
                interactive = _interactive(env, namespace, watcher, env.args.fleet_probes)
                probes_after = scrape(operator.metrics_url)
                interactive["queue_wait_seconds"] = {
                    kind: histogram_quantiles(
                        probes_before, probes_after, "ecr_operator_pass_queue_wait_seconds", {"kind": kind}
                    )
                    for kind in ("create", "update", "resync", "inventory")
                }
                interactive["load"] = load()
                log(
                    "fleet: create -> Ready p50 {create_to_ready_seconds[p50]:.2f} s, edit -> Ready p50 "
                    "{edit_to_ready_seconds[p50]:.2f} s".format(**interactive)
                )
        finally:
            watcher.close()
    rates = [b["ready_per_second"] for b in batches]
    return {
        "n": n,
        "encryption": env.args.fleet_encryption,
        "batch": batch,
        "resync_interval": PRODUCTION_RESYNC,
        "all_ready_seconds": round(all_ready, 1),
        "operator_cpu_seconds": round(sum(b["operator_cpu_seconds"] or 0 for b in batches), 2),
        # VmHWM never decreases: the last reading (after the steady window, if any) is the peak of the whole phase.
        "peak_rss_kib": max(
            [b["vm_hwm_kib"] or 0 for b in batches] + [(steady.get("vm_hwm_kib_after") or 0) if steady else 0]
        ),
        "rss_idle_kib": rss_idle,
        "rss_all_ready_kib": rss_all_ready,
        "rss_per_resource_kib": round(((rss_all_ready.get("VmRSS") or 0) - (rss_idle.get("VmRSS") or 0)) / n, 1),
        "interactive_during_steady_state": interactive,
        "timers": timers,
        "load_start": load_start,
        "load_end": load(),
        "batches": batches,
        "ready_per_second_first_last": [rates[0], rates[-1]] if rates else None,
        "steady_resync": steady,
    }
