"""The resync's view: one batched read per (account, region), shared by every EcrRepository's pass in a tick.

DescribeRepositories lists up to 1000 repositories a page, and the Resource Groups Tagging API returns the
tags of every KMS key this cluster owns ~50 a page, so N resources resyncing within ``max_age`` seconds cost
a handful of batched calls instead of 2*N. A view is never older than the resource's own last write: a
resource that just changed something reads fresh, so the operator never "corrects" its own write.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ecr_operator.core.aws import AwsClients
from ecr_operator.core.compare import tags_from_list
from ecr_operator.core.errors import to_operator_error
from ecr_operator.repository.render import CLUSTER_TAG


@dataclass(frozen=True)
class RegionView:
    taken_at: float
    """time.monotonic() just before the first read."""
    repositories: dict[str, dict[str, Any]]
    """DescribeRepositories entries by repository name."""
    key_tags: dict[str, dict[str, str]]
    """Tags of this cluster's KMS keys by key ARN."""


@dataclass
class RegionViews:
    """The latest :class:`RegionView` of each (account, region), re-read when too old for the pass asking."""

    cluster_id: str
    max_age: float
    _views: dict[tuple[str, str], RegionView] = field(default_factory=dict)
    _locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def view(self, clients: AwsClients, not_before: float) -> RegionView:
        """A view of the clients' (account, region) taken after ``not_before`` and at most ``max_age`` seconds ago.

        Per account as well as per region: a repository name means a different repository in another account.
        Blocks the calling thread while another one refreshes the same view (the operator's passes use
        ``repository/refresh.py``, which waits in the event loop instead)."""
        target = clients.target
        with self._guard:
            lock = self._locks.setdefault(target, threading.Lock())
        with lock:  # one refresh per (account, region) at a time; the others wait for it and share it
            return self.cached(target, not_before) or self.refresh(clients)

    def cached(self, target: tuple[str, str], not_before: float) -> RegionView | None:
        """The stored view of ``target`` if it was taken after ``not_before`` and at most ``max_age`` seconds ago."""
        view = self._views.get(target)
        if view is None or view.taken_at < not_before or time.monotonic() - view.taken_at > self.max_age:
            return None
        return view

    def refresh(self, clients: AwsClients) -> RegionView:
        """Read and store a new view of the clients' (account, region); callers make sure one runs at a time."""
        # Let the old view go before the new one is read: at thousands of resources two at once would set the
        # process's peak memory (passes still using the old one keep it alive meanwhile). Views of other
        # (account, region)s that are too old to be served go too: an account no Namespace maps any more would
        # otherwise keep its whole listing for as long as the process runs.
        self._views.pop(clients.target, None)
        self._drop_expired()
        view = self._take(clients)
        self._views[clients.target] = view
        return view

    def __contains__(self, target: object) -> bool:
        """Whether a view of ``target`` ((role, region)) is held, fresh or not."""
        return target in self._views

    def _drop_expired(self) -> None:
        oldest = time.monotonic() - self.max_age
        with self._guard:
            for target, view in list(self._views.items()):
                if view.taken_at < oldest:
                    self._views.pop(target, None)

    def _take(self, clients: AwsClients) -> RegionView:
        taken_at = time.monotonic()
        try:
            repositories: dict[str, dict[str, Any]] = {}
            for page in clients.ecr.get_paginator("describe_repositories").paginate(
                PaginationConfig={"PageSize": 1000}
            ):
                repositories.update((r["repositoryName"], _slim(r)) for r in page.get("repositories", []))
            key_tags: dict[str, dict[str, str]] = {}
            for page in clients.tagging.get_paginator("get_resources").paginate(
                ResourceTypeFilters=["kms:key"],
                TagFilters=[{"Key": CLUSTER_TAG, "Values": [self.cluster_id]}],
                # Pages end at 100 tags by default (~10 keys); 500 is the maximum. AWS takes this or ResourcesPerPage.
                TagsPerPage=500,
            ):
                for mapping in page.get("ResourceTagMappingList", []):
                    tags = tags_from_list(mapping.get("Tags"))
                    # Most tag keys and values repeat across keys (ownership, required tags): store each once.
                    key_tags[mapping["ResourceARN"]] = {sys.intern(k): sys.intern(v) for k, v in tags.items()}
        except Exception as exc:
            raise to_operator_error(exc, "read the region's repositories and keys") from exc
        return RegionView(taken_at, repositories, key_tags)


_VIEW_FIELDS = (
    "repositoryName",
    "repositoryArn",
    "repositoryUri",
    "registryId",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "imageScanningConfiguration",
    "encryptionConfiguration",
    "createdAt",
)
"""What a resync reads from a DescribeRepositories entry (repository/parts/repository.py); the rest is not kept. The
creation time tells a repository from one re-created under its name (the inventory's second ownership read)."""


def _slim(repository: dict[str, Any]) -> dict[str, Any]:
    return {field: repository[field] for field in _VIEW_FIELDS if field in repository}
