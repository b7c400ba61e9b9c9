"""Which AWS regions the operator acts in, and the partition of each (for the ARNs it writes into policies).

A region is one botocore's endpoint data lists for both ECR and KMS, in any partition (``aws``, ``aws-cn``,
``aws-us-gov``, the isolated ones), narrowed further by ``--allowed-regions``. Anything else is refused before a
client is built: a region-shaped string (``aa-fake-1``) would otherwise cost a set of clients, hold a worker while
its endpoint times out, and be retried for ever as ``AwsUnreachable``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import botocore.session

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason

SERVICES = ("ecr", "kms")
"""The services every resource needs in its region."""

DEFAULT_PARTITION = "aws"


@functools.cache
def shared_loader() -> Any:
    """The process's one botocore loader (service models, endpoint data): the operator's sessions all use it, so
    each JSON file is read and held once."""
    return botocore.session.get_session().get_component("data_loader")


@functools.cache
def known_regions() -> Mapping[str, str]:
    """Every region botocore lists for both ECR and KMS -> its partition, from its endpoint data (read once)."""
    session = botocore.session.get_session()
    session.register_component("data_loader", shared_loader())
    known: dict[str, str] = {}
    for partition in session.get_available_partitions():
        offered = [set(session.get_available_regions(service, partition)) for service in SERVICES]
        known.update(dict.fromkeys(set.intersection(*offered), partition))
    return MappingProxyType(dict(sorted(known.items())))


def partition_of(region: str) -> str:
    """The partition of a known region (``cn-north-1`` -> ``aws-cn``); ``aws`` for any other string (such a region
    is refused before anything is sent, so the ARN built with it never reaches AWS)."""
    return known_regions().get(region, DEFAULT_PARTITION)


def root_principal(account_id: str, region: str) -> str:
    """The IAM principal of a whole account, in the partition of ``region``."""
    return f"arn:{partition_of(region)}:iam::{account_id}:root"


@dataclass(frozen=True)
class RegionPolicy:
    """The regions resources may live in: botocore's known ones, narrowed to ``allowed`` when that is not empty."""

    allowed: frozenset[str] = frozenset()

    @classmethod
    def of(cls, allowed: Iterable[str]) -> RegionPolicy:
        """The policy of ``--allowed-regions``; ValueError naming any region that is not a known one."""
        regions = frozenset(allowed)
        unknown = sorted(region for region in regions if region not in known_regions())
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not an AWS region that offers both ECR and KMS")
        return cls(regions)

    def refusal(self, region: str) -> OperatorError | None:
        """Why the operator must not act in ``region`` (``RegionNotAllowed``, waits for a change), or None."""
        if region not in known_regions():
            return OperatorError(
                Reason.REGION_NOT_ALLOWED,
                f"region {region!r} is not an AWS region that offers both ECR and KMS (botocore's endpoint data); "
                "nothing was sent to AWS",
            )
        if self.allowed and region not in self.allowed:
            return OperatorError(
                Reason.REGION_NOT_ALLOWED,
                f"region {region!r} is not one this operator may use (--allowed-regions: "
                f"{', '.join(sorted(self.allowed))}); nothing was sent to AWS",
            )
        return None

    def check(self, region: str) -> None:
        refusal = self.refusal(region)
        if refusal is not None:
            raise refusal


class RefusesRegions(Protocol):
    def region_refusal(self, region: str) -> OperatorError | None: ...


def refused_region_delete(clients: RefusesRegions, region: str, recorded: Iterable[str], *, retain: bool) -> str | None:
    """A delete in a region the operator refuses (unknown, or not in --allowed-regions), where no client may be
    built: why the object may go without any AWS call (every pass was refused there, so nothing was made; or Retain
    keeps it anyway), or RegionNotAllowed keeping the finalizer while status records something made there
    (``recorded``: the region was allowed then). None when the region is not refused."""
    refusal = clients.region_refusal(region)
    if refusal is None:
        return None
    made = list(recorded)
    if retain or not made:
        kept = "deletionPolicy is Retain" if retain else "nothing was made there"
        return f"{refusal.reason}: {refusal.message}; {kept}: the resource goes, AWS is left as it is"
    raise OperatorError(
        Reason.REGION_NOT_ALLOWED,
        f"{refusal.message}; {' and '.join(made)} record what was made there, so the delete waits: allow the "
        "region again to delete it, or set deletionPolicy: Retain to keep it and let the resource go",
    )
