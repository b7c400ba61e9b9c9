"""One periodic timer per object for both of its periodic passes: the drift resync and the kind's own periodic job
(``Kind.timer``: the EcrRepository's inventory refresh).

Each kopf timer costs about 7 KiB per object (a task with its frames, a daemon record, a stopper with a threading
and an asyncio event, sleep helpers, the last run's patch; docs/fleet.md), so a fleet of thousands pays for every
timer an object has. The object's one timer ticks every ``Cadence.tick`` seconds and each pass runs on the ticks
it is due: every ``resync_every``-th and every ``timer_every``-th tick, at offsets fixed by the object's uid, so that
objects seen together spread their passes over the interval. The only state kept per object is its tick count.
A kind without a timer of its own gets a tick of its resync interval (``Cadence.of(resync, resync)``).

With an events queue (``runtime/eventqueue.py``) a kind AWS's events serve has two cadences on one tick: the
lengthened one (the safety net, e.g. every 6 h) and a ``fallback`` (e.g. every 10 minutes) that the queue's consumer
switches to while the queue cannot be read (:attr:`Ticks.falling_back`) and back from once it can.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cadence:
    tick: float
    """Seconds between two runs of an object's timer."""
    resync_every: int
    timer_every: int

    @classmethod
    def of(cls, resync_seconds: float, timer_seconds: float) -> Cadence:
        """The longest tick both intervals are whole multiples of (their greatest common divisor in seconds), unless
        that would wake every object more than 4 times per shortest interval: then the shortest interval, and the
        other rounded to a multiple of it (e.g. 600 s and 900 s: a tick of 300 s, every 2nd and 3rd tick)."""
        shortest = min(resync_seconds, timer_seconds)
        tick = shortest
        if resync_seconds >= 1 and timer_seconds >= 1:
            common = math.gcd(round(resync_seconds), round(timer_seconds))
            if common >= shortest / 4 and common <= shortest:
                tick = float(common)
        return cls(tick, max(1, round(resync_seconds / tick)), max(1, round(timer_seconds / tick)))

    def lengthened(self, resync_seconds: float, timer_seconds: float) -> Cadence:
        """Longer intervals on this cadence's tick, rounded to whole multiples of it (at least one tick)."""
        return Cadence(self.tick, max(1, round(resync_seconds / self.tick)), max(1, round(timer_seconds / self.tick)))


@dataclass(frozen=True)
class Due:
    resync: bool
    timer: bool
    """The kind's own periodic job."""


@dataclass
class Ticks:
    """Which passes each object's timer owes at its next tick."""

    cadence: Cadence
    fallback: Cadence | None = None
    """The cadence while the kind's events cannot be read (an events queue's safety net; same tick)."""
    falling_back: bool = False
    """Set by the events queue's consumer while the queue cannot be read: the ``fallback`` cadence applies."""
    changes_retried: set[str] = field(default_factory=set)
    """Objects whose change pass (create, update) kopf is retrying with its backoff. Their resyncs are left to that
    pass: a resync would make the same writes, reported as drift (``DriftCorrected``, counted as a resync) on an
    object whose owner waits for its ``Updated``. A change that failed for good is not here: the resync is what
    checks it again."""
    _counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.fallback is not None and self.fallback.tick != self.cadence.tick:
            raise ValueError("a fallback cadence must tick with the cadence")

    def tick(self, uid: str) -> Due:
        count = self._counts.get(uid, 0)
        self._counts[uid] = count + 1
        cadence = self.fallback if self.falling_back and self.fallback is not None else self.cadence
        spread = zlib.crc32(uid.encode())
        resync_offset = spread % cadence.resync_every
        timer_offset = (spread // cadence.resync_every) % cadence.timer_every
        return Due(
            resync=(count + resync_offset) % cadence.resync_every == 0 and uid not in self.changes_retried,
            timer=(count + timer_offset) % cadence.timer_every == 0,
        )

    @staticmethod
    def retry() -> Due:
        """kopf retries a tick whose resync failed (with its backoff): the resync again, the tick not counted."""
        return Due(resync=True, timer=False)

    def change_passed(self, uid: str, *, retried: bool) -> None:
        """A change pass of the object ended: ``retried`` when kopf will run it again (a retried error)."""
        if retried:
            self.changes_retried.add(uid)
        else:
            self.changes_retried.discard(uid)

    def forget(self, uid: str) -> None:
        self._counts.pop(uid, None)
        self.changes_retried.discard(uid)

    def __len__(self) -> int:
        return len(self._counts)
