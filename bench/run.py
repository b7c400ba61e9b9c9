"""Benchmarks of ecr-operator: latency, throughput, AWS calls per operation, memory, drift, restart, fleet scale.

Starts its own kube-apiserver + etcd (``LocalControlPlane``), moto (``MotoServer``) and a counting
``AwsProxy`` in front of moto (so every AWS call the operator makes is counted at the HTTP layer), installs
the CRD and runs the operator as a real process (``OperatorProcess``). Each phase gets a fresh operator
watching only its own namespace and a freshly reset moto, so phases do not disturb each other.

    .venv/bin/python -m bench --n 100            # or: hack/bench.sh --n 100

Prints a table (with the targets, PASS/MISS; they are not assertions) and writes
``bench/results/<name>.json``.

Layout: this module parses the arguments and runs the phases; ``bench/harness.py`` holds what they share (the
resource, a watch, process probes, statistics, the environment), ``bench/phases/<phase>.py`` one phase each,
``bench/report.py`` the machine description and the verdict table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import (
    DEFAULT_NOTE,
    DEFAULT_PHASES,
    PHASES,
    REGION,
    REPO_ROOT,
    Env,
    install_crd,
    load,
    log,
)
from bench.phases.burst import phase_burst
from bench.phases.calls import phase_calls
from bench.phases.drift import phase_drift
from bench.phases.events import phase_events
from bench.phases.fleet import phase_fleet
from bench.phases.latency import phase_latency
from bench.phases.memory import phase_memory
from bench.phases.overhead import proxy_overhead
from bench.phases.quotas import phase_quotas
from bench.phases.restart import phase_restart
from bench.phases.tenants import add_arguments as add_tenant_arguments
from bench.phases.tenants import phase_tenants
from bench.phases.throughput import phase_throughput
from bench.report import machine, print_table, verdicts
from ecr_operator_dev import AwsProxy, LocalControlPlane, MotoServer, ensure_controlplane_binaries


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
        "--only",
        default=",".join(DEFAULT_PHASES),
        help=f"comma-separated phases to run (default: {','.join(DEFAULT_PHASES)}; also: "
        "burst, fleet, quotas, tenants, events)",
    )
    parser.add_argument(
        "--restart-n", type=int, default=None, help="existing resources for the restart phase (default: --n)"
    )
    parser.add_argument(
        "--quota-scale",
        type=float,
        default=1.0,
        help="quotas phase: AWS's default request quotas times this, for the proxy and the operator's limiter (1)",
    )
    parser.add_argument(
        "--quota-hidden-rate",
        type=float,
        default=20.0,
        help="quotas phase: the proxy's rate for each operation AWS publishes no quota for (20 per second)",
    )
    parser.add_argument(
        "--quota-encryption", default="KMS", choices=("KMS", "AES256"), help="quotas phase: the resources' encryption"
    )
    parser.add_argument("--fleet-batch", type=int, default=1000, help="fleet phase: resources per batch (1000)")
    parser.add_argument(
        "--fleet-encryption",
        default="KMS",
        choices=("KMS", "AES256"),
        help="fleet phase: the resources' encryption (KMS: creates run at KMS's CreateKey quota, 5 per second)",
    )
    parser.add_argument(
        "--fleet-inventory-interval",
        type=float,
        default=900.0,
        help="fleet phase: the operator's inventory interval the hourly reads are computed with (its default, 900)",
    )
    parser.add_argument(
        "--fleet-probes",
        type=int,
        default=10,
        help="fleet phase: creates and edits made one at a time in the steady state, each timed to Ready (10)",
    )
    parser.add_argument(
        "--burst-sizes", default="100,500", help="burst phase: AES256 resources applied at once (100,500)"
    )
    parser.add_argument(
        "--burst-runs", type=int, default=1, help="burst phase: runs of each size and setting, alternating (1)"
    )
    parser.add_argument(
        "--fleet-steady-window",
        type=float,
        default=120.0,
        help="fleet phase: seconds to count steady-state resyncs at the production interval (120; 0: skip,"
        " else the phase waits half an interval, 300 s, after the last create first)",
    )
    add_tenant_arguments(parser)
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
        "uptime": {"start": load()["uptime"]},
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
            "restart": phase_restart,
            "burst": phase_burst,
            "fleet": phase_fleet,
            "quotas": phase_quotas,
            "tenants": phase_tenants,
            "events": phase_events,
        }
        result["proxy_overhead"] = proxy_overhead(env)
        overhead = result["proxy_overhead"]
        log(
            f"proxy overhead per call: p50 {overhead['proxy_p50_ms']:.2f} ms through the proxy vs "
            f"{overhead['direct_p50_ms']:.2f} ms direct (+{overhead['overhead_p50_ms']:.2f} ms)"
        )
        for phase in PHASES:
            if phase not in args.phases:
                continue
            log(f"phase {phase}")
            phase_started = time.monotonic()
            result["phases"][phase] = runners[phase](env)
            result["phases"][phase]["phase_seconds"] = round(time.monotonic() - phase_started, 1)
    result["load_average"]["end"] = list(os.getloadavg())
    result["uptime"]["end"] = load()["uptime"]
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
