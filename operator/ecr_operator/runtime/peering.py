"""kopf's peering pause, for the work this process runs outside kopf's handlers.

With two replicas and peering, kopf pauses every replica but the one of the highest priority: it stops their watch
streams, timers and daemons. The deferred resumes (``resume.py``) are not kopf's: a replica that listed the objects
at its start and was then put on standby (a replica of a higher priority started) would run them on, with the bodies
it listed, while the serving replica passes over the same objects (a spec edited meanwhile reverted until a
resync; two replicas' writes interleaved). This follows kopf's pause, seen through the watch streams
(``kube.tap_watches``, as the events queue sees it), and puts the deferred resumes on standby while it is on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ecr_operator.runtime import kube
from ecr_operator.runtime.process import Runtime
from ecr_operator.runtime.resume import DeferredResumes

log = logging.getLogger(__name__)


class PauseFollower:
    """A watch observer (``kube.WatchObserver``) that observes no event, only kopf's operator-wide pause."""

    def __init__(self, resumes: DeferredResumes) -> None:
        self.resumes = resumes
        self.task: asyncio.Task[None] | None = None

    def started(self, resource: Any, namespace: str | None, paused: kube.Paused | None) -> bool:
        if paused is not None and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.follow(paused), name="peering pause")
        return False

    def seen(self, namespace: str | None, event: Any) -> None:
        pass

    def ended(self, namespace: str | None) -> None:
        pass

    async def follow(self, paused: kube.Paused) -> None:
        while True:
            await paused.wait_for(True)
            log.info("peering: another replica serves; deferred resume passes stop")
            self.resumes.stand_by()
            await paused.wait_for(False)
            log.info("peering: this replica serves again")
            self.resumes.serve()


async def start(memo: Runtime, **_: Any) -> None:
    """kopf's startup handler (``runtime/handlers.py``): before kopf's watch streams start, whose first start hands
    over kopf's pause (the follower, held by the tap, holds its task)."""
    kube.tap_watches(PauseFollower(memo.resumes))
