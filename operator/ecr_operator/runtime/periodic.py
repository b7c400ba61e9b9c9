"""One periodic timer per object for both of its periodic passes: the drift resync and the inventory refresh.

Each kopf timer costs about 7 KiB per object (a task with its frames, a daemon record, a stopper with a threading
and an asyncio event, sleep helpers, the last run's patch; docs/fleet.md), so a fleet of thousands pays for every
timer an object has. The object's one timer ticks every ``Cadence.tick`` seconds and each pass runs on the ticks
it is due: every ``resync_every``-th and every ``inventory_every``-th tick, at offsets fixed by the object's uid, so
that objects seen together spread their passes over the interval. The only state kept per object is its tick count.
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
    inventory_every: int

    @classmethod
    def of(cls, resync_seconds: float, inventory_seconds: float) -> Cadence:
        """The longest tick both intervals are whole multiples of (their greatest common divisor in seconds), unless
        that would wake every object more than 4 times per shortest interval: then the shortest interval, and the
        other rounded to a multiple of it (e.g. 600 s and 900 s: a tick of 300 s, every 2nd and 3rd tick)."""
        shortest = min(resync_seconds, inventory_seconds)
        tick = shortest
        if resync_seconds >= 1 and inventory_seconds >= 1:
            common = math.gcd(round(resync_seconds), round(inventory_seconds))
            if common >= shortest / 4 and common <= shortest:
                tick = float(common)
        return cls(tick, max(1, round(resync_seconds / tick)), max(1, round(inventory_seconds / tick)))


@dataclass(frozen=True)
class Due:
    resync: bool
    inventory: bool


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
        inventory_offset = (spread // self.cadence.resync_every) % self.cadence.inventory_every
        return Due(
            resync=(count + resync_offset) % self.cadence.resync_every == 0,
            inventory=(count + inventory_offset) % self.cadence.inventory_every == 0,
        )

    @staticmethod
    def retry() -> Due:
        """kopf retries a tick whose resync failed (with its backoff): the resync again, the tick not counted."""
        return Due(resync=True, inventory=False)

    def forget(self, uid: str) -> None:
        self._counts.pop(uid, None)

    def __len__(self) -> int:
        return len(self._counts)
