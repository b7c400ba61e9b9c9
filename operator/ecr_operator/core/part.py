"""The part protocol, checked by mypy: an AWS part is a module with ``observe`` (reads only), ``plan`` (pure) and,
when it owns something to delete, ``plan_delete`` (pure), every part with the same signatures.

- ``observe(clients, desired, deps, view) -> Observed``: what AWS holds; ``deps`` are what the parts observed
  before it found (or what to read), ``view`` the resync's batched read of the kind (None outside resyncs);
- ``plan(desired, observed, deps) -> Plan``: actions in order, problems (reported, the rest converges), a refusal
  (nothing of the resource may be written), and typed outputs for the parts after it; ``deps`` are the outputs
  of the parts planned before it;
- ``plan_delete(desired, observed, deps) -> Plan``.

A kind names each of its parts with these types (``repository/reconcile.py``), so a part whose signature drifts
fails the type check.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from ecr_operator.core.actions import Plan
from ecr_operator.core.aws import AwsClients

DesiredT = TypeVar("DesiredT", contravariant=True)
ReadsT = TypeVar("ReadsT", contravariant=True)
ViewT = TypeVar("ViewT", contravariant=True)
ObservedT = TypeVar("ObservedT")
DepsT = TypeVar("DepsT", contravariant=True)
PlanT = TypeVar("PlanT", bound=Plan, covariant=True)


class ReadPart(Protocol[DesiredT, ReadsT, ViewT, ObservedT, DepsT, PlanT]):
    """A part that only reads (its plan has no actions, only outputs)."""

    def observe(self, clients: AwsClients, desired: DesiredT, deps: ReadsT, view: ViewT) -> ObservedT: ...

    def plan(self, desired: DesiredT, observed: ObservedT, deps: DepsT) -> PlanT: ...


class Part(
    ReadPart[DesiredT, ReadsT, ViewT, ObservedT, DepsT, PlanT],
    Protocol[DesiredT, ReadsT, ViewT, ObservedT, DepsT, PlanT],
):
    """A part that writes, and deletes what it owns."""

    def plan_delete(self, desired: DesiredT, observed: ObservedT, deps: DepsT) -> Plan: ...
