"""An out-of-band change on moto and the time until the operator's correction."""

from __future__ import annotations

import random
import time
from typing import Any

import kubernetes

from bench.harness import (
    GROUP,
    PLURAL,
    VERSION,
    Env,
    Watcher,
    log,
    manifest,
    summary,
)


def phase_drift(env: Env) -> dict[str, Any]:
    timeout, resync = env.args.timeout, env.args.resync_interval
    samples = max(1, min(env.args.runs, env.args.drift_samples))
    namespace = env.namespace("drift")
    env.moto.reset()
    ecr = env.direct_ecr()
    rng = random.Random(7)
    results: list[float] = []
    with env.operator(namespace, resync), env.client() as client:
        api = kubernetes.client.CustomObjectsApi(client)
        watcher = Watcher(env.client, namespace)
        try:
            name = "drift-a"
            api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest(name, namespace))
            watcher.wait_ready(name, 1, timeout)
            for index in range(samples):
                time.sleep(rng.uniform(0, resync))  # a random phase of the resync timer
                ecr.put_image_scanning_configuration(
                    repositoryName=name, imageScanningConfiguration={"scanOnPush": False}
                )
                changed = time.monotonic()
                deadline = changed + resync * 3 + timeout
                while True:  # correction seen at the proxy, confirmed on moto
                    fixes = [
                        c
                        for c in env.proxy.calls(since=changed)
                        if c.operation == "PutImageScanningConfiguration" and c.status == 200
                    ]
                    if fixes:
                        corrected = time.monotonic()
                        scanning = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
                        if scanning["imageScanningConfiguration"]["scanOnPush"]:
                            break
                    if time.monotonic() > deadline:
                        raise TimeoutError("the drift was not corrected")
                    time.sleep(0.05)
                results.append(corrected - changed)
                log(f"drift {index + 1}/{samples}: corrected after {corrected - changed:.2f}s")
        finally:
            watcher.close()
    return {
        "resync_interval": resync,
        "change": "ecr:PutImageScanningConfiguration scanOnPush=false, made directly on moto",
        "detected_by": "the operator's PutImageScanningConfiguration seen at the proxy, confirmed on moto",
        "correction_seconds": summary(results),
    }
