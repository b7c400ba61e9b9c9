"""SIGKILL the operator right before or right after each AWS write of a create and of a delete, restart it.

A proxy hook counts the writes and, at the N-th, sends SIGKILL to the operator; a proxy fault cuts that call
("before": "abort", the write never reaches AWS; "after": "lose_response", AWS did it but the answer is lost with
the process). The test thread restarts the operator.
Every run must converge: after a create exactly one live key for the owner, aliased and used by the one
repository; after a delete no repository, no alias, every owned key pending deletion; a bystander resource in
the same namespace untouched throughout. The proxy hides new keys from the tagging API for the whole module
(eventual consistency on AWS), so a key whose CreateKey answer was lost is found by its recorded creation token.
A resource deleted with Retain and made again under another name is killed right after CreateKey: the retained
key, with the same ownership tags, is not taken for the new one. The module also restarts kube-apiserver under the
running operator.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from typing import Literal

import pytest
from support import Harness, full_spec, harness_fixture, unique

from ecr_operator.repository.render import key_alias_for
from ecr_operator_dev import Fault

pytestmark = pytest.mark.e2e

REGION = "us-west-2"
CREATE_WRITES = (
    "CreateKey",
    "CreateAlias",
    "EnableKeyRotation",
    "CreateRepository",
    "PutLifecyclePolicy",
    "SetRepositoryPolicy",
)
DELETE_WRITES = ("DeleteRepository", "ScheduleKeyDeletion", "DeleteAlias")
When = Literal["before", "after"]
TRIED: list[str] = []


harness = harness_fixture(REGION, resync_seconds=5)


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    print(f"\nkill points tried: {len(TRIED)}: {TRIED}")


@pytest.fixture(scope="module")
def namespace(harness: Harness) -> Iterator[str]:
    """One namespace for the kill points, with a bystander that must stay intact."""
    harness.proxy.set_tag_index_lag(3600)
    yield harness.namespace()
    harness.proxy.set_tag_index_lag(0)


@pytest.fixture(scope="module")
def bystander(harness: Harness, namespace: str) -> tuple[str, str]:
    repository_name = unique("bystander")
    harness.create(namespace, "bystander", full_spec(repository_name))
    harness.wait_ready(namespace, "bystander")
    key_id = harness.aws.assert_converged(namespace, "bystander", repository_name)["encryptionConfiguration"]["kmsKey"]
    return repository_name, key_id


class KillAt:
    """Proxy hook: SIGKILL the operator at the n-th of ``writes`` (only signals; the test thread restarts)."""

    def __init__(self, pid: int, writes: tuple[str, ...], n: int, when: When) -> None:
        self.pid, self.writes, self.n, self.when = pid, writes, n, when
        self.seen = 0
        self.operation: str | None = None
        self.killed = threading.Event()
        self.cut: Fault | None = None
        """The proxy fault that cuts the call the operator is killed at."""
        self._lock = threading.Lock()

    def __call__(self, service: str, operation: str) -> None:
        if operation not in self.writes:
            return
        with self._lock:
            self.seen += 1
            if self.seen != self.n or self.killed.is_set():
                return
            self.operation = operation
            os.kill(self.pid, signal.SIGKILL)
            self.killed.set()


def arm_kill(harness: Harness, writes: tuple[str, ...], n: int, when: When) -> KillAt:
    """Arm the hook; returns it once the operator has been killed; restart with :func:`restart`."""
    pid = harness.operator.pid
    assert pid is not None and harness.operator.running, "the operator is not running"
    hook = KillAt(pid, writes, n, when)
    # The client is gone: the write never reaches AWS ("before"), or its answer is lost ("after").
    hook.cut = harness.proxy.add_fault(Fault("abort" if when == "before" else "lose_response", writes[n - 1]))
    (harness.proxy.on_before if when == "before" else harness.proxy.on_after)(hook)
    return hook


def wait_killed_and_restart(harness: Harness, hook: KillAt) -> None:
    try:
        assert hook.killed.wait(90), f"write #{hook.n} never came ({hook.seen} seen)\n{harness.context()}"
    finally:
        harness.proxy.clear_hooks()
        harness.proxy.clear_faults()
    assert hook.cut is not None and hook.cut.injected == 1, f"the call killed at was not cut: {hook.cut}"
    harness.operator.kill()  # reaps the killed process
    assert not harness.operator.running
    TRIED.append(f"{hook.when} {hook.operation}")
    harness.operator.start()


def assert_bystander_intact(harness: Harness, namespace: str, bystander: tuple[str, str]) -> None:
    repository_name, key_arn = bystander
    repository = harness.aws.assert_converged(namespace, "bystander", repository_name)
    assert repository["encryptionConfiguration"]["kmsKey"] == key_arn


CASES = [(n, when) for n in range(1, len(CREATE_WRITES) + 1) for when in ("before", "after")]


@pytest.mark.parametrize(("n", "when"), CASES, ids=[f"{w}-{CREATE_WRITES[n - 1]}" for n, w in CASES])
def test_kill_during_create(harness: Harness, namespace: str, bystander: tuple[str, str], n: int, when: When) -> None:
    name, repository_name = unique("create"), unique("kill")
    hook = arm_kill(harness, CREATE_WRITES, n, when)
    harness.create(namespace, name, full_spec(repository_name))
    wait_killed_and_restart(harness, hook)
    assert hook.operation == CREATE_WRITES[n - 1]

    obj = harness.wait_ready(namespace, name)
    harness.aws.assert_converged(namespace, name, repository_name)
    assert len(harness.aws.live_keys(namespace, name)) == 1
    assert obj["status"]["kmsKeyArn"] == harness.aws.live_keys(namespace, name)[0]["Arn"]
    assert [n for n in harness.aws.repository_names() if n == repository_name] == [repository_name]
    assert_bystander_intact(harness, namespace, bystander)

    # Leave nothing running for the next cases (and check that a crash-recovered resource deletes cleanly).
    harness.delete(namespace, name)
    harness.wait_gone(namespace, name)
    harness.aws.assert_deleted(namespace, name, repository_name)


DELETE_CASES = [(n, when) for n in range(1, len(DELETE_WRITES) + 1) for when in ("before", "after")]


@pytest.mark.parametrize(("n", "when"), DELETE_CASES, ids=[f"{w}-{DELETE_WRITES[n - 1]}" for n, w in DELETE_CASES])
def test_kill_during_delete(harness: Harness, namespace: str, bystander: tuple[str, str], n: int, when: When) -> None:
    name, repository_name = unique("delete"), unique("kill")
    harness.create(namespace, name, full_spec(repository_name))
    harness.wait_ready(namespace, name)
    [key] = harness.aws.live_keys(namespace, name)

    hook = arm_kill(harness, DELETE_WRITES, n, when)
    harness.delete(namespace, name)
    wait_killed_and_restart(harness, hook)
    assert hook.operation == DELETE_WRITES[n - 1]

    harness.wait_gone(namespace, name)
    harness.aws.assert_deleted(namespace, name, repository_name)
    assert [k["KeyId"] for k in harness.aws.owned_keys(namespace, name)] == [key["KeyId"]]
    assert_bystander_intact(harness, namespace, bystander)


def test_kill_after_create_key_of_a_resource_re_created_under_another_name(
    harness: Harness, namespace: str, bystander: tuple[str, str]
) -> None:
    """Deleted with Retain, then the same resource (same ownership tags) made again under another repositoryName,
    and killed right after CreateKey (its answer lost, so the key id never reached status). The retained key carries
    the same ownership tags and shows in the tag index, the new one not yet: only the creation token tells them
    apart, and the new name gets the new key."""
    name, first, second = unique("renamed"), unique("kill"), unique("kill")
    harness.create(namespace, name, full_spec(first, deletionPolicy="Retain"))
    harness.wait_ready(namespace, name)
    [retained] = harness.aws.live_keys(namespace, name)
    harness.delete(namespace, name)
    harness.wait_gone(namespace, name)
    harness.proxy.hide_from_tag_index(retained["Arn"], 0)  # indexed by now (the module hides keys made in it)

    hook = arm_kill(harness, CREATE_WRITES, 1, "after")
    harness.create(namespace, name, full_spec(second))
    wait_killed_and_restart(harness, hook)
    assert hook.operation == "CreateKey"

    obj = harness.wait_ready(namespace, name)
    live = harness.aws.live_keys(namespace, name)
    [made] = [key for key in live if key["KeyId"] != retained["KeyId"]]
    assert len(live) == 2, "no orphaned key, no third one"
    assert harness.aws.alias_target(second) == made["KeyId"], "the new name's alias is on the key of the new creation"
    repository = harness.aws.repository(second)
    assert repository is not None and repository["encryptionConfiguration"]["kmsKey"] == made["Arn"]
    assert obj["status"]["kmsKeyArn"] == made["Arn"]
    # The retained repository keeps its key and alias.
    assert harness.aws.alias_target(first) == retained["KeyId"]
    kept = harness.aws.repository(first)
    assert kept is not None and kept["encryptionConfiguration"]["kmsKey"] == retained["Arn"]
    assert_bystander_intact(harness, namespace, bystander)

    harness.delete(namespace, name)
    harness.wait_gone(namespace, name)
    assert harness.aws.repository(second) is None and harness.aws.alias_target(second) is None
    assert harness.aws.key(made["KeyId"])["KeyState"] == "PendingDeletion"
    # What Retain left is for people to remove.
    harness.aws.ecr.delete_repository(repositoryName=first, force=True)
    harness.aws.kms.delete_alias(AliasName=key_alias_for(first))
    harness.aws.kms.schedule_key_deletion(KeyId=retained["KeyId"], PendingWindowInDays=7)


def test_apiserver_restart_under_the_operator(harness: Harness, namespace: str, bystander: tuple[str, str]) -> None:
    existing, existing_repository = unique("before-restart"), unique("restart")
    harness.create(namespace, existing, full_spec(existing_repository))
    harness.wait_ready(namespace, existing)

    harness.controlplane.restart_apiserver()  # waits for /readyz
    assert harness.operator.running, "the operator died with the API server"

    fresh, fresh_repository = unique("after-restart"), unique("restart")
    harness.create(namespace, fresh, full_spec(fresh_repository))
    harness.wait_ready(namespace, fresh, timeout=180)
    harness.aws.assert_converged(namespace, fresh, fresh_repository)

    patched = harness.patch_spec(namespace, existing, {"lifecycle": {"maxImageCount": 42}})
    harness.wait_condition(namespace, existing, "True", "Synced", generation=patched["metadata"]["generation"])
    text = harness.aws.ecr.get_lifecycle_policy(repositoryName=existing_repository)["lifecyclePolicyText"]
    assert '"countNumber":42' in text.replace(" ", ""), text
    assert_bystander_intact(harness, namespace, bystander)
