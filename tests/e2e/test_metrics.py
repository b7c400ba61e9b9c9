"""/metrics and /readyz of a real operator process: the counters move through create, drift, throttling and delete;
readiness follows AWS's reachability (the proxy drops the probe's calls, then lets them through); build_info; the
resource gauges count both kinds and come back from status when an operator starts serving (a restart), findings
summed by severity with no series per resource by default."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import Harness, Registries, full_spec, harness_fixture, unique, wait_for

from ecr_operator_dev import Fault

pytestmark = pytest.mark.e2e

REGION = "eu-north-1"

harness = harness_fixture(REGION, resync_seconds=3, extra_args=["--readiness-interval", "1"])


@pytest.fixture(autouse=True)
def clean_proxy(harness: Harness) -> Iterator[None]:
    harness.proxy.clear_faults()
    yield
    harness.proxy.clear_faults()


def scrape(harness: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{harness.operator.metrics_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        v for (n, sample_labels), v in samples.items() if n == name and set(labels.items()) <= set(sample_labels)
    )


def readyz(harness: Harness) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{harness.operator.metrics_url}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_counters_move_through_create_drift_throttling_and_delete(harness: Harness) -> None:
    namespace, repository_name = harness.namespace(), unique("metrics")
    before = scrape(harness)
    harness.create(namespace, "app", full_spec(repository_name))
    harness.wait_ready(namespace, "app")
    created = scrape(harness)
    assert value(created, "ecr_operator_reconcile_passes_total", trigger="change", result="applied") > value(
        before, "ecr_operator_reconcile_passes_total", trigger="change", result="applied"
    )
    assert value(created, "ecr_operator_aws_requests_total", service="kms", operation="CreateKey", outcome="ok") >= 1
    assert value(created, "ecr_operator_aws_writes_total", part="key", trigger="change") >= 3
    assert value(created, "ecr_operator_aws_writes_total", part="repository", trigger="change") >= 3
    # The gauges follow the watch: the object's Ready status reaches them with the echo of the status patch.
    wait_for(
        lambda: (
            value(scrape(harness), "ecr_operator_resources", kind="EcrRepository", ready="True", reason="Synced") >= 1
        ),
        "the resource to be counted by kind and Ready reason",
        timeout=30,
    )
    assert value(created, "ecr_operator_reconcile_duration_seconds_count", trigger="change") >= 1
    assert value(created, "process_resident_memory_bytes") > 0, "process metrics are there too"

    # Drift: a resync corrects it and counts it; quiet resyncs count as writes skipped.
    drift_before = value(created, "ecr_operator_drift_corrections_total", part="repository")
    harness.aws.ecr.put_image_scanning_configuration(
        repositoryName=repository_name, imageScanningConfiguration={"scanOnPush": False}
    )
    wait_for(
        lambda: value(scrape(harness), "ecr_operator_drift_corrections_total", part="repository") > drift_before,
        "the drift correction to be counted",
        timeout=30,
    )
    skipped = value(scrape(harness), "ecr_operator_writes_skipped_total", trigger="resync")
    wait_for(
        lambda: value(scrape(harness), "ecr_operator_writes_skipped_total", trigger="resync") > skipped,
        "an in-sync resync to be counted",
        timeout=30,
    )

    # Throttling: two throttled answers, then botocore's retry succeeds.
    throttled_before = value(scrape(harness), "ecr_operator_aws_requests_total", outcome="throttled")
    harness.proxy.add_fault(Fault("throttle", "PutLifecyclePolicy", times=2))
    patched = harness.patch_spec(namespace, "app", {"lifecycle": {"maxImageCount": 7}})
    harness.wait_condition(namespace, "app", "True", "Synced", generation=patched["metadata"]["generation"])
    throttled = scrape(harness)
    assert value(throttled, "ecr_operator_aws_requests_total", operation="PutLifecyclePolicy", outcome="throttled") >= 2
    assert value(throttled, "ecr_operator_aws_requests_total", outcome="throttled") >= throttled_before + 2
    assert value(throttled, "ecr_operator_aws_retries_total", service="ecr", operation="PutLifecyclePolicy") >= 2

    synced = value(throttled, "ecr_operator_resources", ready="True", reason="Synced")
    harness.delete(namespace, "app")
    harness.wait_gone(namespace, "app")
    wait_for(
        lambda: value(scrape(harness), "ecr_operator_resources", ready="True", reason="Synced") == synced - 1,
        "the deleted resource to be forgotten",
        timeout=30,
    )
    gone = scrape(harness)
    assert value(gone, "ecr_operator_aws_requests_total", operation="DeleteRepository", outcome="ok") >= 1
    assert value(gone, "ecr_operator_passes_in_flight") == 0


def test_readiness_follows_aws_reachability(harness: Harness) -> None:
    wait_for(lambda: readyz(harness)[0] == 200, "/readyz to answer 200", timeout=30)
    status, detail = readyz(harness)
    assert detail["checks"] == {"apiServer": "ok", "aws": "ok"}, detail

    assert status == 200 and detail["stale"] is False

    def aws_unreachable() -> bool:
        status, detail = readyz(harness)
        checks = detail["checks"]
        assert isinstance(checks, dict)
        return status == 503 and checks["apiServer"] == "ok" and checks["aws"] != "ok"

    harness.proxy.add_fault(Fault("drop", "GetCallerIdentity", times=None))
    wait_for(aws_unreachable, "/readyz to answer 503 with the AWS check failed", timeout=60)
    assert value(scrape(harness), "ecr_operator_ready") == 0

    harness.proxy.clear_faults()
    wait_for(lambda: readyz(harness)[0] == 200, "/readyz to answer 200 again", timeout=60)
    assert value(scrape(harness), "ecr_operator_ready") == 1


def test_build_info_names_the_versions(harness: Harness) -> None:
    [labels] = [dict(labels) for (name, labels), v in scrape(harness).items() if name == "ecr_operator_build_info"]
    assert set(labels) == {"version", "python", "kopf", "boto3"}, labels
    assert labels["version"] == "0.1.0" and labels["kopf"][0].isdigit() and labels["boto3"].startswith("1."), labels


def test_findings_are_summed_by_severity_and_come_back_from_status_after_a_restart(harness: Harness) -> None:
    """No pass or inventory of the new process reads them: they are in status, and the watch's first listing
    re-publishes them (the inventory interval is the default 900 s, the restart takes seconds)."""
    namespace = harness.namespace()
    harness.create(namespace, "scanned", full_spec(unique("scanned")))
    harness.wait_ready(namespace, "scanned")
    harness.operator.stop()
    counts = {"CRITICAL": 2, "HIGH": 3, "MEDIUM": 1}
    harness.patch_status(
        namespace,
        "scanned",
        {
            "images": {"count": 1, "totalSizeBytes": 1024, "newestTags": ["v1"]},
            "scan": {
                "imageDigest": "sha256:" + "a" * 64,
                "imageTags": ["v1"],
                "status": "COMPLETE",
                "findingSeverityCounts": counts,
            },
        },
    )
    harness.operator.start()

    def summed() -> dict[str, float]:
        samples = scrape(harness)
        return {
            dict(labels)["severity"]: v
            for (name, labels), v in samples.items()
            if name == "ecr_operator_image_findings"
        }

    findings = wait_for(lambda: summed() if summed().get("CRITICAL", 0) >= 2 else None, "the findings", timeout=30)
    assert set(findings) == {"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"}, findings
    assert findings["HIGH"] >= 3 and findings["MEDIUM"] >= 1
    samples = scrape(harness)
    assert value(samples, "ecr_operator_resources", kind="EcrRepository", ready="True") >= 1
    assert all(set(dict(labels)) == {"severity"} for (name, labels) in samples if name == "ecr_operator_image_findings")
    assert not [key for key in samples if key[0] == "ecr_operator_resource_image_findings"], "opt-in only"

    before = findings["CRITICAL"]
    harness.delete(namespace, "scanned")
    harness.wait_gone(namespace, "scanned")
    wait_for(lambda: summed()["CRITICAL"] == before - 2, "the deleted resource's findings to leave the sum", timeout=30)


def test_ecr_registries_are_counted_by_kind(harness: Harness) -> None:
    registries = Registries(harness.api)
    name = unique("metrics")
    before = value(scrape(harness), "ecr_operator_resources", kind="EcrRegistry")
    registries.create(name, {"deletionPolicy": "Retain"})  # manages nothing: no account-wide write
    try:
        wait_for(
            lambda: value(scrape(harness), "ecr_operator_resources", kind="EcrRegistry") == before + 1,
            "the EcrRegistry to be counted",
            timeout=30,
        )
    finally:
        registries.delete(name)
        registries.wait_gone(name)
    wait_for(
        lambda: value(scrape(harness), "ecr_operator_resources", kind="EcrRegistry") == before,
        "the deleted EcrRegistry to be forgotten",
        timeout=30,
    )
