"""Issue 22 on the real control plane: with --events-queue-url and a one-hour resync, a lifecycle policy deleted by
hand, key rotation switched off by hand and an image pushed are each reflected within seconds, by passes the events
triggered (the timer ticks every 2 s, the resync is due once an hour: its passes do not move); garbage in the queue
changes nothing and is deleted; a queue that cannot be read fails readiness, posts a Warning on the operator's Pod
and falls back to the resync until it can be read again.

AWS's side is the shipped CloudFormation template deployed into moto (queue, dead-letter queue, rules) and the
harness's proxy, which puts on moto's default bus the events AWS would send for every write not signed with the
operator's access key: the "console" below is a client with a key of its own, through the proxy.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import kubernetes
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import Aws, Kube, Operator, install_crds, proxied_operator, tagged_spec, unique, wait_for

from ecr_operator_dev import AwsProxy, Fault, LocalControlPlane, MotoServer, deploy_events_stack
from ecr_operator_dev.awsread import image_manifest

pytestmark = pytest.mark.e2e

REGION = "sa-east-1"
OPERATOR_KEY = "testing"
"""The operator's access key (moto's environment); every other key's writes make events."""
CONSOLE_KEY = "console"
BOUND = 30.0
"""Seconds an event may take to be reflected (it takes about one here): generous for a loaded machine."""
POD = {"POD_NAME": f"ecr-operator-{uuid.uuid4().hex[:6]}", "POD_NAMESPACE": "default", "POD_UID": str(uuid.uuid4())}


@dataclass
class Env:
    kube: Kube
    aws: Aws
    """Straight to moto: what AWS holds."""
    console: Aws
    """A person at the console: through the proxy, with a key of their own, so the proxy emits events."""
    proxy: AwsProxy
    operator: Operator
    sqs: Any
    queue_url: str
    core: kubernetes.client.CoreV1Api

    def log(self) -> str:
        return self.operator.log_tail(10000)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(f"{self.operator.metrics_url}/metrics", timeout=10) as response:
            text = response.read().decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def metric(self, name: str, **labels: str) -> float:
        return sum(v for (n, ls), v in self.metrics().items() if n == name and set(labels.items()) <= set(ls))

    def passes(self, trigger: str) -> float:
        return self.metric("ecr_operator_reconcile_passes_total", trigger=trigger)

    def readyz(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"{self.operator.metrics_url}/readyz", timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def queue_empty(self) -> bool:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return all(int(value) == 0 for value in attributes.values())

    def operator_calls(self, since: float) -> list[str]:
        return [f"{c.service}:{c.operation}" for c in self.proxy.calls(since) if c.access_key == OPERATOR_KEY]


def client(service: str, endpoint: str, key: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id=key, aws_secret_access_key="secret"
    )


@pytest.fixture(scope="module")
def env(
    controlplane: LocalControlPlane,
    k8s_api: kubernetes.client.ApiClient,
    moto_server: MotoServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Env]:
    install_crds(k8s_api)
    prefix = unique("events")
    stack = deploy_events_stack(moto_server.endpoint_url, REGION, stack_name=prefix, queue_name=prefix)
    with AwsProxy(upstream=moto_server.endpoint_url) as proxy:
        proxy.emit_events({OPERATOR_KEY})
        operator = proxied_operator(
            controlplane.kubeconfig,
            moto_server,
            proxy,
            tmp_path_factory.mktemp("events") / "operator.log",
            prefix=prefix,
            region=REGION,
            args=[
                "--events-queue-url",
                stack.queue_url,
                "--resync-interval",
                "3600",
                "--inventory-interval",
                "3600",
                # The timer ticks every 2 s; the resync is due once an hour, or at every tick while the queue cannot
                # be read (runtime/periodic.py's fallback cadence).
                "--events-fallback-interval",
                "2",
                "--readiness-interval",
                "1",
            ],
            extra_env=POD,
        )
        with operator:
            kube = Kube(k8s_api, namespace_prefix=prefix)
            kube.log_context = operator.log_tail
            console = Aws(proxy.endpoint_url, REGION)
            console.ecr, console.kms = (client(s, proxy.endpoint_url, CONSOLE_KEY) for s in ("ecr", "kms"))
            yield Env(
                kube,
                Aws(moto_server.endpoint_url, REGION, prefix),
                console,
                proxy,
                operator,
                client("sqs", moto_server.endpoint_url, OPERATOR_KEY),
                stack.queue_url,
                kubernetes.client.CoreV1Api(k8s_api),
            )


@pytest.fixture
def clean_proxy(env: Env) -> Iterator[None]:
    env.proxy.clear_faults()
    yield
    env.proxy.clear_faults()


def ready_resource(env: Env, **overrides: Any) -> tuple[str, str, dict[str, Any]]:
    namespace, repository = env.kube.namespace(), unique("events-app")
    env.kube.create(namespace, "app", tagged_spec(repository, region=REGION, **overrides))
    return namespace, repository, env.kube.wait_ready(namespace, "app")


def test_a_lifecycle_policy_deleted_by_hand_is_restored_by_its_event(env: Env, clean_proxy: None) -> None:
    namespace, repository, _ = ready_resource(env)
    before = env.metric("ecr_operator_reconcile_passes_total")
    resyncs = env.passes("resync")
    env.console.ecr.delete_lifecycle_policy(repositoryName=repository)

    wait_for(lambda: env.aws.lifecycle(repository), "the lifecycle policy to be back", timeout=BOUND, context=env.log)
    wait_for(lambda: env.passes("event") > 0, "the event pass to be counted", timeout=BOUND, context=env.log)
    assert env.passes("resync") == resyncs, "no resync ran: the event triggered the correction"
    assert env.metric("ecr_operator_reconcile_passes_total") > before
    assert env.metric("ecr_operator_events_matched_total", type="ecr_api_call") >= 1
    assert env.metric("ecr_operator_drift_corrections_total", part="repository") >= 1
    env.kube.wait_event(namespace, "app", "DriftCorrected", "Normal")


def test_key_rotation_switched_off_by_hand_is_switched_on_again(env: Env, clean_proxy: None) -> None:
    _, _, obj = ready_resource(env)
    key_arn = obj["status"]["kmsKeyArn"]
    resyncs = env.passes("resync")
    env.console.kms.disable_key_rotation(KeyId=key_arn.rsplit("/", 1)[-1])

    wait_for(lambda: env.aws.rotation(key_arn), "key rotation to be on again", timeout=BOUND, context=env.log)
    assert env.passes("resync") == resyncs, "no resync ran: the KMS event found the resource by its key"
    assert env.metric("ecr_operator_events_matched_total", type="kms_api_call") >= 1


def test_a_push_shows_at_once_and_a_finished_scan_is_read_from_ecr_at_once(env: Env, clean_proxy: None) -> None:
    namespace, repository, obj = ready_resource(env)
    assert obj["status"]["images"]["count"] == 0
    size = 300 * 1024**2
    digest = env.console.ecr.put_image(repositoryName=repository, imageManifest=image_manifest(size), imageTag="v1")[
        "image"
    ]["imageId"]["imageDigest"]

    def pushed() -> dict[str, Any]:
        status = env.kube.must_get(namespace, "app")["status"]
        assert status["images"]["count"] == 1 and status["images"]["newestTags"] == ["v1"], status["images"]
        return dict(status)

    status = wait_for(pushed, "the push in status.images", timeout=BOUND, context=env.log)
    assert status["images"]["totalSizeBytes"] == size
    assert status["scan"]["imageDigest"] == digest and status["scan"]["status"] != "COMPLETE"

    scanned_at = time.monotonic()
    env.console.ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})

    def scanned() -> dict[str, Any]:
        scan = env.kube.must_get(namespace, "app")["status"]["scan"]
        assert scan["status"] == "COMPLETE", scan
        return dict(scan)

    scan = wait_for(scanned, "the scan's findings in status.scan", timeout=BOUND, context=env.log)
    assert scan["findingSeverityCounts"]["HIGH"] == 1 and scan["imageDigest"] == digest
    reads = [call for call in env.operator_calls(scanned_at) if call.startswith("ecr:Describe")]
    assert "ecr:DescribeImageScanFindings" in reads, "the counts are ECR's, never the event's (anyone could send it)"
    assert env.metric("ecr_operator_event_passes_total", kind="scan", result="ok") >= 1
    env.kube.wait_event(namespace, "app", "VulnerabilitiesFound", "Warning")


GARBAGE = [
    "",
    "not json at all",
    "[1, 2, 3]",
    json.dumps({"detail-type": "ECR Image Action", "source": "aws.ecr"}),
    json.dumps(
        {
            "version": "0",
            "id": "x",
            "detail-type": "ECR Image Action",
            "source": "aws.ecr",
            "account": "123456789012",
            "region": REGION,
            "time": "not a time",
            "detail": {},
        }
    ),
]


def test_garbage_in_the_queue_changes_nothing_and_is_deleted(env: Env, clean_proxy: None) -> None:
    namespace, repository, obj = ready_resource(env)
    assert wait_for(env.queue_empty, "the queue to be empty", timeout=BOUND)
    before_dropped = env.metric("ecr_operator_events_dropped_total", reason="malformed")
    before_not_served = env.metric("ecr_operator_events_dropped_total", reason="not_served")
    since = time.monotonic()
    for body in GARBAGE:
        env.sqs.send_message(QueueUrl=env.queue_url, MessageBody=body or " ")
    # A well-formed event for a repository nobody here manages: dropped as not served.
    foreign = {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "region": REGION, "time": "2024-01-01T00:00:00Z", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": unique("nobodys"), "action-type": "PUSH",
                   "image-digest": "sha256:" + "0" * 64, "image-tag": "v1"},
    }  # fmt: skip
    env.sqs.send_message(QueueUrl=env.queue_url, MessageBody=json.dumps(foreign))

    wait_for(env.queue_empty, "the operator to delete every message", timeout=BOUND, context=env.log)
    assert env.metric("ecr_operator_events_dropped_total", reason="malformed") - before_dropped == len(GARBAGE)
    assert env.metric("ecr_operator_events_dropped_total", reason="not_served") - before_not_served == 1
    writes = [c for c in env.operator_calls(since) if not c.split(":")[1].startswith(("Describe", "Get", "List"))]
    assert [c for c in writes if not c.startswith("sqs:")] == [], "garbage made no AWS write"
    assert env.kube.must_get(namespace, "app")["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
    assert env.aws.repository(repository) is not None


def test_an_unreadable_queue_fails_readiness_and_falls_back_to_the_resync(env: Env, clean_proxy: None) -> None:
    namespace, repository, _ = ready_resource(env)
    wait_for(lambda: env.readyz()[0] == 200, "the operator to be ready", timeout=BOUND, context=env.log)
    env.proxy.add_fault(Fault("access_denied", operation="ReceiveMessage", times=None))

    def unready() -> dict[str, Any]:
        status, detail = env.readyz()
        assert status == 503 and "AccessDenied" in detail["checks"].get("eventsQueue", ""), detail
        return detail

    wait_for(unready, "readiness to report the queue", timeout=BOUND, context=env.log)
    assert env.metric("ecr_operator_events_queue_readable") == 0
    assert env.metric("ecr_operator_events_queue_errors_total") >= 1

    def warned() -> list[Any]:
        selector = f"involvedObject.name={POD['POD_NAME']}"
        events = env.core.list_namespaced_event(POD["POD_NAMESPACE"], field_selector=selector).items
        return [e for e in events if e.reason == "EventsQueueUnreadable" and e.type == "Warning"]

    [warning] = wait_for(warned, "a Warning on the operator's Pod", timeout=BOUND, context=env.log)
    assert warning.involved_object.uid == POD["POD_UID"] and "cannot be read" in warning.message

    # Meanwhile drift is corrected by the resync, now due at every 2 s tick.
    resyncs = env.passes("resync")
    env.aws.ecr.put_image_tag_mutability(repositoryName=repository, imageTagMutability="IMMUTABLE")
    wait_for(
        lambda: env.aws.repository(repository)["imageTagMutability"] == "MUTABLE",  # type: ignore[index]
        "the fallback resync to correct the drift",
        timeout=BOUND,
        context=env.log,
    )
    assert env.passes("resync") > resyncs

    env.proxy.clear_faults()
    wait_for(lambda: env.readyz()[0] == 200, "readiness once the queue can be read", timeout=BOUND, context=env.log)
    assert env.metric("ecr_operator_events_queue_readable") == 1
    env.kube.wait_ready(namespace, "app")
