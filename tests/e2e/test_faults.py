"""AWS faults moto never produces, injected by an AwsProxy between the operator and moto.

Transient faults (throttling, 429, 5xx, a slow call, a dropped connection, a lost response) must not leave
anything behind: each resource converges with exactly one key and one repository. Permanent faults
(AccessDenied, InvalidParameter) must give Ready=False with the reason, a Warning event, and no hot loop:

Bound on the calls of the failing operation over a window of W seconds, from the code:
* botocore (aws.py: retry mode "standard" with the client-side limiter, "adaptive" without) does not retry
  AccessDeniedException / InvalidParameterException,
  so one reconcile pass sends the failing write exactly once;
* handlers.py maps a non-retryable OperatorError to kopf.PermanentError: kopf does not retry the handler;
* the only further passes are the resync timer's, one every ``--resync-interval`` R seconds.
So at most floor(W / R) + 1 calls in W seconds (and a spec change retries at once).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
from support import Harness, full_spec, harness_fixture, unique, wait_for

from ecr_operator_dev import Fault

pytestmark = pytest.mark.e2e

REGION = "eu-west-1"
RESYNC_SECONDS = 5.0
WINDOW_SECONDS = 20.0

INJECTED: Counter[str] = Counter()
"""Faults injected and survived, by kind (printed at the end of the module)."""


harness = harness_fixture(REGION, resync_seconds=RESYNC_SECONDS)


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    print(f"\nfaults injected and survived, by kind: {dict(INJECTED)}; hot-loop windows: {HOT_LOOP}")


@pytest.fixture(autouse=True)
def clean_proxy(harness: Harness) -> Iterator[None]:
    harness.proxy.clear_faults()
    yield
    harness.proxy.clear_faults()


def assert_one_key_one_repository(harness: Harness, namespace: str, name: str, repository_name: str) -> None:
    repository = harness.aws.assert_converged(namespace, name, repository_name)
    assert len(harness.aws.owned_keys(namespace, name)) == 1, "a second (orphaned) key was created"
    assert sum(1 for n in harness.aws.repository_names() if n == repository_name) == 1
    assert repository["repositoryName"] == repository_name


TRANSIENT = {
    "throttle-CreateRepository": [Fault("throttle", "CreateRepository", times=3)],
    "http429-CreateKey": [Fault("http429", "CreateKey", times=2)],
    "http500-PutLifecyclePolicy": [Fault("http500", "PutLifecyclePolicy", times=2)],
    "http503-PutLifecyclePolicy": [Fault("http503", "PutLifecyclePolicy", times=2)],
    "http500-DescribeRepositories": [Fault("http500", "DescribeRepositories", times=2)],
    "http503-DescribeRepositories": [Fault("http503", "DescribeRepositories", times=3)],
    "delay-SetRepositoryPolicy": [Fault("delay", "SetRepositoryPolicy", times=1, delay_seconds=3.0)],
    "drop-CreateAlias": [Fault("drop", "CreateAlias", times=1)],
    "all-at-once": [
        Fault("throttle", "CreateRepository", times=3),
        Fault("http429", "CreateKey", times=1),
        Fault("http503", "PutLifecyclePolicy", times=1),
        Fault("http500", "DescribeRepositories", times=1),
        Fault("delay", "SetRepositoryPolicy", times=1, delay_seconds=3.0),
        Fault("drop", "CreateAlias", times=1),
        Fault("throttle", "EnableKeyRotation", times=2),
    ],
}


@pytest.mark.parametrize("case", list(TRANSIENT))
def test_transient_faults_converge_without_duplicates(harness: Harness, case: str) -> None:
    # Fresh Fault objects per run: their counters are state.
    faults = [
        harness.proxy.add_fault(Fault(f.kind, f.operation, f.times, f.skip, f.delay_seconds)) for f in TRANSIENT[case]
    ]
    namespace, name = harness.namespace(), "app"
    repository_name = unique("faults")
    harness.create(namespace, name, full_spec(repository_name))

    harness.wait_ready(namespace, name)
    for fault in faults:
        assert fault.injected == fault.times, f"{fault} was not injected as often as asked"
        INJECTED[fault.kind] += fault.injected
    assert_one_key_one_repository(harness, namespace, name, repository_name)
    obj = harness.must_get(namespace, name)
    assert obj["status"]["kmsKeyArn"] == harness.aws.live_keys(namespace, name)[0]["Arn"]


@pytest.mark.parametrize("operation", ["CreateKey", "CreateAlias", "CreateRepository"])
def test_lost_response_after_a_create_leaves_no_duplicate_and_no_permanent_error(
    harness: Harness, operation: str
) -> None:
    # AWS does the work, then the answer is lost (the connection closes). botocore retries the (non-idempotent)
    # call itself: the retry meets the resource the lost call created (AlreadyExists), or, for CreateKey, would
    # create a second key.
    fault = harness.proxy.add_fault(Fault("lose_response", operation, times=1))
    offset = harness.operator.log_size()
    namespace, name = harness.namespace(), "app"
    repository_name = unique("lost")
    harness.create(namespace, name, full_spec(repository_name))

    harness.wait_ready(namespace, name)
    assert fault.injected == 1, f"the response to {operation} was never lost"
    INJECTED["lost-response"] += fault.injected
    assert_one_key_one_repository(harness, namespace, name, repository_name)
    # A retry is fine (Ready=False AwsUnreachable for a moment); giving up until the next resync is not.
    log = harness.operator.log_path.read_bytes()[offset:].decode(errors="replace")
    assert "failed permanently" not in log, log
    reasons = {e.reason for e in harness.events(namespace, name, type_="Warning")}
    assert reasons <= {"AwsUnreachable"}, reasons


def measure_window(harness: Harness, operation: str) -> tuple[list[float], int]:
    """When ``operation`` was called (seconds into the window), and how many writes in all, for WINDOW_SECONDS."""
    start = time.monotonic()
    time.sleep(WINDOW_SECONDS)  # a measurement window, not a wait for a condition
    end = time.monotonic()
    window = [c for c in harness.proxy.calls(start) if c.started < end]
    times = [round(c.started - start, 1) for c in window if c.operation == operation]
    return times, sum(1 for c in window if not c.read)


MAX_PASSES = int(WINDOW_SECONDS // RESYNC_SECONDS) + 1
HOT_LOOP: dict[str, tuple[int, int]] = {}


def test_access_denied_is_reported_without_a_hot_loop_then_a_spec_change_converges(harness: Harness) -> None:
    fault = harness.proxy.add_fault(Fault("access_denied", "CreateRepository", times=None))
    namespace, name = harness.namespace(), "app"
    repository_name = unique("denied")
    harness.create(namespace, name, full_spec(repository_name))

    obj = harness.wait_condition(namespace, name, "False", "AccessDenied")
    message = harness.ready_condition(obj)["message"]
    assert "AccessDeniedException" in message and repository_name in message, message
    events = wait_for(
        lambda: harness.events(namespace, name, reason="AccessDenied", type_="Warning"),
        "a Warning event AccessDenied",
        context=harness.context,
    )
    assert "not authorized" in events[0].message

    times, writes = measure_window(harness, "CreateRepository")
    HOT_LOOP["AccessDenied CreateRepository"] = (len(times), writes)
    print(f"AccessDenied: CreateRepository at {times} s, {writes} writes in {WINDOW_SECONDS:.0f} s")
    assert 1 <= len(times) <= MAX_PASSES, f"CreateRepository at {times} s (bound {MAX_PASSES} in {WINDOW_SECONDS} s)"
    assert writes == len(times), f"{writes} writes in the window: only the failing CreateRepository may be retried"
    assert harness.aws.repository(repository_name) is None
    assert len(harness.aws.owned_keys(namespace, name)) == 1, "every failing pass must reuse the one key"
    INJECTED["access_denied"] += fault.injected

    harness.proxy.clear_faults()
    patched = harness.patch_spec(namespace, name, {"lifecycle": {"maxImageCount": 11}})
    harness.wait_condition(namespace, name, "True", "Synced", generation=patched["metadata"]["generation"])
    assert_one_key_one_repository(harness, namespace, name, repository_name)


def test_invalid_parameter_is_reported_without_a_hot_loop_then_resync_converges(harness: Harness) -> None:
    fault = harness.proxy.add_fault(Fault("invalid_parameter", "PutLifecyclePolicy", times=None))
    namespace, name = harness.namespace(), "app"
    repository_name = unique("invalid")
    harness.create(namespace, name, full_spec(repository_name))

    obj = harness.wait_condition(namespace, name, "False", "InvalidParameter")
    message = harness.ready_condition(obj)["message"]
    assert "InvalidParameterException" in message and "lifecycle" in message, message
    wait_for(
        lambda: harness.events(namespace, name, reason="InvalidParameter", type_="Warning"),
        "a Warning event InvalidParameter",
        context=harness.context,
    )

    times, writes = measure_window(harness, "PutLifecyclePolicy")
    HOT_LOOP["InvalidParameter PutLifecyclePolicy"] = (len(times), writes)
    print(f"InvalidParameter: PutLifecyclePolicy at {times} s, {writes} writes in {WINDOW_SECONDS:.0f} s")
    assert 1 <= len(times) <= MAX_PASSES, f"PutLifecyclePolicy at {times} s (bound {MAX_PASSES} in {WINDOW_SECONDS} s)"
    assert writes == len(times), f"{writes} writes in the window: only the failing PutLifecyclePolicy may be retried"
    INJECTED["invalid_parameter"] += fault.injected

    # No spec change: the resync timer alone retries once the fault is gone.
    harness.proxy.clear_faults()
    harness.wait_ready(namespace, name, timeout=RESYNC_SECONDS * 6)
    assert_one_key_one_repository(harness, namespace, name, repository_name)
    assert harness.aws.ecr.get_lifecycle_policy(repositoryName=repository_name)["lifecyclePolicyText"]
