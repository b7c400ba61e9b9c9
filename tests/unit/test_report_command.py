"""`ecr-operator report`: rows from `kubectl get ecr -A -o json`, a total line, table / JSON / CSV (pure)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from ecr_operator.cli.main import main
from ecr_operator.cli.manifests import ManifestError
from ecr_operator.cli.report import human_size, objects_from, render_table, row_of, total_of

GIB = 1024**3


def ecr(namespace: str, name: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "ecr.platform.dev/v1alpha1",
        "kind": "EcrRepository",
        "metadata": {"namespace": namespace, "name": name},
        "status": status or {},
    }


FULL = ecr(
    "team-a",
    "web",
    {
        "images": {"count": 3, "totalSizeBytes": 2 * GIB, "newestPushedAt": "2026-03-01T02:00:00Z", "newestTags": []},
        "scan": {"findingSeverityCounts": {"CRITICAL": 1, "HIGH": 4}},
        "estimatedMonthlyCostUSD": 1.2,
        "conditions": [{"type": "Ready", "status": "True"}],
    },
)
EMPTY = ecr(
    "team-b",
    "api",
    {
        "images": {"count": 0, "totalSizeBytes": 0, "newestTags": []},
        "estimatedMonthlyCostUSD": 1.0,
        "conditions": [{"type": "Ready", "status": "False"}],
    },
)
NEW = ecr("team-b", "new")  # not reconciled yet
LISTED = {"apiVersion": "v1", "kind": "List", "items": [NEW, EMPTY, FULL]}


def test_rows_and_total() -> None:
    rows = [row_of(obj) for obj in objects_from(json.dumps(LISTED), "<test>")]
    assert [(r.namespace, r.name) for r in rows] == [("team-b", "new"), ("team-b", "api"), ("team-a", "web")]
    web = rows[2]
    assert (web.images, web.size_bytes, web.critical, web.high, web.monthly_cost_usd, web.ready) == (
        3,
        2 * GIB,
        1,
        4,
        1.2,
        "True",
    )
    assert (rows[1].critical, rows[0].images, rows[0].ready) == (None, None, "Unknown")
    total = total_of(rows)
    assert (total.images, total.size_bytes, total.critical, total.high) == (3, 2 * GIB, 1, 4)
    assert total.monthly_cost_usd == pytest.approx(2.2) and total.ready == "1/3"
    assert total.newest_pushed_at == "2026-03-01T02:00:00Z"


def test_table_has_a_header_a_row_per_resource_and_a_total() -> None:
    lines = render_table([row_of(obj) for obj in objects_from(json.dumps(LISTED), "<test>")]).splitlines()
    assert lines[0].split()[:3] == ["NAMESPACE", "NAME", "IMAGES"] and len(lines) == 5
    assert lines[-1].startswith("TOTAL") and "2.0 GiB" in lines[-1] and "2.20" in lines[-1] and "1/3" in lines[-1]
    assert human_size(512) == "512 B" and human_size(3 * 1024**2) == "3.0 MiB" and human_size(None) == "-"


def test_cli_reads_stdin_as_json_and_csv(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(LISTED)))
    assert main(["report", "-o", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in out["resources"]] == ["web", "api", "new"]  # sorted by namespace, name
    assert out["total"]["images"] == 3 and out["total"]["monthly_cost_usd"] == pytest.approx(2.2)

    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(LISTED)))
    assert main(["report", "-f", "-", "-o", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["namespace"] for r in rows] == ["team-a", "team-b", "team-b", "TOTAL"]
    assert rows[0]["size_bytes"] == str(2 * GIB) and rows[2]["images"] == ""


def test_a_missing_file_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "-f", "/nonexistent/ecr.json"]) == 2
    assert "cannot read /nonexistent/ecr.json" in capsys.readouterr().err


def test_another_kind_is_an_error_not_a_silently_shorter_table(capsys: pytest.CaptureFixture[str]) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    with pytest.raises(ManifestError, match=r"items\[3\]: kind: v1 ConfigMap is not an EcrRepository"):
        objects_from(json.dumps({**LISTED, "items": [*LISTED["items"], config_map]}), "<test>")
