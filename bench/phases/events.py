"""Events instead of polling (issue 22): latencies by event, and AWS reads per resource per hour with and without.

1. The events stack (``deploy/aws/cloudformation/events-queue.yaml``) is deployed into moto and the proxy emits the
   events AWS would send for writes not signed with the operator's key. An operator with ``--events-queue-url`` and
   its defaults (resync and inventory every 6 h, fallback 600 s) gets N resources.
2. Latency samples on one of them, through a "console" client (its own key, through the proxy): a drift (the
   lifecycle policy deleted, scan-on-push switched off, the tags made immutable, in turn) -> corrected in moto; a
   push -> status.images shows it. The operator's AWS calls per sample are counted too.
3. Steady state with events: the operator's calls over ``--fleet-steady-window`` seconds with nothing happening
   (the long polls and readiness probes: a fixed cost, not per resource).
4. Steady state without events: the same N resources under an operator without a queue, at a 120 s resync and
   180 s inventory (5x faster than the defaults 600 s and 900 s, to fit a window): reads per resync pass (per
   GetLifecyclePolicy, which every pass makes once) and per inventory pass (per DescribeImages). They do not depend
   on the interval: a batched view serves the passes of a tenth of an interval, N/10 whatever the interval.

Reads per resource per hour:
* polling (10-minute resync, 15-minute inventory) = resync reads/pass x 6 + inventory reads/pass x 4;
* events = the same per-pass reads at the 6 h safety net (x 1/6 each) + the queue's calls / N (long polls,
  GetQueueAttributes) + what the events themselves cost (reads per event pass x events per resource per hour;
  workload-dependent, reported per event). The readiness probe's GetCallerIdentity (one a 10 s, either way) is
  left out of both.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import boto3
import kubernetes

from bench.harness import (
    GROUP,
    PLURAL,
    READ_PREFIXES,
    REGION,
    VERSION,
    Env,
    Watcher,
    create_many,
    log,
    summary,
    wait_all_ready,
)
from ecr_operator_dev import deploy_events_stack
from ecr_operator_dev.awsread import image_manifest

OPERATOR_KEY = "testing"
CONSOLE_KEY = "bench-console"
SCALED_RESYNC, SCALED_INVENTORY = 120.0, 180.0
"""5x the default rates (600 s, 900 s), so the steady state comes within minutes; a view still serves N/10 passes."""
SETTLE_SECONDS = 22.0
"""After a window, until the long polls that started in it have answered and are recorded."""
EVENTS_INTERVAL = 21600.0
INVENTORY_READS = ("ecr:DescribeImages", "ecr:DescribeImageScanFindings")
FIXED_READS = ("sts:GetCallerIdentity",)
"""The readiness probe's call: per process, not per resource."""


def _console(service: str, env: Env) -> Any:
    return boto3.client(
        service,
        endpoint_url=env.proxy.endpoint_url,
        region_name=REGION,
        aws_access_key_id=CONSOLE_KEY,
        aws_secret_access_key="x",
    )


def _operator_calls(env: Env, since: float, until: float | None = None) -> Counter[str]:
    return Counter(
        f"{c.service}:{c.operation}"
        for c in env.proxy.calls(since)
        if c.access_key == OPERATOR_KEY and (until is None or c.started <= until)
    )


def _reads(calls: Counter[str]) -> int:
    return sum(n for op, n in calls.items() if op.split(":")[1].startswith(READ_PREFIXES))


def _until(check: Any, timeout: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError("not reflected in time")
        time.sleep(0.02)
    return time.monotonic()


def _drifts(ecr: Any, direct: Any, name: str) -> dict[str, tuple[Any, Any]]:
    """Console changes (made through the proxy, so they make events) and the check that each was corrected."""

    def repository() -> dict[str, Any]:
        found: dict[str, Any] = direct.describe_repositories(repositoryNames=[name])["repositories"][0]
        return found

    def lifecycle() -> bool:
        try:
            return bool(direct.get_lifecycle_policy(repositoryName=name))
        except direct.exceptions.LifecyclePolicyNotFoundException:
            return False

    return {
        "lifecycle": (lambda: ecr.delete_lifecycle_policy(repositoryName=name), lifecycle),
        "scan_on_push": (
            lambda: ecr.put_image_scanning_configuration(
                repositoryName=name, imageScanningConfiguration={"scanOnPush": False}
            ),
            lambda: bool(repository()["imageScanningConfiguration"]["scanOnPush"]),
        ),
        "tag_mutability": (
            lambda: ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE"),
            lambda: repository()["imageTagMutability"] == "MUTABLE",
        ),
    }


def phase_events(env: Env) -> dict[str, Any]:
    n, timeout, window = env.args.n, env.args.timeout, env.args.fleet_steady_window or 120.0
    samples = max(1, min(env.args.runs, env.args.drift_samples * 2))
    namespace = env.namespace("events")
    env.moto.reset()
    queue_name = f"bench-events-{uuid.uuid4().hex[:6]}"
    stack = deploy_events_stack(env.moto.endpoint_url, REGION, stack_name=queue_name, queue_name=queue_name)
    env.proxy.emit_events({OPERATOR_KEY})
    ecr, direct = _console("ecr", env), env.direct_ecr()
    names = [f"ev-{i:05d}" for i in range(n)]
    result: dict[str, Any] = {"n": n, "queue": stack.queue_url}
    with env.operator(namespace, EVENTS_INTERVAL, ["--events-queue-url", stack.queue_url]) as operator:
        watcher = Watcher(env.client, namespace)
        try:
            started = time.monotonic()
            create_many(env, namespace, names)
            wait_all_ready(watcher, names, env.args.timeout_all, operator)
            result["all_ready_seconds"] = round(time.monotonic() - started, 1)
            log(f"events: {n} Ready in {result['all_ready_seconds']} s")
            target = names[0]
            drift_seconds: list[float] = []
            drift_reads: list[int] = []
            drifts = _drifts(ecr, direct, target)
            for index in range(samples):
                kind = list(drifts)[index % len(drifts)]
                change, fixed = drifts[kind]
                since = time.monotonic()
                change()
                changed = time.monotonic()
                done = _until(fixed, timeout)
                drift_seconds.append(done - changed)
                time.sleep(0.5)  # the pass's status write and metrics settle before its calls are counted
                drift_reads.append(_reads(_operator_calls(env, since, done + 0.5)))
                log(f"events: drift {index + 1}/{samples} ({kind}) reverted after {done - changed:.2f} s")
            push_seconds: list[float] = []
            push_reads: list[int] = []
            with env.client() as client:
                api = kubernetes.client.CustomObjectsApi(client)

                def count() -> int:
                    body = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, target)
                    return int(((body.get("status") or {}).get("images") or {}).get("count") or 0)

                for index in range(samples):
                    since = time.monotonic()
                    ecr.put_image(
                        repositoryName=target, imageManifest=image_manifest(1000 + index), imageTag=f"v{index}"
                    )
                    pushed = time.monotonic()
                    done = _until(lambda index=index: count() == index + 1, timeout)  # type: ignore[misc]
                    push_seconds.append(done - pushed)
                    time.sleep(0.5)
                    push_reads.append(_reads(_operator_calls(env, since, done + 0.5)))
                    log(f"events: push {index + 1}/{samples} in status after {done - pushed:.2f} s")
            result["drift_to_reverted_seconds"] = summary(drift_seconds)
            result["push_to_status_seconds"] = summary(push_seconds)
            result["reads_per_drift_event"] = summary([float(r) for r in drift_reads])
            result["reads_per_push_event"] = summary([float(r) for r in push_reads])

            log(f"events: counting the steady state with events for {window:.0f} s")
            start = time.monotonic()
            time.sleep(window)
            end = time.monotonic()
            time.sleep(SETTLE_SECONDS)
            quiet = _operator_calls(env, start, end)
            hour = 3600 / window
            result["steady_with_events"] = {
                "window_seconds": window,
                "operator_calls": dict(sorted(quiet.items())),
                "calls_per_hour": {op: round(count * hour) for op, count in sorted(quiet.items())},
                "resource_reads_in_window": _reads(quiet) - sum(quiet[op] for op in FIXED_READS),
            }
        finally:
            watcher.close()

    log(f"events: the same {n} resources without a queue, at 10x the default intervals")
    args = ["--inventory-interval", str(SCALED_INVENTORY)]
    with env.operator(namespace, SCALED_RESYNC, args):
        # The timers' first ticks come 0.5-1.5 intervals after start, evenly: the steady rate from half an interval.
        time.sleep(0.5 * SCALED_INVENTORY + 10)
        start = time.monotonic()
        time.sleep(window)
        end = time.monotonic()
        time.sleep(2)
        polled = _operator_calls(env, start, end)
    inventory_reads = sum(polled[op] for op in INVENTORY_READS)
    resync_reads = _reads(polled) - inventory_reads - sum(polled[op] for op in FIXED_READS)
    resync_passes, inventory_passes = polled["ecr:GetLifecyclePolicy"], polled["ecr:DescribeImages"]
    resync_per_pass = resync_reads / max(1, resync_passes)
    inventory_per_pass = inventory_reads / max(1, inventory_passes)
    per_hour = result["steady_with_events"]["calls_per_hour"]
    fixed_per_hour = sum(count for op, count in per_hour.items() if op.startswith("sqs:"))
    polling = resync_per_pass * 3600 / 600 + inventory_per_pass * 3600 / 900
    events = (resync_per_pass + inventory_per_pass) * 3600 / EVENTS_INTERVAL + fixed_per_hour / n
    result["steady_without_events"] = {
        "resync_interval": SCALED_RESYNC,
        "inventory_interval": SCALED_INVENTORY,
        "window_seconds": window,
        "operator_calls": dict(sorted(polled.items())),
        "resync_passes": resync_passes,
        "resync_passes_expected": round(n * window / SCALED_RESYNC),
        "inventory_passes": inventory_passes,
        "inventory_passes_expected": round(n * window / SCALED_INVENTORY),
        "resync_reads_per_pass": round(resync_per_pass, 3),
        "inventory_reads_per_pass": round(inventory_per_pass, 3),
    }
    result["reads_per_resource_per_hour"] = {
        "polling_600s_resync_900s_inventory": round(polling, 2),
        "polling_resync_only": round(resync_per_pass * 6, 2),
        "events_safety_net_and_fixed": round(events, 3),
        "events_queue_calls_per_hour_all_resources": fixed_per_hour,
        "ratio": round(polling / events, 1) if events else None,
        "ratio_resync_only": round(resync_per_pass * 6 / events, 1) if events else None,
        "plus_per_event": {
            "drift": result["reads_per_drift_event"]["p50"],
            "push": result["reads_per_push_event"]["p50"],
        },
        "method": "per-pass reads measured at N (5x faster intervals; per pass, interval-independent); rates from "
        "the intervals; the queue's calls (long polls, GetQueueAttributes) measured with events over the window and "
        "divided by N; the readiness probe left out of both; event-driven passes are extra, per event",
    }
    log(f"events: reads/resource/hour polling {polling:.2f}, events {events:.3f}")
    return result
