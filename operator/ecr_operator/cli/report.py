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

from ecr_operator.cli.manifests import Document, ManifestError, describe, objects, parse_stream
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


class _Fields:
    """Typed reads of one object's fields: a value of the wrong type is a ManifestError naming its path."""

    def __init__(self, where: str, obj: Mapping[str, Any]) -> None:
        self.where, self.obj = where, obj

    def get(self, path: str, expected: type | tuple[type, ...], default: Any = None) -> Any:
        value: Any = self.obj
        for key in path.split("."):
            if value is None:
                return default
            if not isinstance(value, Mapping):
                parent = path[: path.index(key)].rstrip(".")
                raise ManifestError(self.where, parent, f"must be an object, not {describe(value)}")
            value = value.get(key)
        if value is None:
            return default
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in _as_tuple(expected)):
            names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in _as_tuple(expected))
            raise ManifestError(self.where, path, f"must be {names}, not {describe(value)}")
        return value


_TYPE_NAMES: dict[type, str] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    Mapping: "an object",
}


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def objects_from(text: str, where: str) -> list[Document]:
    """The EcrRepository objects of ``kubectl get ecr -o json|yaml`` (a List, or one object); raises
    ManifestError for anything else: no input, not YAML/JSON, not an object, another kind."""
    if not text.strip():
        raise ManifestError(where, "", f"empty: expected the output of `kubectl get ecr -A -o json` (a List of {KIND})")
    found: list[Document] = []
    for document_where, value in parse_stream(where, text):
        for item in objects(document_where, value):
            if isinstance(item, ManifestError):
                raise item
            if item.kind != KIND or not item.ours:
                raise ManifestError(item.where, "kind", f"{item.api_version} {item.kind} is not an {KIND}")
            found.append(item)
    return found


def row_of(document: Document) -> Row:
    fields = _Fields(document.where, document.body)
    conditions = fields.get("status.conditions", list, [])
    for index, condition in enumerate(conditions):
        if not isinstance(condition, Mapping):
            raise ManifestError(
                document.where, f"status.conditions[{index}]", f"must be an object, not {describe(condition)}"
            )
    ready: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    counts = fields.get("status.scan.findingSeverityCounts", Mapping)
    cost = fields.get("status.estimatedMonthlyCostUSD", (int, float))
    severity = _Fields(document.where, {"status": {"scan": {"findingSeverityCounts": counts}}})
    return Row(
        namespace=str(fields.get("metadata.namespace", str, "")),
        name=str(fields.get("metadata.name", str, "")),
        images=fields.get("status.images.count", int),
        size_bytes=fields.get("status.images.totalSizeBytes", int),
        newest_pushed_at=fields.get("status.images.newestPushedAt", str),
        critical=severity.get("status.scan.findingSeverityCounts.CRITICAL", int, 0) if counts is not None else None,
        high=severity.get("status.scan.findingSeverityCounts.HIGH", int, 0) if counts is not None else None,
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
    """Exit 0 with the table (an empty List is an empty table), or 2 with one line naming what is wrong."""
    where = "<stdin>" if args.filename == "-" else args.filename
    try:
        if args.filename == "-":
            text = (stdin or sys.stdin).read()
        else:
            with open(args.filename, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        sys.stderr.write(f"ecr-operator report: error: cannot read {where}: {exc}\n")
        return 2
    try:
        rows = sorted((row_of(obj) for obj in objects_from(text, where)), key=lambda row: (row.namespace, row.name))
    except ManifestError as error:
        sys.stderr.write(f"ecr-operator report: error: {error}\n")
        return 2
    (stdout or sys.stdout).write(RENDERERS[args.output](rows))
    return 0
