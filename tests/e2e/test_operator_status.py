"""Status writes survive the structural schema, and an in-sync resource does not make the operator loop."""

from __future__ import annotations

import copy
import itertools
import time
from typing import Any

import kubernetes
import pytest
from operator_env import (
    RESYNC_SECONDS,
    MotoRecorder,
    Namespace,
    seed_spec,
)
from support import GROUP, PLURAL, VERSION, unique

pytestmark = pytest.mark.e2e

# Every field reconcile_handler writes for a resource that is in sync.
STATUS_FIELDS = {
    "repositoryName",
    "region",
    "repositoryUri",
    "repositoryArn",
    "registryId",
    "kmsKeyArn",
    "account",  # roleArn only for a mapped Namespace (this one uses the operator's own identity)
    "plannedChanges",
    "observedGeneration",
    "lastSyncTime",
    "conditions",
    "images",  # the create pass's inventory: an empty repository (no scan block yet)
    "estimatedMonthlyCostUSD",
}
CONDITION_FIELDS = {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
OBSERVE_SECONDS = RESYNC_SECONDS * 2 + 1.5


def _aws_state(ns: Namespace, repository: str, key_id: str) -> dict[str, Any]:
    aws = ns.env.aws
    return {
        "repository": aws.repository(repository),
        "repository tags": aws.repository_tags(repository),
        "lifecycle": aws.lifecycle(repository),
        "policy": aws.policy(repository),
        "key": aws.key(key_id),
        "key tags": aws.key_tags(key_id),
        "rotation": aws.rotation(key_id),
        "alias": aws.alias_target(repository),
    }


def _without_resync_noise(obj: dict[str, Any]) -> dict[str, Any]:
    """The object minus what a periodic resync may legitimately change."""
    clean = copy.deepcopy(obj)
    clean["metadata"].pop("resourceVersion", None)
    clean["metadata"].pop("managedFields", None)
    clean.get("status", {}).pop("lastSyncTime", None)
    return clean


def test_status_is_complete_and_resync_is_quiet(ns: Namespace) -> None:
    name, repository = "steady", unique("steady")
    spec = seed_spec(repository)
    spec["crossAccountPull"] = {"enabled": True, "allowedAccountIds": ["111111111111"]}
    log_offset = ns.env.operator.log_size()
    ns.create(name, spec)
    obj = ns.wait_ready(name)

    # The whole status block, as the operator wrote it: nothing pruned by the structural schema.
    status = obj["status"]
    assert set(status) == STATUS_FIELDS, f"missing: {STATUS_FIELDS - set(status)}; extra: {set(status) - STATUS_FIELDS}"
    assert all(status[f] not in (None, "") for f in STATUS_FIELDS - {"plannedChanges"}), status
    assert status["plannedChanges"] == []
    assert status["images"] == {"count": 0, "totalSizeBytes": 0, "newestTags": []}
    assert status["estimatedMonthlyCostUSD"] == 1.0  # the managed key; no storage yet
    conditions = {c["type"]: c for c in status["conditions"]}
    assert {t: (c["status"], c["reason"]) for t, c in conditions.items()} == {
        "Ready": ("True", "Synced"),
        "Synced": ("True", "Synced"),
        "Stalled": ("False", "Synced"),
    }
    assert all(set(c) == CONDITION_FIELDS for c in conditions.values())
    # kopf's handler results would land in status.<handler-id> and be pruned; kopf logs that.
    assert "inconsistencies" not in ns.env.operator.log_since(log_offset)
    # kopf's progress lives in annotations, not in status.
    assert "kopf" not in status

    key_id = status["kmsKeyArn"].rsplit("/", 1)[1]
    ns.wait_event(name, "Updated", "Normal")
    events_before = {e.metadata.name: (e.reason, e.count) for e in ns.events(name)}
    aws_before = _aws_state(ns, repository, key_id)

    # Watch the object through two resync ticks while moto records every API call it receives.
    recorder: MotoRecorder = ns.env.recorder
    custom = ns.env.custom
    recorder.start()
    try:
        versions = [obj]
        watch = kubernetes.watch.Watch()
        deadline = time.monotonic() + OBSERVE_SECONDS
        for event in watch.stream(
            custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            ns.name,
            PLURAL,
            field_selector=f"metadata.name={name}",
            resource_version=obj["metadata"]["resourceVersion"],
            timeout_seconds=int(OBSERVE_SECONDS) + 1,
        ):
            assert event["type"] == "MODIFIED", event["type"]
            versions.append(event["object"])
            if time.monotonic() >= deadline:
                watch.stop()
    finally:
        calls = recorder.stop()

    # The resync ran (lastSyncTime moved) but changed nothing else, and not in a loop.
    modifications = versions[1:]
    assert modifications, "no resync wrote lastSyncTime within two intervals"
    assert len(modifications) <= OBSERVE_SECONDS / RESYNC_SECONDS + 1, f"{len(modifications)} writes: a loop?"
    for before, after in itertools.pairwise(versions):
        assert _without_resync_noise(after) == _without_resync_noise(before)
        assert after["status"]["lastSyncTime"] >= before["status"]["lastSyncTime"]

    # No AWS write for this resource, and AWS holds exactly what it held.
    assert calls, "moto's recorder saw no calls at all: the resync did not read AWS?"
    ours = [c for c in MotoRecorder.writes(calls) if repository in c["body"] or key_id in c["body"]]
    assert ours == [], f"AWS writes by an in-sync resync: {ours}"
    assert _aws_state(ns, repository, key_id) == aws_before

    # No new events (a DriftCorrected or a warning would be one), no event counted again.
    assert {e.metadata.name: (e.reason, e.count) for e in ns.events(name)} == events_before
