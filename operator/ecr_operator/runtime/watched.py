"""The resource gauges from what the watch delivers: every event of a served object (its initial listing included)
re-publishes its Ready reason and finding counts from its status; its deletion forgets it.

So the series are there as soon as a replica serves an object: after a restart or a failover, at the first listing,
not after the object's next pass or inventory. Nothing is written: this handler only reads.
"""

from __future__ import annotations

import functools
from typing import Any

import kopf

from ecr_operator.core.metrics import ResourceMetrics


def observe(kind: str, *, type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
    published: ResourceMetrics = memo.resource_metrics
    if type == "DELETED":
        published.forget(str(body.get("metadata", {}).get("uid")))
    else:
        published.observe(kind, body)


def register(registry: kopf.OperatorRegistry, resource: tuple[str, str, str], kind: str) -> None:
    kopf.on.event(*resource, registry=registry, id=f"metrics-{kind}")(functools.partial(observe, kind))
