"""Operator memory whatever tenants do: many mapped AWS accounts x regions, and resources asking for invented regions.

Two runs, each with a fresh operator (RSS measured idle first, then after the work):

- **roles**: ``--tenant-roles`` Namespaces, each annotated ``ecr.platform.dev/aws-role-arn`` with a role of its own
  account (moto's STS answers AssumeRole with credentials of the account in the ARN), each with one resource in each
  of ``--tenant-regions``: roles x regions (role, region) client sets, more than the default cache holds. RSS after
  all are Ready, and again after ``--tenant-settle`` seconds of resyncs (the cache keeps evicting and rebuilding).
  Once per ``--tenant-cache-sizes`` value.
- **invented**: ``--invented-regions`` resources in one unmapped Namespace, each asking for a region that does not
  exist (``aa-fake-0``...): all refused (``RegionNotAllowed``) before any client is built. RSS after all are
  refused, the client sets the operator holds (its ``/metrics``) and the requests the proxy saw signed for them.
"""

from __future__ import annotations

import itertools
import string
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import kubernetes

from bench.harness import (
    GROUP,
    PLURAL,
    VERSION,
    Env,
    is_ready,
    log,
    manifest,
    memory_kib,
)
from ecr_operator_dev._process import free_port

ROLE_ANNOTATION = "ecr.platform.dev/aws-role-arn"
RESYNC_SECONDS = 60.0
"""The roles run's resync interval: within --tenant-settle every (role, region) is used again."""
LABEL = "bench.ecr.platform.dev/run"
FIRST_ACCOUNT = 200000000000


def _mib(kib: int | None) -> float | None:
    return round(kib / 1024, 1) if kib is not None else None


def _invented_regions(count: int) -> list[str]:
    """``aa-fake-0``, ``aa-fake-1``...: region-shaped (they pass the CRD's pattern), in no partition."""
    letters = ("".join(pair) for pair in itertools.product(string.ascii_lowercase, repeat=2))
    return [f"{prefix}-fake-{digit}" for prefix in letters for digit in range(10)][:count]


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _wait_labelled(env: Env, run: str, count: int, done: Callable[[dict[str, Any]], bool], what: str) -> float:
    """Poll every resource labelled ``run`` until ``count`` satisfy ``done``; returns the seconds it took."""
    started = time.monotonic()
    last_log = started
    with env.client() as client:
        api = kubernetes.client.CustomObjectsApi(client)
        while True:
            items = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, label_selector=f"{LABEL}={run}")["items"]
            finished = sum(1 for item in items if done(item))
            if finished >= count:
                return time.monotonic() - started
            if time.monotonic() - last_log > 15:
                last_log = time.monotonic()
                log(f"  {finished}/{count} {what} after {last_log - started:.0f}s")
            if time.monotonic() - started > env.args.timeout_all:
                raise TimeoutError(f"{finished}/{count} {what} after {env.args.timeout_all:.0f}s")
            time.sleep(2)


def _refused(item: dict[str, Any]) -> bool:
    conditions = (item.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("reason") == "RegionNotAllowed" for c in conditions)


def _create_in(env: Env, namespace: str, resources: list[tuple[str, str]], run: str) -> None:
    """Create ``(name, region)`` resources in ``namespace``, labelled with the run."""
    with env.client(pool=8) as client:
        api = kubernetes.client.CustomObjectsApi(client)
        for name, region in resources:
            body = manifest(name, namespace)
            body["metadata"]["labels"] = {LABEL: run}
            body["spec"]["region"] = region
            body["spec"]["repositoryName"] = f"{namespace}/{name}"  # unique within an account and region
            api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def _namespace(env: Env, name: str, annotations: dict[str, str]) -> None:
    with env.client() as client:
        kubernetes.client.CoreV1Api(client).create_namespace({"metadata": {"name": name, "annotations": annotations}})


def _roles_run(env: Env, cache_size: int, mapped: bool = True) -> dict[str, Any]:
    """``mapped=False``: the same Namespaces and resources without the role annotation (the operator's own account),
    so the difference to a mapped run is what the accounts cost, the rest kopf's per-Namespace and per-object state."""
    roles, regions = env.args.tenant_roles, env.args.tenant_regions
    run = f"{'roles' if mapped else 'unmapped'}-{cache_size}-{int(time.time())}"
    prefix = f"bench-{run}"
    env.moto.reset()
    port = free_port()
    extra = ["--client-cache-size", str(cache_size), "--metrics-port", str(port)]
    with env.operator(f"{prefix}-*", RESYNC_SECONDS, extra) as operator:
        time.sleep(3)  # idle: started, watching, the readiness probe's own client made
        idle = memory_kib(operator.pid)
        log(f"tenants/{run}: idle RSS {_mib(idle.get('VmRSS'))} MiB; {roles} roles x {regions}")
        for index in range(roles):
            account = FIRST_ACCOUNT + index
            namespace = f"{prefix}-{index:03d}"
            role = f"arn:aws:iam::{account}:role/ecr-operator-bench"
            _namespace(env, namespace, {ROLE_ANNOTATION: role} if mapped else {})
            _create_in(env, namespace, [(f"r-{region}", region) for region in regions], run)
        total = roles * len(regions)
        ready_seconds = _wait_labelled(env, run, total, is_ready, "Ready")
        after = memory_kib(operator.pid)
        sets_after = _metric(port, "ecr_operator_aws_client_sets")
        log(f"  all {total} Ready in {ready_seconds:.0f}s: RSS {_mib(after.get('VmRSS'))} MiB")
        time.sleep(env.args.tenant_settle)
        settled = memory_kib(operator.pid)
        evictions = _metric(port, "ecr_operator_aws_client_evictions_total")
        log(f"  after {env.args.tenant_settle:.0f}s of resyncs: RSS {_mib(settled.get('VmRSS'))} MiB")
        running = operator.running
    return {
        "mapped": mapped,
        "client_cache_size": cache_size,
        "roles": roles,
        "regions": list(regions),
        "resources": total,
        "all_ready_seconds": round(ready_seconds, 1),
        "idle": {"vm_rss_mib": _mib(idle.get("VmRSS")), "vm_hwm_mib": _mib(idle.get("VmHWM"))},
        "all_ready": {"vm_rss_mib": _mib(after.get("VmRSS")), "vm_hwm_mib": _mib(after.get("VmHWM"))},
        "settled": {"vm_rss_mib": _mib(settled.get("VmRSS")), "vm_hwm_mib": _mib(settled.get("VmHWM"))},
        "settle_seconds": env.args.tenant_settle,
        "peak_above_idle_mib": _mib(settled["VmHWM"] - idle["VmRSS"]),
        "client_sets_cached": sets_after,
        "client_set_evictions": evictions,
        "operator_survived": running,
    }


def _invented_run(env: Env) -> dict[str, Any]:
    count = env.args.invented_regions
    run = f"invented-{int(time.time())}"
    namespace = f"bench-{run}"
    regions = _invented_regions(count)
    env.moto.reset()
    port = free_port()
    _namespace(env, namespace, {})
    with env.operator(namespace, 600, ["--metrics-port", str(port)]) as operator:
        time.sleep(3)
        idle = memory_kib(operator.pid)
        sets_idle = _metric(port, "ecr_operator_aws_client_sets")
        log(f"tenants/invented: idle RSS {_mib(idle.get('VmRSS'))} MiB; {count} resources in invented regions")
        env.proxy.clear_calls()
        _create_in(env, namespace, [(f"x-{i:04d}", region) for i, region in enumerate(regions)], run)
        refused_seconds = _wait_labelled(env, run, count, _refused, "refused")
        after = memory_kib(operator.pid)
        sets_after = _metric(port, "ecr_operator_aws_client_sets")
        invented = set(regions)
        signed = sum(1 for call in env.proxy.calls() if call.region in invented)
        log(f"  all {count} refused in {refused_seconds:.0f}s: RSS {_mib(after.get('VmRSS'))} MiB, {signed} requests")
        running = operator.running
    growth = after["VmRSS"] - idle["VmRSS"]
    return {
        "resources": count,
        "all_refused_seconds": round(refused_seconds, 1),
        "idle": {"vm_rss_mib": _mib(idle.get("VmRSS")), "vm_hwm_mib": _mib(idle.get("VmHWM"))},
        "all_refused": {"vm_rss_mib": _mib(after.get("VmRSS")), "vm_hwm_mib": _mib(after.get("VmHWM"))},
        "growth_mib": _mib(growth),
        "growth_kib_per_resource": round(growth / count, 1),
        "client_sets_cached": {"idle": sets_idle, "after": sets_after},
        "requests_signed_for_invented_regions": signed,
        "operator_survived": running,
    }


def phase_tenants(env: Env) -> dict[str, Any]:
    baseline = _roles_run(env, env.args.tenant_cache_sizes[0], mapped=False) if env.args.tenant_baseline else None
    roles = [_roles_run(env, size) for size in env.args.tenant_cache_sizes]
    invented = _invented_run(env) if env.args.invented_regions else None
    return {"unmapped_baseline": baseline, "roles": roles, "invented": invented}


def add_arguments(parser: Any) -> None:
    parser.add_argument("--tenant-roles", type=int, default=50, help="tenants phase: mapped roles (50)")
    parser.add_argument(
        "--tenant-regions",
        type=lambda text: [r.strip() for r in text.split(",") if r.strip()],
        default=["ap-northeast-2", "eu-west-1", "us-east-1"],
        help="tenants phase: the regions each role has a resource in (ap-northeast-2,eu-west-1,us-east-1)",
    )
    parser.add_argument(
        "--tenant-cache-sizes",
        type=lambda text: [int(x) for x in text.split(",") if x.strip()],
        default=[16],
        help="tenants phase: --client-cache-size of each roles run (16, the operator's default)",
    )
    parser.add_argument(
        "--tenant-settle",
        type=float,
        default=90.0,
        help="tenants phase: seconds of resyncs (every 60 s) after all are Ready (90)",
    )
    parser.add_argument(
        "--tenant-baseline",
        type=lambda text: text.lower() in ("1", "true", "yes"),
        default=True,
        help="tenants phase: first the same Namespaces and resources unmapped (true)",
    )
    parser.add_argument(
        "--invented-regions", type=int, default=500, help="tenants phase: resources in invented regions (500; 0: skip)"
    )
