"""`ecr-operator report`: images, size, newest push, CRITICAL/HIGH findings, monthly cost and Ready of every
EcrRepository given, with a total line, as a table, JSON or CSV -- for the platform team's monthly review.

It reads the objects, not the cluster: pipe ``kubectl get ecr -A -o json`` in (``-f -``, the default) or give a
file. So it needs no Kubernetes client in the runtime (the ``kubernetes`` package is not a dependency of the
operator), works with every authentication kubectl supports (exec plugins, OIDC, ...), and sees exactly what the
caller's own RBAC lets them list, in the scope they chose (``-A``, ``-n team-a``, a label selector).

    kubectl get ecr -A -o json | ecr-operator report
    kubectl get ecr -A -o json | ecr-operator report -o csv > 2026-03.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import yaml

from ecr_operator.repository.spec import KIND

FORMATS = ("table", "json", "csv")


@dataclass(frozen=True)
class Row:
    namespace: str
    name: str
    images: int | None
    size_bytes: int | None
    newest_pushed_at: str | None
    critical: int | None
    high: int | None
    monthly_cost_usd: float | None
    ready: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--filename",
        default="-",
        help="the output of `kubectl get ecr -A -o json` (or YAML); '-' (default) reads standard input",
    )
    parser.add_argument("-o", "--output", choices=FORMATS, default="table", help="table (default), json or csv")


def objects_from(document: Any) -> list[Mapping[str, Any]]:
    """The EcrRepository objects in a kubectl List, a single object, or a list of objects."""
    if isinstance(document, Mapping) and "items" in document:
        items: Iterable[Any] = document.get("items") or ()
    elif isinstance(document, list):
        items = document
    else:
        items = [document] if document else []
    return [item for item in items if isinstance(item, Mapping) and item.get("kind", KIND) == KIND]


def row_of(obj: Mapping[str, Any]) -> Row:
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    images = status.get("images") or {}
    counts = (status.get("scan") or {}).get("findingSeverityCounts")
    ready: Mapping[str, Any] = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), {})
    cost = status.get("estimatedMonthlyCostUSD")
    return Row(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        images=images.get("count"),
        size_bytes=images.get("totalSizeBytes"),
        newest_pushed_at=images.get("newestPushedAt"),
        critical=counts.get("CRITICAL", 0) if counts is not None else None,
        high=counts.get("HIGH", 0) if counts is not None else None,
        monthly_cost_usd=float(cost) if cost is not None else None,
        ready=str(ready.get("status") or "Unknown"),
    )


def _sum(values: Iterable[int | float | None]) -> Any:
    return sum(value for value in values if value is not None)


def total_of(rows: Sequence[Row]) -> Row:
    """Sums over the resources (an unknown value counts as nothing); newest push of all; Ready: how many."""
    pushes = [row.newest_pushed_at for row in rows if row.newest_pushed_at]
    return Row(
        namespace="TOTAL",
        name=f"{len(rows)} resources",
        images=_sum(row.images for row in rows),
        size_bytes=_sum(row.size_bytes for row in rows),
        newest_pushed_at=max(pushes) if pushes else None,
        critical=_sum(row.critical for row in rows),
        high=_sum(row.high for row in rows),
        monthly_cost_usd=round(float(_sum(row.monthly_cost_usd for row in rows)), 4),
        ready=f"{sum(1 for row in rows if row.ready == 'True')}/{len(rows)}",
    )


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError(size)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def render_table(rows: Sequence[Row]) -> str:
    header = ["NAMESPACE", "NAME", "IMAGES", "SIZE", "NEWEST PUSH", "CRITICAL", "HIGH", "USD/MONTH", "READY"]

    def cells(row: Row) -> list[str]:
        cost = "-" if row.monthly_cost_usd is None else f"{row.monthly_cost_usd:.2f}"
        return [
            row.namespace,
            row.name,
            _cell(row.images),
            human_size(row.size_bytes),
            _cell(row.newest_pushed_at),
            _cell(row.critical),
            _cell(row.high),
            cost,
            row.ready,
        ]

    lines = [header, *(cells(row) for row in rows), cells(total_of(rows))]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]
    return "\n".join(text) + "\n"


def render_json(rows: Sequence[Row]) -> str:
    return json.dumps({"resources": [asdict(row) for row in rows], "total": asdict(total_of(rows))}, indent=2) + "\n"


def render_csv(rows: Sequence[Row]) -> str:
    out = io.StringIO()
    fields = list(Row.__dataclass_fields__)
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in [*rows, total_of(rows)]:
        writer.writerow({key: "" if value is None else value for key, value in asdict(row).items()})
    return out.getvalue()


RENDERERS = {"table": render_table, "json": render_json, "csv": render_csv}


def run(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    source = stdin or sys.stdin
    try:
        if args.filename == "-":
            text = source.read()
        else:
            with open(args.filename, encoding="utf-8") as handle:
                text = handle.read()
        document = yaml.safe_load(text) if text.strip() else None
    except (OSError, yaml.YAMLError) as exc:
        sys.stderr.write(f"ecr-operator report: cannot read {args.filename}: {exc}\n")
        return 2
    rows = sorted((row_of(obj) for obj in objects_from(document)), key=lambda row: (row.namespace, row.name))
    (stdout or sys.stdout).write(RENDERERS[args.output](rows))
    return 0
