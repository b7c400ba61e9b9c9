"""One timer per object: the tick both intervals are multiples of, and which passes each tick owes."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter

import pytest

from ecr_operator.runtime.periodic import Cadence, Due, Ticks


@pytest.mark.parametrize(
    ("resync", "inventory", "expected"),
    [
        (600, 900, Cadence(300, 2, 3)),  # the defaults
        (900, 600, Cadence(300, 3, 2)),
        (600, 600, Cadence(600, 1, 1)),
        (5, 900, Cadence(5, 1, 180)),  # the e2e tests' short resync
        (600, 3, Cadence(3, 200, 1)),  # ... and short inventory
        (7, 900, Cadence(7, 1, 129)),  # gcd 1 would wake every object each second: the shortest, the other rounded
        (0.5, 900, Cadence(0.5, 1, 1800)),
        (600, 21600, Cadence(600, 1, 36)),
    ],
)
def test_the_tick_both_intervals_are_multiples_of(resync: float, inventory: float, expected: Cadence) -> None:
    assert Cadence.of(resync, inventory) == expected


def test_each_object_owes_its_passes_at_their_intervals() -> None:
    ticks = Ticks(Cadence(300, 2, 3))
    uid = str(uuid.uuid4())
    due = [ticks.tick(uid) for _ in range(12)]
    resyncs = [i for i, d in enumerate(due) if d.resync]
    inventories = [i for i, d in enumerate(due) if d.timer]
    assert len(resyncs) == 6 and all(b - a == 2 for a, b in itertools.pairwise(resyncs))
    assert len(inventories) == 4 and all(b - a == 3 for a, b in itertools.pairwise(inventories))
    assert resyncs[0] < 2 and inventories[0] < 3, "the first of each within its interval"


def test_objects_seen_together_spread_their_passes_over_the_interval() -> None:
    ticks = Ticks(Cadence(300, 2, 3))
    uids = [str(uuid.uuid4()) for _ in range(600)]
    first_resync: Counter[int] = Counter()
    first_inventory: Counter[int] = Counter()
    for uid in uids:
        due = [ticks.tick(uid) for _ in range(3)]
        first_resync[next(i for i, d in enumerate(due) if d.resync)] += 1
        first_inventory[next(i for i, d in enumerate(due) if d.timer)] += 1
    assert set(first_resync) == {0, 1} and min(first_resync.values()) > 600 / 2 * 0.8
    assert set(first_inventory) == {0, 1, 2} and min(first_inventory.values()) > 600 / 3 * 0.8


def test_a_retried_tick_is_the_failed_resync_again_and_is_not_counted() -> None:
    ticks = Ticks(Cadence(300, 2, 3))
    uid = str(uuid.uuid4())
    plain = Ticks(Cadence(300, 2, 3))
    assert ticks.retry() == Due(resync=True, timer=False)
    assert [ticks.tick(uid) for _ in range(6)] == [plain.tick(uid) for _ in range(6)]


def test_a_deleted_object_leaves_nothing() -> None:
    ticks = Ticks(Cadence(300, 2, 3))
    ticks.tick("a")
    ticks.forget("a")
    assert len(ticks) == 0


def test_a_lengthened_cadence_keeps_the_tick_and_its_fallback_applies_while_falling_back() -> None:
    fallback = Cadence.of(600, 600)
    lengthened = fallback.lengthened(21600, 21600)
    assert lengthened == Cadence(600, 36, 36)
    ticks = Ticks(lengthened, fallback=fallback)
    uid = str(uuid.uuid4())
    assert sum(ticks.tick(uid).resync for _ in range(72)) == 2
    ticks.falling_back = True
    assert [ticks.tick(uid) for _ in range(3)] == [Due(resync=True, timer=True)] * 3
    ticks.falling_back = False
    assert sum(ticks.tick(uid).timer for _ in range(36)) == 1


def test_a_fallback_must_tick_with_the_cadence() -> None:
    with pytest.raises(ValueError, match="tick"):
        Ticks(Cadence(600, 36, 36), fallback=Cadence(300, 1, 1))


def test_no_resync_while_kopf_retries_the_objects_change_pass() -> None:
    """The change pass kopf retries would make the same writes; a resync making them first reported a first create
    as DriftCorrected (seen in CI after NamespaceNotSeen). A change that failed for good is checked by the resync."""
    ticks, plain = Ticks(Cadence(300, 1, 3)), Ticks(Cadence(300, 1, 3))
    ticks.change_passed("a", retried=True)
    held = [ticks.tick("a") for _ in range(3)]
    assert not any(d.resync for d in held)
    assert [d.timer for d in held] == [plain.tick("a").timer for _ in range(3)], "the kind's own timer still runs"
    ticks.change_passed("a", retried=False)
    assert ticks.tick("a").resync
    ticks.change_passed("a", retried=True)
    ticks.forget("a")
    assert ticks.tick("a").resync, "a deleted object leaves nothing"
