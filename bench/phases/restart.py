"""A restart pass: a fresh operator over N existing Ready resources, until each was handled again."""

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
    log,
    memory_kib,
    percentile,
    wait_all_ready,
)


def phase_restart(env: Env) -> dict[str, Any]:
    """A restart pass: a fresh operator started over N existing Ready resources, until each was handled again.

    Signal: kopf runs the resume handler for every existing object when an operator starts; each pass writes a
    new ``status.lastSyncTime`` (1 s resolution, so the old operator is stopped at least 1.1 s before the new
    one starts). A resource counts as handled again when the watch sees its lastSyncTime change after the
    restart. Timed from the new process's start (Python start-up and imports included) and from the moment its
    liveness endpoint answered.
    """
    n = env.args.restart_n or env.args.n
    namespace = env.namespace("restart")
    env.moto.reset()
    names = [f"rs-{i:04d}" for i in range(n)]
    watcher = Watcher(env.client, namespace)
    try:
        with env.operator(namespace, PRODUCTION_RESYNC) as operator:
            create_many(env, namespace, names)
            wait_all_ready(watcher, names, env.args.timeout_all, operator)
            log(f"restart: {n} Ready, stopping the operator")
        time.sleep(1.1)  # lastSyncTime has a 1 s resolution: a pass after the restart writes another value
        with watcher._cond:
            before = {name: watcher.sync_times[name][-1][1] for name in names}
        env.proxy.clear_calls()
        started = time.monotonic()
        with env.operator(namespace, PRODUCTION_RESYNC) as operator:
            up = time.monotonic()
            cpu_before = cpu_seconds(operator.pid)

            def all_handled() -> float | None:
                latest = []
                for name in names:
                    at = next(
                        (a for a, v in watcher.sync_times.get(name, []) if a > started and v != before[name]), None
                    )
                    if at is None:
                        if not operator.running:
                            raise RuntimeError(f"the operator exited:\n{operator.log_tail()}")
                        return None
                    latest.append(at)
                return max(latest)

            done = watcher.wait(f"{n} resources handled after the restart", all_handled, env.args.timeout_all)
            cpu_after = cpu_seconds(operator.pid)
            rss = memory_kib(operator.pid)
            calls = env.proxy.calls()
            with watcher._cond:
                times = sorted(
                    next(a for a, v in watcher.sync_times[name] if a > started and v != before[name]) - started
                    for name in names
                )
    finally:
        watcher.close()
    counted = count_calls(calls)
    return {
        "n": n,
        "resync_interval": PRODUCTION_RESYNC,
        "signal": "status.lastSyncTime changed after the restart (written by each resume pass), seen by a watch",
        "seconds_from_process_start": round(done - started, 3),
        "operator_startup_seconds": round(up - started, 3),
        "seconds_from_liveness": round(done - up, 3),
        "handled_per_second": round(n / (done - up), 2) if done > up else None,
        "median_handled_seconds": percentile(times, 0.5),
        "operator_cpu_seconds": (
            round(cpu_after - cpu_before, 2) if cpu_after is not None and cpu_before is not None else None
        ),
        "operator_rss_kib": rss,
        "aws_calls": counted,
        "aws_reads_per_resource": round(counted["reads"] / n, 2),
        "aws_writes_per_resource": round(counted["writes"] / n, 2),
    }
