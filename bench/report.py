"""The machine description, the verdict table (targets, PASS/MISS) and its printout."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import kubernetes

from bench.harness import (
    REPO_ROOT,
    Env,
)


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
            target = "p50 <= 0.1 s" if key == "create_to_ready_seconds" else ""
            ok = (p50 <= 0.1) if key == "create_to_ready_seconds" and p50 is not None else None
            row(f"{label} p50", p50, target, ok, " s")
            row(f"{label} p95", p95, "", None, " s")
    if "throughput" in phases:
        throughput = phases["throughput"]
        n = throughput["n"]
        limits = {100: 3.0, 500: 15.0, 1000: 30.0}
        limit = limits.get(n)
        value = throughput["all_ready_seconds"]
        row(
            f"{n} resources all Ready",
            value,
            f"<= {limit:.0f} s" if limit else "(targets at n=100, 500, 1000)",
            value <= limit if limit else None,
            " s",
        )
        row(f"{n} resources operator CPU", throughput["operator_cpu_seconds"], "", None, " s")
        row(f"{n} resources AWS calls / resource", throughput["aws_calls_per_resource"], "", None)
    if "calls" in phases:
        calls = phases["calls"]
        create = calls["create"]
        create_calls = create["reads"] + create["writes"]
        row(
            "create: AWS reads / writes",
            f"{create['reads']} / {create['writes']}",
            "<= 8 calls incl. the KMS key",
            create_calls <= 8,
        )
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
                "0 writes, <= 4.5 reads amortised",
                fleet["writes"] == 0 and fleet["reads_per_pass"] <= 4.5,
            )
            row("  operator CPU per resync pass", fleet["operator_cpu_ms_per_pass"], "", None, " ms")
    if "memory" in phases:
        for point in phases["memory"]["points"]:
            level = point["resources"]
            hwm = point["vm_hwm_kib"] / 1024 if point["vm_hwm_kib"] else None
            row(
                f"peak RSS at {level} resources",
                hwm,
                "<= 100 MiB" if level == 500 else "",
                (hwm <= 100) if level == 500 and hwm is not None else None,
                " MiB",
            )
        if not any(p["resources"] == 500 for p in phases["memory"]["points"]):
            row("peak RSS at 500 resources", None, "<= 100 MiB (run --n 500 or more)", None)
    if "quotas" in phases:
        quotas = phases["quotas"]
        from ecr_operator.core.ratelimit import DEFAULT_RATES

        published = {key for key, rate in DEFAULT_RATES.items() if rate is not None and not key.endswith(":*")}
        for label in ("limiter_off", "limiter_on"):
            run = quotas[label]
            at_published = sum(n for op, n in run["throttled_by_operation"].items() if op in published)
            row(
                f"quotas x{quotas['quota_scale']:g}, {label}: throttled at published / hidden quotas",
                f"{at_published} / {run['throttled_responses'] - at_published}",
                "0 at published quotas with the limiter",
                at_published == 0 if label == "limiter_on" else None,
            )
            row(
                f"quotas x{quotas['quota_scale']:g}, {label}: all Ready / quota-bound minimum",
                f"{run['all_ready_seconds']:.1f} s / {run['quota_bound_minimum_seconds']:.1f} s",
                "<= 1.10 x minimum with the limiter",
                run["vs_minimum"] <= 1.10 if label == "limiter_on" and run["vs_minimum"] else None,
            )
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
    if "restart" in phases:
        restart = phases["restart"]
        row(
            f"restart pass over {restart['n']} existing resources",
            restart["seconds_from_process_start"],
            "<= 15 s (at 600)",
            restart["seconds_from_process_start"] <= 15 if restart["n"] == 600 else None,
            " s",
        )
        row(
            "  restart pass: reads / writes per resource",
            f"{restart['aws_reads_per_resource']} / {restart['aws_writes_per_resource']}",
            "",
            None,
        )
    if "fleet" in phases:
        fleet_phase = phases["fleet"]
        n = fleet_phase["n"]
        row(f"fleet {n}: all Ready", fleet_phase["all_ready_seconds"], "", None, " s")
        row(f"fleet {n}: operator CPU", fleet_phase["operator_cpu_seconds"], "", None, " s")
        peak = fleet_phase["peak_rss_kib"] / 1024 if fleet_phase["peak_rss_kib"] else None
        row(
            f"fleet {n}: peak RSS",
            peak,
            "<= 250 MiB (at 5000)",
            (peak <= 250) if n == 5000 and peak is not None else None,
            " MiB",
        )
        steady = fleet_phase["steady_resync"]
        if steady:
            row(
                f"fleet {n}: resync reads per pass / per hour (600 s)",
                f"{steady['reads_per_pass']} / {steady['reads_per_hour']}",
                "<= 4.5 per pass",
                steady["reads_per_pass"] <= 4.5,
            )
        row(f"fleet {n}: RSS growth per resource", fleet_phase.get("rss_per_resource_kib"), "", None, " KiB")
        interactive = fleet_phase.get("interactive_during_steady_state") or {}
        for key, label in (("create_to_ready_seconds", "create"), ("edit_to_ready_seconds", "edit")):
            if key in interactive:
                p50, p95 = interactive[key]["p50"], interactive[key]["p95"]
                row(
                    f"fleet {n}: {label} -> Ready in steady state, p50 / p95",
                    f"{p50:.2f} / {p95:.2f}",
                    "<= 1 s / <= 3 s",
                    p50 <= 1 and p95 <= 3,
                )
        lag = (fleet_phase.get("timers") or {}).get("resync_lag_seconds") or {}
        if lag.get("count"):
            row(f"fleet {n}: resync timer lag p50 / p95", f"{lag['p50']} / {lag['p95']}", "", None, " s")
    if "burst" in phases:
        for size, entry in phases["burst"]["summary"].items():
            ratio = entry["best_defaults_over_best_off"]
            row(f"burst {size} AES256: defaults / limiter off (best runs)", ratio, "<= 1.10", ratio <= 1.10)
    if "tenants" in phases:
        tenants = phases["tenants"]
        baseline = tenants.get("unmapped_baseline")
        if baseline:
            label = f"{baseline['roles']} unmapped Namespaces x {len(baseline['regions'])} regions"
            row(f"tenants: {label}: peak above idle", baseline["peak_above_idle_mib"], "(no accounts)", None, " MiB")
        for roles in tenants["roles"]:
            label = f"{roles['roles']} roles x {len(roles['regions'])} regions (cache {roles['client_cache_size']})"
            row(f"tenants: {label}: idle RSS", roles["idle"]["vm_rss_mib"], "", None, " MiB")
            above = roles["peak_above_idle_mib"]
            row(f"tenants: {label}: peak above idle", above, "<= 60 MiB", above <= 60, " MiB")
        invented = tenants["invented"]
        if invented:
            label = f"{invented['resources']} invented regions"
            sets = invented["client_sets_cached"]
            row(
                f"tenants: {label}: client sets / requests to them",
                f"{sets['idle']} -> {sets['after']} / {invented['requests_signed_for_invented_regions']}",
                "no new client set, 0 requests",
                sets["idle"] == sets["after"] and invented["requests_signed_for_invented_regions"] == 0,
            )
            row(
                f"tenants: {label}: RSS growth per resource",
                invented["growth_kib_per_resource"],
                "(kopf's own per-object state)",
                None,
                " KiB",
            )
    if "events" in phases:
        events = phases["events"]
        n = events["n"]
        labels = (("drift_to_reverted_seconds", "drift -> reverted"), ("push_to_status_seconds", "push -> status"))
        for key, label in labels:
            row(f"events: {label} p50 / p95", f"{events[key]['p50']:.2f} / {events[key]['p95']:.2f}", "", None, " s")
        reads = events["reads_per_resource_per_hour"]
        row(
            f"events {n}: reads / resource / hour, polling vs events",
            f"{reads['polling_600s_resync_900s_inventory']} vs {reads['events_safety_net_and_fixed']}",
            ">= 20x fewer than 10-minute polling",
            (reads["ratio_resync_only"] or 0) >= 20,
        )
    overhead = result.get("proxy_overhead")
    if overhead:
        row(
            "harness: proxy overhead per AWS call, p50",
            f"{overhead['proxy_p50_ms']:.2f} - {overhead['direct_p50_ms']:.2f} = {overhead['overhead_p50_ms']:.2f}",
            "(ms, proxied - direct)",
            None,
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
