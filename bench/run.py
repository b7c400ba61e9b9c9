"""Benchmarks of ecr-operator: latency, throughput, AWS calls per operation, memory and drift correction.

Starts its own kube-apiserver + etcd (``LocalControlPlane``), moto (``MotoServer``) and a counting
``AwsProxy`` in front of moto (so every AWS call the operator makes is counted at the HTTP layer), installs
the CRD and runs the operator as a real process (``OperatorProcess``). Each phase gets a fresh operator
watching only its own namespace and a freshly reset moto, so phases do not disturb each other.

    .venv/bin/python -m bench --n 100            # or: hack/bench.sh --n 100

Prints a table (with the targets, PASS/MISS; they are not assertions) and writes
``bench/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
try:
    import ecr_operator  # noqa: F401
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(REPO_ROOT / "operator"))

import boto3  # noqa: E402
import kubernetes  # noqa: E402
import yaml  # noqa: E402
from kubernetes import watch  # noqa: E402

from ecr_operator_dev import (  # noqa: E402
    AwsProxy,
    Call,
    LocalControlPlane,
    MotoServer,
    OperatorProcess,
    ensure_controlplane_binaries,
)
from ecr_operator_dev._process import free_port  # noqa: E402

GROUP, VERSION, PLURAL = "ecr.platform.dev", "v1alpha1", "ecrrepositories"
REGION = "ap-northeast-2"
CLUSTER_ID = "bench"
PHASES = ("latency", "throughput", "calls", "memory", "drift", "quotas")
MEMORY_LEVELS = (0, 1, 100, 1000)  # 1: the one-time cost of the first resource (boto3 models, clients)
PRODUCTION_RESYNC = 600.0
CURVE_STEP = 0.5
CLK_TCK = os.sysconf("SC_CLK_TCK")
READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "BatchCheck")
DEFAULT_NOTE = (
    "Local moto + kube-apiserver + etcd + operator + this tool share the machine; other engineers may be "
    "running test suites concurrently, so timings and CPU are noisy (see load_average). AWS call counts are exact."
)


def log(line: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


# -- the resource ---------------------------------------------------------------------------------------------


def manifest(name: str, namespace: str, max_images: int = 30) -> dict[str, Any]:
    """The seed example (KMS key with rotation, scan on push, keep-N lifecycle, all required tags)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "repositoryName": name,
            "region": REGION,
            "imageTagMutability": "MUTABLE",
            "scanOnPush": True,
            "encryption": {"type": "KMS", "enableKeyRotation": True, "deletionWindowInDays": 7},
            "lifecycle": {"maxImageCount": max_images},
            "crossAccountPull": {"enabled": False},
            "tags": {
                "owner": "platform-team",
                "cost_center": "engineering",
                "resource_lifecycle": "permanent",
                "data_class": "confidential",
                "service": "container-registry",
                "environment": "bench",
            },
            "deletionPolicy": "Delete",
            "forceDelete": True,
        },
    }


def is_ready(obj: dict[str, Any]) -> bool:
    """Ready=True for the current generation (status and condition)."""
    generation = obj.get("metadata", {}).get("generation")
    status = obj.get("status") or {}
    if status.get("observedGeneration") != generation:
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" and c.get("observedGeneration") == generation
        for c in status.get("conditions") or []
    )


# -- a watch on one namespace ---------------------------------------------------------------------------------


class Watcher:
    """Watches EcrRepository objects of one namespace; records when each generation became Ready and deletions.

    Times are ``time.monotonic()`` at the moment the event arrived.
    """

    def __init__(self, make_client: Callable[[], kubernetes.client.ApiClient], namespace: str) -> None:
        self.namespace = namespace
        self._client = make_client()
        self._api = kubernetes.client.CustomObjectsApi(self._client)
        self._cond = threading.Condition()
        self.objects: dict[str, dict[str, Any]] = {}
        self.ready_at: dict[tuple[str, int], float] = {}
        self.deleted_at: dict[str, float] = {}
        self.sync_times: dict[str, list[tuple[float, str]]] = {}
        self.events = 0
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        listing = self._api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        self._resource_version: str | None = listing["metadata"]["resourceVersion"]
        for obj in listing["items"]:
            self._record("ADDED", obj, time.monotonic())
        self._thread = threading.Thread(target=self._loop, name=f"watch-{namespace}", daemon=True)
        self._thread.start()

    def _record(self, kind: str, obj: dict[str, Any], at: float) -> None:
        name = obj["metadata"]["name"]
        with self._cond:
            self.events += 1
            if kind == "DELETED":
                self.objects.pop(name, None)
                self.deleted_at.setdefault(name, at)
            else:
                self.objects[name] = obj
                if is_ready(obj):
                    self.ready_at.setdefault((name, int(obj["metadata"]["generation"])), at)
                synced = (obj.get("status") or {}).get("lastSyncTime")
                history = self.sync_times.setdefault(name, [])
                if synced and (not history or history[-1][1] != synced):
                    history.append((at, synced))
            self._cond.notify_all()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._watch = watch.Watch()
            try:
                for event in self._watch.stream(
                    self._api.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    resource_version=self._resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=30,
                ):
                    at = time.monotonic()
                    obj = event["object"]
                    self._resource_version = obj.get("metadata", {}).get("resourceVersion", self._resource_version)
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self._record(event["type"], obj, at)
                    if self._stop.is_set():
                        break
            except kubernetes.client.ApiException as exc:
                if exc.status == 410:  # too old: start over from the current state
                    self._resource_version = None
                elif not self._stop.is_set():
                    time.sleep(0.2)
            except Exception:  # connection reset etc.: resume from the last resource version
                if not self._stop.is_set():
                    time.sleep(0.2)

    def wait(self, what: str, predicate: Callable[[], float | None], timeout: float) -> float:
        """Block until ``predicate()`` (evaluated under the lock after each event) returns a time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result is not None:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} in {self.namespace}")
                self._cond.wait(min(remaining, 1.0))

    def wait_ready(self, name: str, generation: int, timeout: float) -> float:
        return self.wait(
            f"{name} Ready at generation {generation}", lambda: self.ready_at.get((name, generation)), timeout
        )

    def wait_deleted(self, name: str, timeout: float) -> float:
        return self.wait(f"{name} deleted", lambda: self.deleted_at.get(name), timeout)

    def wait_sync_after(self, name: str, after: float, timeout: float) -> float:
        """The arrival time of the first lastSyncTime change of ``name`` observed after ``after``."""

        def changed() -> float | None:
            return next((at for at, _ in self.sync_times.get(name, []) if at > after), None)

        return self.wait(f"a new lastSyncTime of {name}", changed, timeout)

    def ready_count(self, generation: int = 1) -> int:
        with self._cond:
            return sum(1 for (_, gen) in self.ready_at if gen == generation)

    def close(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        self._thread.join(timeout=35)
        self._client.close()


# -- process probes -------------------------------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process from /proc/<pid>/stat."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5), counted after the ")"


def memory_kib(pid: int | None) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS of a process from /proc/<pid>/status, in KiB."""
    result: dict[str, int] = {}
    if pid is None:
        return result
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                result[key] = int(value.split()[0])
    except FileNotFoundError:
        pass
    return result


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "mean": statistics.fmean(values) if values else None,
        "samples": [round(v, 4) for v in values],
    }


def count_calls(calls: list[Call]) -> dict[str, Any]:
    reads: Counter[str] = Counter()
    writes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for call in calls:
        name = f"{call.service}:{call.operation}"
        (reads if call.operation.startswith(READ_PREFIXES) else writes)[name] += 1
        if call.status >= 400 or call.status == 0:
            errors[f"{name} HTTP {call.status}"] += 1
    return {
        "reads": sum(reads.values()),
        "writes": sum(writes.values()),
        "read_operations": dict(sorted(reads.items())),
        "write_operations": dict(sorted(writes.items())),
        "error_responses": dict(sorted(errors.items())),
    }


# -- the environment ------------------------------------------------------------------------------------------


@dataclass
class Env:
    controlplane: LocalControlPlane
    moto: MotoServer
    proxy: AwsProxy
    workdir: Path
    args: argparse.Namespace
    clients: list[kubernetes.client.ApiClient] = field(default_factory=list)
    _operator_count: int = 0

    def client(self, pool: int = 4) -> kubernetes.client.ApiClient:
        base = self.controlplane.api_client()
        configuration = copy.copy(base.configuration)
        base.close()
        configuration.connection_pool_maxsize = pool
        return kubernetes.client.ApiClient(configuration)

    def namespace(self, prefix: str) -> str:
        name = f"bench-{prefix}-{os.urandom(3).hex()}"
        with self.client() as client:
            kubernetes.client.CoreV1Api(client).create_namespace({"metadata": {"name": name}})
        return name

    def direct_ecr(self) -> Any:
        """An ECR client straight to moto (not through the proxy): out-of-band changes and checks."""
        return boto3.client(
            "ecr",
            region_name=REGION,
            endpoint_url=self.moto.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    @contextmanager
    def operator(self, namespace: str, resync: float, extra_args: Sequence[str] = ()) -> Iterator[OperatorProcess]:
        """A fresh operator watching only ``namespace``, up (liveness answers) when the block starts."""
        self._operator_count += 1
        port = free_port()
        aws_env = {**self.moto.aws_environment(REGION), "AWS_ENDPOINT_URL": self.proxy.endpoint_url}
        process = OperatorProcess(
            kubeconfig=self.controlplane.kubeconfig,
            aws_env=aws_env,
            log_path=self.workdir / f"operator-{self._operator_count}-{namespace}.log",
            args=[
                "--namespace",
                namespace,
                "--region",
                REGION,
                "--cluster-id",
                CLUSTER_ID,
                "--resync-interval",
                str(resync),
                "--log-format",
                "plain",
                "--liveness",
                f"http://127.0.0.1:{port}/healthz",
                *extra_args,
            ],
            extra_env={"PYTHONUNBUFFERED": "1", **self.args.operator_env},
        )
        process.start()
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                        if response.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if not process.running or time.monotonic() > deadline:
                    raise RuntimeError(f"the operator did not come up:\n{process.log_tail()}")
                time.sleep(0.1)
            yield process
        finally:
            process.stop()


def install_crd(controlplane: LocalControlPlane) -> None:
    document = yaml.safe_load((REPO_ROOT / "crds" / "ecrrepository.yaml").read_text())
    with controlplane.api_client() as client:
        api = kubernetes.client.ApiextensionsV1Api(client)
        try:
            api.create_custom_resource_definition(document)
        except kubernetes.client.ApiException as exc:
            if exc.status != 409:
                raise
        deadline = time.monotonic() + 60
        while True:
            crd = api.read_custom_resource_definition(document["metadata"]["name"])
            conditions = {c.type: c.status for c in (crd.status.conditions or [])}
            if conditions.get("Established") == "True":
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the CRD did not become Established")
            time.sleep(0.1)


# -- the phases -----------------------------------------------------------------------------------------------


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


def _process_cpu(env: Env, operator: OperatorProcess) -> dict[str, float | None]:
    apiserver = getattr(getattr(env.controlplane, "_apiserver", None), "pid", None)
    etcd = getattr(getattr(env.controlplane, "_etcd", None), "pid", None)
    return {
        "operator": cpu_seconds(operator.pid),
        "moto": cpu_seconds(env.moto.pid),
        "kube_apiserver": cpu_seconds(apiserver),
        "etcd": cpu_seconds(etcd),
        "bench_and_proxy": self_cpu_seconds(),
    }


def _cpu_delta(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float | None]:
    return {
        key: (round(after[key] - value, 2) if value is not None and after.get(key) is not None else None)  # type: ignore[operator]
        for key, value in before.items()
    }


def create_many(env: Env, namespace: str, names: list[str], threads: int = 16) -> tuple[float, list[str]]:
    """Create the resources as fast as possible; returns (seconds to submit them all, errors)."""
    errors: list[str] = []
    with env.client(pool=threads) as client:
        api = kubernetes.client.CustomObjectsApi(client)

        def create(name: str) -> None:
            try:
                api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest(name, namespace))
            except kubernetes.client.ApiException as exc:
                errors.append(f"{name}: {exc.status} {exc.reason}")

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(create, names))
        return time.monotonic() - started, errors


def wait_all_ready(watcher: Watcher, names: list[str], timeout: float, operator: OperatorProcess) -> float:
    wanted = set(names)
    started = time.monotonic()
    last_log = started

    def done() -> float | None:
        nonlocal last_log
        ready = [watcher.ready_at[(n, 1)] for n in wanted if (n, 1) in watcher.ready_at]
        if len(ready) == len(wanted):
            return max(ready)
        if time.monotonic() - last_log > 15:
            last_log = time.monotonic()
            log(f"  {len(ready)}/{len(wanted)} Ready after {last_log - started:.0f}s")
        if not operator.running:
            raise RuntimeError(f"the operator exited:\n{operator.log_tail()}")
        return None

    return watcher.wait(f"{len(wanted)} resources Ready", done, timeout)


def phase_throughput(env: Env) -> dict[str, Any]:
    n = env.args.n
    namespace = env.namespace("throughput")
    env.moto.reset()
    names = [f"tp-{i:04d}" for i in range(n)]
    with env.operator(namespace, PRODUCTION_RESYNC) as operator:
        watcher = Watcher(env.client, namespace)
        try:
            rss_idle = memory_kib(operator.pid)
            cpu_before = _process_cpu(env, operator)
            env.proxy.clear_calls()
            started = time.monotonic()
            submit_seconds, errors = create_many(env, namespace, names)
            log(f"throughput: {n} created in {submit_seconds:.1f}s, waiting for Ready")
            last_ready = wait_all_ready(watcher, names, env.args.timeout_all, operator)
            all_ready = last_ready - started
            cpu_after = _process_cpu(env, operator)
            rss_after = memory_kib(operator.pid)
            calls = env.proxy.calls()
            with watcher._cond:
                times = sorted(watcher.ready_at[(name, 1)] - started for name in names)
        finally:
            watcher.close()
    curve: list[list[float]] = []
    step = 0.0
    while True:
        curve.append([round(step, 2), sum(1 for t in times if t <= step)])
        if step >= all_ready:
            break
        step += CURVE_STEP
    cpu = _cpu_delta(cpu_before, cpu_after)
    counted = count_calls(calls)
    return {
        "n": n,
        "resync_interval": PRODUCTION_RESYNC,
        "submit_seconds": round(submit_seconds, 3),
        "create_errors": errors,
        "all_ready_seconds": round(all_ready, 3),
        "first_ready_seconds": round(times[0], 3) if times else None,
        "median_ready_seconds": percentile(times, 0.5),
        "ready_per_second": round(n / all_ready, 2) if all_ready > 0 else None,
        "ready_curve": {"step_seconds": CURVE_STEP, "points": curve},
        "cpu_seconds": cpu,
        "operator_cpu_seconds": cpu["operator"],
        "operator_cpu_seconds_per_resource": round(cpu["operator"] / n, 4) if cpu["operator"] else None,
        "operator_rss_kib": {"idle": rss_idle, "after_all_ready": rss_after},
        "aws_calls": counted,
        "aws_calls_per_resource": round((counted["reads"] + counted["writes"]) / n, 2),
    }


def _quota_run(env: Env, rates: dict[str, float], limiter_args: list[str], label: str) -> dict[str, Any]:
    """N resources applied at once against a proxy that throttles like AWS above ``rates``."""
    n = env.args.n
    namespace = env.namespace(f"quotas-{label}")
    env.moto.reset()
    names = [f"q-{i:04d}" for i in range(n)]
    env.proxy.enforce_rates(rates)
    try:
        with env.operator(namespace, PRODUCTION_RESYNC, limiter_args) as operator:
            watcher = Watcher(env.client, namespace)
            try:
                env.proxy.clear_calls()
                load_before = os.getloadavg()
                started = time.monotonic()
                create_many(env, namespace, names)
                log(f"quotas ({label}): {n} created, waiting for Ready")
                all_ready = wait_all_ready(watcher, names, env.args.timeout_all, operator) - started
                calls = env.proxy.calls()
            finally:
                watcher.close()
    finally:
        env.proxy.enforce_rates(None)
    throttled: Counter[str] = Counter()
    served: Counter[str] = Counter()
    for call in calls:
        prefix = {"tagging": "tag"}.get(call.service, call.service)
        key = next((k for k in (f"{prefix}:{call.operation}", f"{prefix}:*") if k in rates), None)
        if call.injected == "rate":
            throttled[f"{prefix}:{call.operation}"] += 1
        elif key is not None:
            served[key] += 1
    # The quota-bound minimum: every bucket must serve the calls that used it at its rate, so the run cannot end
    # before the busiest bucket has: max over buckets of calls / rate.
    bound = {key: round(count / rates[key], 2) for key, count in served.items()}
    minimum = max(bound.values()) if bound else 0.0
    return {
        "n": n,
        "all_ready_seconds": round(all_ready, 2),
        "throttled_responses": sum(throttled.values()),
        "throttled_by_operation": dict(sorted(throttled.items())),
        "served_by_bucket": dict(sorted(served.items())),
        "seconds_by_bucket_at_quota": dict(sorted(bound.items(), key=lambda kv: -kv[1])),
        "quota_bound_minimum_seconds": minimum,
        "vs_minimum": round(all_ready / minimum, 3) if minimum else None,
        "aws_calls": count_calls(calls),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def phase_quotas(env: Env) -> dict[str, Any]:
    """The same burst twice against AWS-like rate quotas (scaled by --quota-scale): limiter off, then on."""
    from ecr_operator.ratelimit import DEFAULT_RATES

    scale = env.args.quota_scale
    rates = {key: rate * scale for key, rate in DEFAULT_RATES.items()}
    off = _quota_run(env, rates, ["--aws-rate-limits", "off"], "off")
    on = _quota_run(env, rates, ["--aws-rate-limit-scale", str(scale)], "on")
    return {"quota_scale": scale, "rates": rates, "limiter_off": off, "limiter_on": on}


def _calls_between(env: Env, action: Callable[[], float]) -> dict[str, Any]:
    """Run ``action`` (returns when its effect was observed) and count the AWS calls made meanwhile."""
    env.proxy.clear_calls()
    started = time.monotonic()
    observed = action()
    result = count_calls(env.proxy.calls())
    result["seconds"] = round(observed - started, 3)
    return result


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

            results["create"] = _calls_between(env, create)
            results["update_max_image_count"] = _calls_between(env, update)
            results["delete"] = _calls_between(env, remove)
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


# -- report ---------------------------------------------------------------------------------------------------


def machine(env: Env) -> dict[str, Any]:
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_total = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    versions = {}
    for package in ("kopf", "boto3", "botocore", "moto", "kubernetes", "pydantic"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    with env.client() as client:
        kube_version = kubernetes.client.VersionApi(client).get_code().git_version
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_mib": mem_total // 1024,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "kube_apiserver": kube_version,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty_paths": len(_git("status", "--porcelain", "--untracked-files=no").splitlines()),
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def verdicts(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the table: metric, value, target, PASS/MISS (or n/a)."""
    rows: list[dict[str, Any]] = []

    def row(metric: str, value: Any, target: str, ok: bool | None, unit: str = "") -> None:
        shown = "-" if value is None else (f"{value:.2f}{unit}" if isinstance(value, float) else f"{value}{unit}")
        verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
        rows.append({"metric": metric, "value": shown, "target": target, "verdict": verdict})

    phases = result["phases"]
    if "latency" in phases:
        latency = phases["latency"]
        for key, label in (
            ("create_to_ready_seconds", "apply -> Ready"),
            ("update_to_ready_seconds", "update -> Ready"),
            ("delete_to_deleted_event_seconds", "delete -> DELETED"),
        ):
            p50, p95 = latency[key]["p50"], latency[key]["p95"]
            target = "p50 <= 1.5 s" if key == "create_to_ready_seconds" else ""
            ok = (p50 <= 1.5) if key == "create_to_ready_seconds" and p50 is not None else None
            row(f"{label} p50", p50, target, ok, " s")
            row(f"{label} p95", p95, "", None, " s")
    if "throughput" in phases:
        throughput = phases["throughput"]
        n = throughput["n"]
        limits = {100: 30.0, 1000: 300.0}
        limit = limits.get(n)
        value = throughput["all_ready_seconds"]
        row(
            f"{n} resources all Ready",
            value,
            f"<= {limit:.0f} s" if limit else "(targets at n=100, 1000)",
            value <= limit if limit else None,
            " s",
        )
        row(f"{n} resources operator CPU", throughput["operator_cpu_seconds"], "", None, " s")
        row(f"{n} resources AWS calls / resource", throughput["aws_calls_per_resource"], "", None)
    if "calls" in phases:
        calls = phases["calls"]
        create = calls["create"]
        row("create: AWS reads / writes", f"{create['reads']} / {create['writes']}", "", None)
        update = calls["update_max_image_count"]
        row(
            "update maxImageCount: reads / writes",
            f"{update['reads']} / {update['writes']}",
            "exactly 1 write",
            update["writes"] == 1,
        )
        delete = calls["delete"]
        row("delete: AWS reads / writes", f"{delete['reads']} / {delete['writes']}", "", None)
        resync = calls["resync_in_sync"]
        row(
            "resync of in-sync resource: reads / writes",
            f"{resync['reads']} / {resync['writes']}",
            "0 writes, <= 5 reads",
            resync["writes"] == 0 and resync["reads"] <= 5,
        )
        if "resync_fleet" in calls:
            fleet = calls["resync_fleet"]
            row(
                f"resync of {fleet['resources']} in-sync resources: reads / writes per pass",
                f"{fleet['reads_per_pass']} / {fleet['writes_per_pass']}",
                "0 writes, <= 5 reads",
                fleet["writes"] == 0 and fleet["reads_per_pass"] <= 5,
            )
            row("  operator CPU per resync pass", fleet["operator_cpu_ms_per_pass"], "", None, " ms")
    if "memory" in phases:
        for point in phases["memory"]["points"]:
            level = point["resources"]
            hwm = point["vm_hwm_kib"] / 1024 if point["vm_hwm_kib"] else None
            row(
                f"peak RSS at {level} resources",
                hwm,
                "<= 150 MiB" if level == 1000 else "",
                (hwm <= 150) if level == 1000 and hwm is not None else None,
                " MiB",
            )
        if not any(p["resources"] == 1000 for p in phases["memory"]["points"]):
            row("peak RSS at 1000 resources", None, "<= 150 MiB (run --n 1000)", None)
    if "drift" in phases:
        drift = phases["drift"]
        correction = drift["correction_seconds"]
        row(
            f"drift corrected (resync {drift['resync_interval']:g} s) p50",
            correction["p50"],
            "(no target; expect about interval/2 + one reconcile)",
            None,
            " s",
        )
    if "quotas" in phases:
        quotas = phases["quotas"]
        for label in ("limiter_off", "limiter_on"):
            run = quotas[label]
            row(
                f"quotas x{quotas['quota_scale']:g}, {label}: throttled responses",
                run["throttled_responses"],
                "0 with the limiter",
                run["throttled_responses"] == 0 if label == "limiter_on" else None,
            )
            row(
                f"quotas x{quotas['quota_scale']:g}, {label}: all Ready / quota-bound minimum",
                f"{run['all_ready_seconds']:.1f} s / {run['quota_bound_minimum_seconds']:.1f} s",
                "<= 1.10 x minimum with the limiter",
                run["vs_minimum"] <= 1.10 if label == "limiter_on" and run["vs_minimum"] else None,
            )
    return rows


def print_table(result: dict[str, Any]) -> None:
    rows = result["summary"]
    widths = [
        max(
            len(str(r[k]))
            for r in [*rows, {"metric": "metric", "value": "value", "target": "target", "verdict": "verdict"}]
        )
        for k in ("metric", "value", "target", "verdict")
    ]
    header = ("metric", "value", "target", "verdict")
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(r[k]).ljust(w) for k, w in zip(header, widths, strict=True)))
    calls = result["phases"].get("calls")
    if calls:
        print()
        for operation in ("create", "update_max_image_count", "delete", "resync_in_sync", "resync_fleet"):
            counted = calls[operation]
            print(f"{operation}:")
            print(f"  reads  {counted['reads']:3d}  {_format_ops(counted['read_operations'])}")
            print(f"  writes {counted['writes']:3d}  {_format_ops(counted['write_operations'])}")
    throughput = result["phases"].get("throughput")
    if throughput:
        print()
        print(f"throughput n={throughput['n']}: CPU seconds {throughput['cpu_seconds']}")
        counted = throughput["aws_calls"]
        print(f"  reads  {counted['reads']:5d}  {_format_ops(counted['read_operations'])}")
        print(f"  writes {counted['writes']:5d}  {_format_ops(counted['write_operations'])}")
    print()


def _format_ops(operations: dict[str, int]) -> str:
    return ", ".join(f"{op.split(':', 1)[1]}={count}" for op, count in operations.items())


# -- main -----------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="resources for the throughput and memory phases (100)")
    parser.add_argument("--runs", type=int, default=20, help="repetitions of the single-resource latency runs (20)")
    parser.add_argument(
        "--resync-interval",
        type=float,
        default=5.0,
        help="operator resync interval for the calls (resync) and drift phases (5 s); other phases use 600 s",
    )
    parser.add_argument(
        "--only", default=",".join(PHASES), help=f"comma-separated phases to run (default: {','.join(PHASES)})"
    )
    parser.add_argument("--name", default=None, help="result name: bench/results/<name>.json (default: n<N>)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results", help="directory for the JSON")
    parser.add_argument("--workdir", type=Path, default=None, help="logs and data (default: a temp dir)")
    parser.add_argument("--drift-samples", type=int, default=5, help="drift corrections to time (5, at most --runs)")
    parser.add_argument(
        "--fleet", type=int, default=50, help="in-sync resources for the fleet resync count (50, at most --n)"
    )
    parser.add_argument(
        "--fleet-window", type=float, default=3.0, help="resync intervals the fleet resync is counted over (3)"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one resource (120)")
    parser.add_argument("--timeout-all", type=float, default=1800.0, help="seconds to wait for all N resources (1800)")
    parser.add_argument(
        "--quota-scale",
        type=float,
        default=1.0,
        help="quotas phase: AWS's default request quotas times this, for the proxy and the operator's limiter (1)",
    )
    parser.add_argument("--note", default=DEFAULT_NOTE, help="a note stored in the JSON")
    parser.add_argument(
        "--operator-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment of the operator process (repeatable), e.g. MALLOC_ARENA_MAX=2",
    )
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.operator_env):
        parser.error("--operator-env takes KEY=VALUE")
    args.operator_env = dict(item.split("=", 1) for item in args.operator_env)
    args.phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")
    if args.n < 1 or args.runs < 1 or args.resync_interval <= 0:
        parser.error("--n, --runs and --resync-interval must be positive")
    args.name = args.name or f"n{args.n}"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ecr-operator-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"workdir {workdir}; phases {', '.join(args.phases)}; n={args.n} runs={args.runs}")
    binaries = ensure_controlplane_binaries(lambda line: log(f"  {line}"))
    result: dict[str, Any] = {
        "name": args.name,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            "n": args.n,
            "runs": args.runs,
            "resync_interval": args.resync_interval,
            "phases": args.phases,
            "region": REGION,
            "operator_env": args.operator_env,
        },
        "note": args.note,
        "load_average": {"start": list(os.getloadavg())},
        "phases": {},
    }
    started = time.monotonic()
    with ExitStack() as stack:
        controlplane = stack.enter_context(LocalControlPlane(binaries, workdir / "controlplane"))
        moto = stack.enter_context(MotoServer(workdir / "moto"))
        proxy = stack.enter_context(AwsProxy(upstream=moto.endpoint_url))
        install_crd(controlplane)
        env = Env(controlplane, moto, proxy, workdir, args)
        result["machine"] = machine(env)
        runners = {
            "latency": phase_latency,
            "throughput": phase_throughput,
            "calls": phase_calls,
            "memory": phase_memory,
            "drift": phase_drift,
            "quotas": phase_quotas,
        }
        for phase in PHASES:
            if phase not in args.phases:
                continue
            log(f"phase {phase}")
            phase_started = time.monotonic()
            result["phases"][phase] = runners[phase](env)
            result["phases"][phase]["phase_seconds"] = round(time.monotonic() - phase_started, 1)
    result["load_average"]["end"] = list(os.getloadavg())
    result["total_seconds"] = round(time.monotonic() - started, 1)
    result["summary"] = verdicts(result)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.name}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    print_table(result)
    print(f"results: {path}  (logs: {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
