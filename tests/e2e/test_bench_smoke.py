"""The benchmark tool keeps working: one small run of every phase, and the JSON it writes has what we expect.

No timing assertions: the numbers depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
N = 5


def _non_negative(value: Any, where: str) -> None:
    assert isinstance(value, int | float) and not isinstance(value, bool), f"{where}: {value!r} is not a number"
    assert value >= 0, f"{where}: {value!r} is negative"


def _timings(summary: dict[str, Any], runs: int, where: str) -> None:
    assert summary["n"] == runs, where
    for key in ("p50", "p95", "min", "max", "mean"):
        _non_negative(summary[key], f"{where}.{key}")
    assert summary["min"] <= summary["p50"] <= summary["p95"] <= summary["max"], where
    assert len(summary["samples"]) == runs, where


@pytest.mark.timeout(900)
def test_bench_runs_every_phase_and_writes_sane_json(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "bench",
        "--n",
        str(N),
        "--runs",
        "2",
        "--drift-samples",
        "2",
        "--resync-interval",
        "2",
        "--name",
        "smoke",
        "--out",
        str(tmp_path),
        "--workdir",
        str(tmp_path / "work"),
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=840)
    assert result.returncode == 0, f"bench failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    assert "verdict" in result.stdout  # the table was printed

    data = json.loads((tmp_path / "smoke.json").read_text())
    assert {"name", "parameters", "machine", "note", "load_average", "phases", "summary"} <= data.keys()
    machine = data["machine"]
    assert {"cpu_model", "cores", "memory_mib", "python", "versions", "kube_apiserver", "git_commit"} <= machine.keys()
    assert machine["kube_apiserver"].startswith("v1.")
    assert {"kopf", "boto3", "moto"} <= machine["versions"].keys()
    assert set(data["phases"]) == {"latency", "throughput", "calls", "memory", "drift", "restart"}

    overhead = data["proxy_overhead"]
    for key in ("direct_p50_ms", "proxy_p50_ms"):
        _non_negative(overhead[key], f"proxy_overhead.{key}")
    assert overhead["overhead_p50_ms"] == pytest.approx(overhead["proxy_p50_ms"] - overhead["direct_p50_ms"], abs=0.01)

    latency = data["phases"]["latency"]
    for key in ("create_to_ready_seconds", "update_to_ready_seconds", "delete_to_deleted_event_seconds"):
        _timings(latency[key], 2, f"latency.{key}")

    throughput = data["phases"]["throughput"]
    assert throughput["n"] == N
    assert throughput["create_errors"] == []
    _non_negative(throughput["all_ready_seconds"], "throughput.all_ready_seconds")
    _non_negative(throughput["operator_cpu_seconds"], "throughput.operator_cpu_seconds")
    points = throughput["ready_curve"]["points"]
    assert points and points[-1][1] == N, points
    assert [count for _, count in points] == sorted(count for _, count in points), "the Ready curve never decreases"
    assert throughput["aws_calls"]["writes"] >= N  # every resource was created in AWS

    calls = data["phases"]["calls"]
    for operation in ("create", "update_max_image_count", "delete", "resync_in_sync", "resync_fleet"):
        counted = calls[operation]
        _non_negative(counted["reads"], f"calls.{operation}.reads")
        _non_negative(counted["writes"], f"calls.{operation}.writes")
        assert counted["reads"] == sum(counted["read_operations"].values()), operation
        assert counted["writes"] == sum(counted["write_operations"].values()), operation
    assert calls["create"]["writes"] >= 1
    assert calls["update_max_image_count"]["writes"] >= 1
    assert calls["delete"]["writes"] >= 1

    memory = data["phases"]["memory"]["points"]
    assert [p["resources"] for p in memory] == [0, 1, N]
    for point in memory:
        _non_negative(point["vm_hwm_kib"], "memory.vm_hwm_kib")
        assert point["vm_hwm_kib"] > 0

    drift = data["phases"]["drift"]
    assert drift["resync_interval"] == 2
    _timings(drift["correction_seconds"], 2, "drift.correction_seconds")

    restart = data["phases"]["restart"]
    assert restart["n"] == N
    _non_negative(restart["seconds_from_process_start"], "restart.seconds_from_process_start")
    assert restart["seconds_from_liveness"] <= restart["seconds_from_process_start"]
    assert restart["aws_calls"]["writes"] == 0  # a restart over resources in sync changes nothing in AWS
    assert restart["aws_calls"]["reads"] >= N  # and each was observed again

    verdicts = {row["verdict"] for row in data["summary"]}
    assert verdicts <= {"PASS", "MISS", "n/a"}
    assert any(row["metric"].startswith("apply -> Ready") for row in data["summary"])
