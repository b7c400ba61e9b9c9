"""What every phase of the benchmark shares: the resource, a watch, process probes, statistics, the environment."""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
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
)
from ecr_operator_dev._process import free_port  # noqa: E402

GROUP, VERSION, PLURAL = "ecr.platform.dev", "v1alpha1", "ecrrepositories"
REGION = "ap-northeast-2"
CLUSTER_ID = "bench"
PHASES = (
    *("latency", "throughput", "calls", "memory", "drift", "restart"),
    *("burst", "fleet", "quotas", "tenants", "events"),
)
DEFAULT_PHASES = ("latency", "throughput", "calls", "memory", "drift", "restart")
MEMORY_LEVELS = (0, 1, 100, 500, 1000)  # 1: the one-time cost of the first resource (boto3 models, clients)
PRODUCTION_RESYNC = 600.0
CURVE_STEP = 0.5
CLK_TCK = os.sysconf("SC_CLK_TCK")
READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "BatchCheck")
DEFAULT_NOTE = (
    "Local moto + kube-apiserver + etcd + operator + this tool share the machine; other engineers may be "
    "running test suites concurrently, so timings and CPU are noisy (see load_average). AWS call counts are exact."
)


def load() -> dict[str, Any]:
    """The machine's load now: the load averages and ``uptime``'s line (the machine is shared)."""
    try:
        uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        uptime = ""
    return {"load_average": [round(x, 2) for x in os.getloadavg()], "uptime": uptime}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The operator's /metrics as {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def histogram_quantiles(
    before: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    after: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    name: str,
    labels: dict[str, str],
    quantiles: Sequence[float] = (0.5, 0.95),
) -> dict[str, Any]:
    """Quantiles of what a histogram observed between two scrapes, interpolated within its buckets (as Prometheus's
    histogram_quantile does), with the count and mean."""
    wanted = tuple(sorted(labels.items()))
    buckets: list[tuple[float, float]] = []
    for (sample, sample_labels), value in after.items():
        if sample != f"{name}_bucket":
            continue
        rest = tuple(item for item in sample_labels if item[0] != "le")
        if rest != wanted:
            continue
        le = dict(sample_labels)["le"]
        bound = float("inf") if le == "+Inf" else float(le)
        buckets.append((bound, value - before.get((sample, sample_labels), 0.0)))
    buckets.sort()
    key = (f"{name}_count", wanted)
    count = after.get(key, 0.0) - before.get(key, 0.0)
    total = after.get((f"{name}_sum", wanted), 0.0) - before.get((f"{name}_sum", wanted), 0.0)
    result: dict[str, Any] = {"count": int(count), "mean": round(total / count, 4) if count else None}
    for q in quantiles:
        result[f"p{round(q * 100)}"] = _bucket_quantile(buckets, count, q)
    return result


def _bucket_quantile(buckets: list[tuple[float, float]], count: float, q: float) -> float | None:
    if not count:
        return None
    rank = q * count
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return round(lower + (bound - lower) * ((rank - below) / inside if inside else 1.0), 4)
        lower, below = bound, cumulative
    return None


def log(line: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def manifest(name: str, namespace: str, max_images: int = 30, encryption: str = "KMS") -> dict[str, Any]:
    """The seed example (KMS key with rotation, scan on push, keep-N lifecycle, all required tags); with
    ``encryption="AES256"`` the repository uses ECR's default encryption (no key, so no KMS quota applies)."""
    encrypted = (
        {"type": "KMS", "enableKeyRotation": True, "deletionWindowInDays": 7}
        if encryption == "KMS"
        else {"type": encryption}
    )
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "repositoryName": name,
            "region": REGION,
            "imageTagMutability": "MUTABLE",
            "scanOnPush": True,
            "encryption": encrypted,
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


def process_cpu(env: Env, operator: OperatorProcess) -> dict[str, float | None]:
    apiserver = getattr(getattr(env.controlplane, "_apiserver", None), "pid", None)
    etcd = getattr(getattr(env.controlplane, "_etcd", None), "pid", None)
    return {
        "operator": cpu_seconds(operator.pid),
        "moto": cpu_seconds(env.moto.pid),
        "kube_apiserver": cpu_seconds(apiserver),
        "etcd": cpu_seconds(etcd),
        "bench_and_proxy": self_cpu_seconds(),
    }


def cpu_delta(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float | None]:
    return {
        key: (round(after[key] - value, 2) if value is not None and after.get(key) is not None else None)  # type: ignore[operator]
        for key, value in before.items()
    }


def create_many(
    env: Env, namespace: str, names: list[str], threads: int = 16, encryption: str = "KMS"
) -> tuple[float, list[str]]:
    """Create the resources as fast as possible; returns (seconds to submit them all, errors)."""
    errors: list[str] = []
    with env.client(pool=threads) as client:
        api = kubernetes.client.CustomObjectsApi(client)

        def create(name: str) -> None:
            try:
                api.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, manifest(name, namespace, encryption=encryption)
                )
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


def calls_between(env: Env, action: Callable[[], float]) -> dict[str, Any]:
    """Run ``action`` (returns when its effect was observed) and count the AWS calls made meanwhile."""
    env.proxy.clear_calls()
    started = time.monotonic()
    observed = action()
    result = count_calls(env.proxy.calls())
    result["seconds"] = round(observed - started, 3)
    return result
