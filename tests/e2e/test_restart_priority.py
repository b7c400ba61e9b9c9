"""A create made while a restarted operator resumes its existing resources does not wait for that restart pass.

kopf queues the resume of every existing object at start-up in its per-object workers, first come first served;
the resume handler returns at once and its pass runs as background work (runtime/resume.py), so the create's
worker starts at once and its pass goes before the resumes waiting for an AWS thread (runtime/scheduler.py).
Each resume is slowed at the proxy (its GetLifecyclePolicy read takes 1 s; a create does not read it), so the
restart pass takes a while on the operator's 3 background threads.
"""

from __future__ import annotations

import time

import pytest
from support import Harness, harness_fixture, tagged_spec, unique, wait_for

from ecr_operator_dev import Fault

pytestmark = pytest.mark.e2e

REGION = "eu-central-1"
N = 40

harness = harness_fixture(REGION, resync_seconds=600.0)


def _synced(harness: Harness, namespace: str, names: list[str]) -> dict[str, str]:
    objects = (harness.must_get(namespace, name) for name in names)
    return {obj["metadata"]["name"]: str((obj.get("status") or {}).get("lastSyncTime")) for obj in objects}


def test_a_create_during_a_restart_pass_goes_before_the_resumes(harness: Harness) -> None:
    namespace = harness.namespace()
    names = [f"old-{index:02d}" for index in range(N)]
    for name in names:
        harness.create(namespace, name, tagged_spec(unique("old"), region=REGION, encryption={"type": "AES256"}))
    for name in names:
        harness.wait_ready(namespace, name, context=harness.context)
    before = _synced(harness, namespace, names)

    harness.operator.stop()
    time.sleep(1.1)  # lastSyncTime has a 1 s resolution: a resume pass writes another value
    slow = harness.proxy.add_fault(Fault("delay", "GetLifecyclePolicy", times=None, delay_seconds=1.0))
    try:
        harness.operator.start()
        harness.create(namespace, "new", tagged_spec(unique("new"), region=REGION, encryption={"type": "AES256"}))
        harness.wait_ready(namespace, "new", context=harness.context)
        resumed_when_ready = sum(
            1 for name, synced in _synced(harness, namespace, names).items() if synced != before[name]
        )

        def all_resumed() -> bool:
            return all(synced != before[name] for name, synced in _synced(harness, namespace, names).items())

        wait_for(all_resumed, "every existing resource resumed", timeout=120, context=harness.context)
    finally:
        harness.proxy.clear_faults()
    assert slow.injected >= N, "every resume read through the delay"
    # Waiting for a kopf worker behind the resumes, the create would have come after all but 8 (the worker limit
    # of --workers 4) of them.
    assert resumed_when_ready < N / 2, f"{resumed_when_ready} of {N} resumes ran before the create was Ready"
