"""Operator peak RSS idle and after growing numbers of resources."""

from __future__ import annotations

import time
from typing import Any

from bench.harness import (
    MEMORY_LEVELS,
    PRODUCTION_RESYNC,
    Env,
    Watcher,
    create_many,
    log,
    memory_kib,
    wait_all_ready,
)


def phase_memory(env: Env) -> dict[str, Any]:
    n = env.args.n
    levels = sorted({level for level in MEMORY_LEVELS if level <= n} | {n})
    namespace = env.namespace("memory")
    env.moto.reset()
    points: list[dict[str, Any]] = []
    with env.operator(namespace, PRODUCTION_RESYNC) as operator:
        watcher = Watcher(env.client, namespace)
        try:
            time.sleep(2)  # idle: started, watching, nothing to do
            created = 0
            for level in levels:
                if level > created:
                    names = [f"mem-{i:04d}" for i in range(created, level)]
                    create_many(env, namespace, names)
                    wait_all_ready(watcher, names, env.args.timeout_all, operator)
                    created = level
                memory = memory_kib(operator.pid)
                points.append(
                    {"resources": level, "vm_hwm_kib": memory.get("VmHWM"), "vm_rss_kib": memory.get("VmRSS")}
                )
                log(f"memory at {level}: peak RSS {memory.get('VmHWM', 0) / 1024:.1f} MiB")
        finally:
            watcher.close()
    return {"resync_interval": PRODUCTION_RESYNC, "points": points}
