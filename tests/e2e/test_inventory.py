"""Issue 11 on a real kube-apiserver: status.images / scan / estimatedMonthlyCostUSD refreshed by the inventory
timer (not by drift resyncs), VulnerabilitiesFound announced once, the printer columns, and spec.export's ConfigMap
(created owned by the resource, kept current, a foreign one refused). Nothing of a repository that changed hands
reaches the resource: status, events, metrics and export show nothing of it.

One operator of this module's own (its namespace prefix, its region of the session's moto, behind a counting
proxy) with a short --inventory-interval and an even shorter --resync-interval. The ConfigMap's owner reference is
checked here; test_self_service.py shows the garbage collector deleting it with its resource.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import NAME_TAG, NAMESPACE_TAG, TAGS, Aws, Kube, Operator, install_crds, proxied_operator, unique, wait_for

from ecr_operator_dev import AwsProxy, ControlPlaneBinaries, LocalControlPlane, MotoServer
from ecr_operator_dev.awsread import image_manifest

pytestmark = pytest.mark.e2e

REGION = "eu-central-1"
INVENTORY_SECONDS = 4
RESYNC_SECONDS = 1
GIB = 1024**3


@dataclass
class Env:
    kube: Kube
    aws: Aws
    proxy: AwsProxy
    operator: Operator
    kubectl: Path
    kubeconfig: Path
    prefix: str

    def log(self) -> str:
        return self.operator.log_tail(8000)

    def push(self, repository: str, tag: str, size: int) -> str:
        """An image of ``size`` bytes (moto's imageSizeInBytes is the manifest's config size); returns its digest."""
        image = self.aws.ecr.put_image(repositoryName=repository, imageManifest=image_manifest(size), imageTag=tag)
        digest: str = image["image"]["imageId"]["imageDigest"]
        return digest

    def count(self, operation: str, since: float) -> int:
        return sum(1 for c in self.proxy.calls(since) if c.operation == operation)


@pytest.fixture(scope="module")
def env(
    controlplane: LocalControlPlane,
    controlplane_binaries: ControlPlaneBinaries,
    k8s_api: kubernetes.client.ApiClient,
    moto_server: MotoServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Env]:
    install_crds(k8s_api)
    prefix = unique("inv")
    with AwsProxy(upstream=moto_server.endpoint_url) as proxy:
        operator = proxied_operator(
            controlplane.kubeconfig,
            moto_server,
            proxy,
            tmp_path_factory.mktemp("inventory") / "operator.log",
            prefix=prefix,
            region=REGION,
            args=[
                "--resync-interval",
                str(RESYNC_SECONDS),
                "--inventory-interval",
                str(INVENTORY_SECONDS),
                "--per-resource-findings-metrics",
            ],
        )
        with operator:
            kube = Kube(k8s_api, namespace_prefix=prefix)
            kube.log_context = operator.log_tail
            kubectl = controlplane_binaries.kubectl
            assert kubectl is not None
            yield Env(
                kube, Aws(moto_server.endpoint_url, REGION), proxy, operator, kubectl, controlplane.kubeconfig, prefix
            )


def spec(repository: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"repositoryName": repository, "tags": dict(TAGS), "forceDelete": True}
    body.update(overrides)
    return body


def test_images_scan_cost_columns_and_one_announcement(env: Env) -> None:
    kube, ns, repository = env.kube, env.kube.namespace(), unique("inv-app")
    kube.create(ns, "app", spec(repository))
    created = kube.wait_ready(ns, "app")
    status = created["status"]
    assert status["images"] == {"count": 0, "totalSizeBytes": 0, "newestTags": []}, "an empty repository counts 0"
    assert "scan" not in status
    assert status["estimatedMonthlyCostUSD"] == 1.0, "the managed KMS key alone"

    env.push(repository, "v1", GIB)
    time.sleep(1.1)  # moto's imagePushedAt has whole seconds: v2 must be the newer image
    newest = env.push(repository, "v2", GIB // 2)
    env.aws.ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": newest})
    pushed = env.aws.ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": newest}])

    def refreshed() -> dict[str, Any]:
        current = kube.must_get(ns, "app")["status"]
        assert current["images"]["count"] == 2, current["images"]
        assert current.get("scan", {}).get("status") == "COMPLETE", current.get("scan")
        return dict(current)

    status = wait_for(refreshed, "the inventory timer to see two images and the scan", context=env.log)
    pushed_at = pushed["imageDetails"][0]["imagePushedAt"]
    images = dict(status["images"])
    reported = datetime.strptime(images.pop("newestPushedAt"), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert reported == pushed_at, (reported, pushed_at)  # whole seconds, RFC 3339, UTC
    assert images == {"count": 2, "totalSizeBytes": GIB + GIB // 2, "newestTags": ["v2"]}
    scan = status["scan"]
    assert (scan["imageDigest"], scan["imageTags"], scan["status"]) == (newest, ["v2"], "COMPLETE")
    assert scan["completedAt"].endswith("Z")
    assert scan["findingSeverityCounts"] == {
        "CRITICAL": 0,
        "HIGH": 1,
        "MEDIUM": 0,
        "LOW": 0,
        "INFORMATIONAL": 0,
        "UNDEFINED": 0,
    }
    assert status["estimatedMonthlyCostUSD"] == pytest.approx(1.5 * 0.10 + 1.0)

    [event] = kube.wait_event(ns, "app", "VulnerabilitiesFound", "Warning")
    assert newest in event.message and "0 CRITICAL and 1 HIGH" in event.message and "v2" in event.message

    # Further refreshes see the same digest and counts: no second announcement (the Event's count stays 1).
    since = time.monotonic()
    wait_for(
        lambda: env.count("DescribeImageScanFindings", since) >= 2, "two more refreshes", timeout=60, context=env.log
    )
    [event] = kube.events(ns, "app", reason="VulnerabilitiesFound")
    assert event.count == 1, "announced again although nothing changed"

    # The counts per resource as a metric (opt-in: --per-resource-findings-metrics).
    findings = _findings_metric(env, ns, "app")
    assert (
        findings["HIGH"] == 1
        and findings["CRITICAL"] == 0
        and set(findings) == {"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"}
    )

    # kubectl get ecr shows images, size and findings.
    table = _kubectl(env, "get", "ecr", "-n", ns)
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "URI", "READY", "REASON", "IMAGES", "SIZE", "CRITICAL", "HIGH", "AGE"]
    cells = row.split()
    assert cells[4:8] == ["2", str(GIB + GIB // 2), "0", "1"], row

    kube.delete(ns, "app")  # the next test counts this operator's image reads: this resource must be gone
    kube.wait_gone(ns, "app")
    wait_for(lambda: _findings_metric(env, ns, "app") == {}, "the deleted resource's series to go", timeout=30)


def test_drift_resyncs_do_not_read_images(env: Env) -> None:
    """Resyncs run every second, the inventory every INVENTORY_SECONDS: DescribeImages follows the latter."""
    kube, ns, repository = env.kube, env.kube.namespace(), unique("inv-quiet")
    kube.create(ns, "quiet", spec(repository, encryption={"type": "AES256"}))
    kube.wait_ready(ns, "quiet")
    env.push(repository, "v1", 1000)
    since = time.monotonic()
    window = 3 * INVENTORY_SECONDS
    time.sleep(window)  # a window of time is what is measured here
    arn = env.aws.repository(repository)
    assert arn is not None
    calls = env.proxy.calls(since)
    # Resync reads vs. inventory reads of this operator, which watches only this module's namespaces and serves
    # only this resource now (the previous test deleted its own).
    resync_reads = sum(1 for c in calls if c.operation == "GetLifecyclePolicy")
    inventory_reads = sum(1 for c in calls if c.operation == "DescribeImages")
    assert resync_reads >= window / RESYNC_SECONDS / 3, f"resyncs ran ({resync_reads} in {window}s)"
    assert 1 <= inventory_reads <= window / INVENTORY_SECONDS + 1, f"{inventory_reads} DescribeImages in {window}s"
    status = kube.must_get(ns, "quiet")["status"]
    assert status["images"]["count"] == 1 and status["estimatedMonthlyCostUSD"] == pytest.approx(
        1000 / GIB * 0.10, abs=1e-4
    ), "AES256: no key to pay for"


def test_export_configmap_owned_updated_and_a_foreign_one_refused(env: Env) -> None:
    kube, ns, repository = env.kube, env.kube.namespace(), unique("inv-export")
    created = kube.create(ns, "web", spec(repository, export={"configMapName": "web-ecr"}))
    ready = kube.wait_ready(ns, "web")
    configmap = kube.core.read_namespaced_config_map("web-ecr", ns)
    status = ready["status"]
    assert configmap.data == {
        "repositoryUri": status["repositoryUri"],
        "repositoryArn": status["repositoryArn"],
        "registryId": status["registryId"],
        "region": REGION,
        "kmsKeyArn": status["kmsKeyArn"],
    }
    assert status["repositoryUri"].endswith("/" + repository) and status["kmsKeyArn"].startswith("arn:aws:kms:")
    # The owner reference that makes the garbage collector delete the ConfigMap with the resource
    # (test_self_service.py watches it happen).
    [owner] = configmap.metadata.owner_references
    assert (owner.api_version, owner.kind, owner.name, owner.uid, owner.controller) == (
        "ecr.platform.dev/v1alpha1",
        "EcrRepository",
        "web",
        created["metadata"]["uid"],
        True,
    )

    # Someone edits our ConfigMap: the next pass (a resync) puts the identifiers back.
    kube.core.patch_namespaced_config_map("web-ecr", ns, {"data": {"repositoryUri": "edited"}})
    wait_for(
        lambda: kube.core.read_namespaced_config_map("web-ecr", ns).data["repositoryUri"] == status["repositoryUri"],
        "the exported URI to be restored",
        context=env.log,
    )

    # A ConfigMap of someone else's is never written: Ready=False, Stalled, a Warning, the data untouched.
    kube.core.create_namespaced_config_map(
        ns, {"metadata": {"name": "theirs"}, "data": {"repositoryUri": "their own value"}}
    )
    patched = kube.patch(ns, "web", {"spec": {"export": {"configMapName": "theirs"}}})
    refused = kube.wait_condition(
        ns, "web", "False", "ExportConfigMapNotOwned", generation=patched["metadata"]["generation"]
    )
    stalled = next(c for c in refused["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and "theirs" in stalled["message"]
    kube.wait_event(ns, "web", "ExportConfigMapNotOwned", "Warning")
    theirs = kube.core.read_namespaced_config_map("theirs", ns)
    assert theirs.data == {"repositoryUri": "their own value"} and not theirs.metadata.owner_references

    # Pointing it back at a name of its own makes it Ready again.
    kube.patch(ns, "web", {"spec": {"export": {"configMapName": "web-ecr"}}})
    kube.wait_ready(ns, "web")


REPOSITORY_FIELDS = ("repositoryUri", "repositoryArn", "registryId", "images", "scan", "estimatedMonthlyCostUSD")


def _refusals(env: Env, namespace: str, name: str) -> int:
    return sum(e.count or 1 for e in env.kube.events(namespace, name, reason="RepositoryNotOwned", type_="Warning"))


def test_a_repository_that_changed_hands_shows_nothing_of_its_new_owner(env: Env) -> None:
    """The resource's repository now carries another team's ownership tags (deleted and re-created by them, say)
    and holds their image with findings: refused with RepositoryNotOwned, and over several inventory intervals
    neither status, nor an Event, nor the findings metric, nor the export ConfigMap shows anything of it."""
    kube, ns, repository = env.kube, env.kube.namespace(), unique("inv-lost")
    kube.create(ns, "lost", spec(repository, encryption={"type": "AES256"}, export={"configMapName": "lost-ecr"}))
    status = kube.wait_ready(ns, "lost")["status"]
    assert set(REPOSITORY_FIELDS) - {"scan"} <= set(status) and status["images"]["count"] == 0, "empty: no scan yet"
    assert kube.core.read_namespaced_config_map("lost-ecr", ns).data["repositoryUri"] == status["repositoryUri"]

    theirs = [{"Key": NAMESPACE_TAG, "Value": "someone-else"}, {"Key": NAME_TAG, "Value": "theirs"}]
    env.aws.ecr.tag_resource(resourceArn=status["repositoryArn"], tags=theirs)
    digest = env.push(repository, "their-v1", GIB)
    env.aws.ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})

    kube.wait_condition(ns, "lost", "False", "RepositoryNotOwned")
    # Refused resyncs (one a second) as the clock: three inventory intervals pass while the resource is refused.
    seen = _refusals(env, ns, "lost")
    wait_for(
        lambda: _refusals(env, ns, "lost") >= seen + 3 * INVENTORY_SECONDS / RESYNC_SECONDS,
        "three inventory intervals of refused resyncs",
        timeout=120,
        context=env.log,
    )
    status = kube.must_get(ns, "lost")["status"]
    assert not set(REPOSITORY_FIELDS) & set(status), {k: status[k] for k in REPOSITORY_FIELDS if k in status}
    assert kube.events(ns, "lost", reason="VulnerabilitiesFound") == []
    assert _findings_metric(env, ns, "lost") == {}
    exported = kube.core.read_namespaced_config_map("lost-ecr", ns).data
    assert exported == {"repositoryUri": "", "repositoryArn": "", "registryId": "", "region": "", "kmsKeyArn": ""}
    assert env.aws.repository_tags(repository)[NAMESPACE_TAG] == "someone-else", "their repository is untouched"
    assert [i["imageDigest"] for i in env.aws.images(repository)] == [digest]

    kube.delete(ns, "lost")
    kube.wait_gone(ns, "lost")
    assert env.aws.repository(repository) is not None, "not ours: the delete leaves it"
    env.aws.ecr.delete_repository(repositoryName=repository, force=True)


def _findings_metric(env: Env, namespace: str, name: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{env.operator.metrics_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        sample.labels["severity"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ecr_operator_resource_image_findings"
        and sample.labels.get("namespace") == namespace
        and sample.labels.get("name") == name
    }


def _kubectl(env: Env, *args: str) -> str:
    result = subprocess.run(
        [str(env.kubectl), f"--kubeconfig={env.kubeconfig}", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
