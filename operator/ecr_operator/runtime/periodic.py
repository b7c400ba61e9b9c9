"""One periodic timer per object for both of its periodic passes: the drift resync and the kind's own periodic job
(``Kind.timer``: the EcrRepository's inventory refresh).

Each kopf timer costs about 7 KiB per object (a task with its frames, a daemon record, a stopper with a threading
and an asyncio event, sleep helpers, the last run's patch; docs/fleet.md), so a fleet of thousands pays for every
timer an object has. The object's one timer ticks every ``Cadence.tick`` seconds and each pass runs on the ticks
it is due: every ``resync_every``-th and every ``timer_every``-th tick, at offsets fixed by the object's uid, so that
objects seen together spread their passes over the interval. The only state kept per object is its tick count.
A kind without a timer of its own gets a tick of its resync interval (``Cadence.of(resync, resync)``).
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


@dataclass(frozen=True)
class Due:
    resync: bool
    timer: bool
    """The kind's own periodic job."""


@dataclass
class Ticks:
    """Which passes each object's timer owes at its next tick."""

    cadence: Cadence
    _counts: dict[str, int] = field(default_factory=dict)

    def tick(self, uid: str) -> Due:
        count = self._counts.get(uid, 0)
        self._counts[uid] = count + 1
        spread = zlib.crc32(uid.encode())
        resync_offset = spread % self.cadence.resync_every
        timer_offset = (spread // self.cadence.resync_every) % self.cadence.timer_every
        return Due(
            resync=(count + resync_offset) % self.cadence.resync_every == 0,
            timer=(count + timer_offset) % self.cadence.timer_every == 0,
        )

    @staticmethod
    def retry() -> Due:
        """kopf retries a tick whose resync failed (with its backoff): the resync again, the tick not counted."""
        return Due(resync=True, timer=False)

    def forget(self, uid: str) -> None:
        self._counts.pop(uid, None)

    def __len__(self) -> int:
        return len(self._counts)
