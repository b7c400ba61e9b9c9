"""One resource, many times: apply -> Ready, update -> Ready at the new generation, delete -> gone."""

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
    log,
    manifest,
    summary,
)


def phase_latency(env: Env) -> dict[str, Any]:
    runs, timeout = env.args.runs, env.args.timeout
    namespace = env.namespace("latency")
    env.moto.reset()
    created: list[float] = []
    updated: list[float] = []
    deleted: list[float] = []
    warmup: dict[str, float] = {}
    with env.operator(namespace, PRODUCTION_RESYNC), env.client() as client:
        api = kubernetes.client.CustomObjectsApi(client)
        watcher = Watcher(env.client, namespace)
        try:
            for index in range(runs + 1):  # run 0 warms up the operator (first boto3 clients, first requests)
                name = f"lat-{index:03d}"
                started = time.monotonic()
                api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest(name, namespace))
                create_time = watcher.wait_ready(name, 1, timeout) - started

                started = time.monotonic()
                patched = api.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, name, {"spec": {"lifecycle": {"maxImageCount": 40}}}
                )
                generation = int(patched["metadata"]["generation"])
                update_time = watcher.wait_ready(name, generation, timeout) - started

                started = time.monotonic()
                api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
                delete_time = watcher.wait_deleted(name, timeout) - started
                if index == 0:
                    warmup = {"create": create_time, "update": update_time, "delete": delete_time}
                    continue
                created.append(create_time)
                updated.append(update_time)
                deleted.append(delete_time)
                log(
                    f"latency run {index}/{runs}: create {create_time:.2f}s update {update_time:.2f}s "
                    f"delete {delete_time:.2f}s"
                )
        finally:
            watcher.close()
    return {
        "runs": runs,
        "resync_interval": PRODUCTION_RESYNC,
        "warmup_seconds": warmup,
        "create_to_ready_seconds": summary(created),
        "update_to_ready_seconds": summary(updated),
        "delete_to_deleted_event_seconds": summary(deleted),
    }
