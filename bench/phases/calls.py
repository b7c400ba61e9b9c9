"""AWS reads and writes per create, update, delete, resync of one resource and per pass over an in-sync fleet."""

from __future__ import annotations

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
    calls_between,
    count_calls,
    cpu_seconds,
    create_many,
    manifest,
    wait_all_ready,
)
from ecr_operator_dev import OperatorProcess


def phase_calls(env: Env) -> dict[str, Any]:
    timeout, resync = env.args.timeout, env.args.resync_interval
    env.moto.reset()
    results: dict[str, Any] = {}
    namespace = env.namespace("calls")
    with env.operator(namespace, PRODUCTION_RESYNC), env.client() as client:
        api = kubernetes.client.CustomObjectsApi(client)
        watcher = Watcher(env.client, namespace)
        try:
            name = "calls-a"
            # A warm-up resource first, so that one-time calls (if any) are not counted as per-create cost.
            api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest("calls-warmup", namespace))
            watcher.wait_ready("calls-warmup", 1, timeout)

            def create() -> float:
                api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest(name, namespace))
                return watcher.wait_ready(name, 1, timeout)

            def update() -> float:
                patched = api.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, name, {"spec": {"lifecycle": {"maxImageCount": 45}}}
                )
                return watcher.wait_ready(name, int(patched["metadata"]["generation"]), timeout)

            def remove() -> float:
                api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
                return watcher.wait_deleted(name, timeout)

            results["create"] = calls_between(env, create)
            results["update_max_image_count"] = calls_between(env, update)
            results["delete"] = calls_between(env, remove)
        finally:
            watcher.close()

    # The resync: a fresh operator with a short interval, one resource in sync, exactly one timer pass counted.
    namespace = env.namespace("resync")
    with env.operator(namespace, resync) as operator, env.client(pool=16) as client:
        api = kubernetes.client.CustomObjectsApi(client)
        watcher = Watcher(env.client, namespace)
        try:
            name = "resync-a"
            api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest(name, namespace))
            ready = watcher.wait_ready(name, 1, timeout)
            first = watcher.wait_sync_after(name, ready, timeout + resync * 2)  # the first resync pass finished
            env.proxy.clear_calls()
            second = watcher.wait_sync_after(name, first, timeout + resync * 2)  # exactly one more pass
            counted = count_calls(env.proxy.calls())
            counted["seconds_between_passes"] = round(second - first, 3)
            results["resync_in_sync"] = counted
            results["resync_fleet"] = _resync_fleet(env, api, watcher, namespace, operator)
        finally:
            watcher.close()
    results["resync_interval"] = resync
    return results


def _resync_fleet(env: Env, api: Any, watcher: Watcher, namespace: str, operator: OperatorProcess) -> dict[str, Any]:
    """Steady state of K in-sync resources: AWS calls per resync pass, with batched reads shared between them.

    Counted over a window of ``--fleet-window`` resync intervals; passes = lastSyncTime changes seen in it
    (a pass in flight at either edge makes the per-pass numbers approximate).
    """
    resync, timeout = env.args.resync_interval, env.args.timeout
    size = max(1, min(env.args.n, env.args.fleet))
    names = [f"fleet-{i:03d}" for i in range(size)]
    create_many(env, namespace, names)
    wait_all_ready(watcher, names, env.args.timeout_all, operator)
    every = [*names, "resync-a"]
    settled = time.monotonic()
    for name in every:  # each has done at least one resync pass: the fleet is in its steady state
        watcher.wait_sync_after(name, settled - resync, timeout + resync * 3)
    window = resync * env.args.fleet_window
    env.proxy.clear_calls()
    cpu_before = cpu_seconds(operator.pid)
    start = time.monotonic()
    time.sleep(window)  # the measurement window itself
    end = time.monotonic()
    cpu_after = cpu_seconds(operator.pid)
    calls = [c for c in env.proxy.calls() if start <= c.started <= end]
    with watcher._cond:
        passes = sum(1 for name in every for at, _ in watcher.sync_times.get(name, []) if start < at <= end)
    counted = count_calls(calls)
    per_pass = max(passes, 1)
    counted.update(
        {
            "resources": len(every),
            "window_seconds": round(end - start, 2),
            "passes": passes,
            "reads_per_pass": round(counted["reads"] / per_pass, 2),
            "writes_per_pass": round(counted["writes"] / per_pass, 2),
            "read_operations_per_pass": {
                op: round(count / per_pass, 2) for op, count in counted["read_operations"].items()
            },
            "operator_cpu_seconds": (
                round(cpu_after - cpu_before, 2) if cpu_after is not None and cpu_before is not None else None
            ),
        }
    )
    counted["operator_cpu_ms_per_pass"] = (
        round(1000 * counted["operator_cpu_seconds"] / per_pass, 1) if counted["operator_cpu_seconds"] else None
    )
    return counted
