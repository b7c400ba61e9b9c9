"""The images part against moto: DescribeImages (paged) and the newest image's DescribeImageScanFindings, asked for
only by create/update passes and the inventory refresh; a resync's reads do not change."""

from __future__ import annotations

import time

from aws_harness import NAME, PartsHarness

from ecr_operator.repository.parts import images
from ecr_operator.repository.reconcile import inventory
from ecr_operator_dev.awsread import image_manifest


def push(aws: PartsHarness, tag: str, size: int) -> str:
    """An image whose imageSizeInBytes is ``size`` (moto takes it from the manifest's config size)."""
    manifest = image_manifest(size)
    image = aws.ecr.put_image(repositoryName=NAME, imageManifest=manifest, imageTag=tag)["image"]
    digest: str = image["imageId"]["imageDigest"]
    return digest


def test_a_create_pass_reports_an_empty_repository_without_reading_images(aws: PartsHarness) -> None:
    outcome = aws.reconcile(aws.desired(), inventory=True)
    assert outcome.inventory is not None
    assert outcome.inventory.images == images.ImagesSummary(0, 0, None, ())
    assert outcome.inventory.scan is None and outcome.inventory.manages_key
    assert "ecr:DescribeImages" not in aws.calls.operations, "a repository just created holds nothing"


def test_inventory_reads_every_image_and_the_newest_scan(aws: PartsHarness) -> None:
    desired = aws.desired()
    aws.reconcile(desired)
    push(aws, "v1", 1000)
    time.sleep(1.1)  # moto's imagePushedAt has whole seconds: the second push must be the newer one
    newest = push(aws, "v2", 2500)

    aws.calls.clear()
    found = inventory(aws.clients, desired)
    assert aws.calls.operations == ["ecr:DescribeImages", "ecr:DescribeImageScanFindings"]
    assert found is not None
    assert (found.images.count, found.images.total_size_bytes, found.images.newest_tags) == (2, 3500, ("v2",))
    assert found.images.newest_pushed_at is not None and found.images.newest_pushed_at.endswith("Z")
    assert found.scan is not None
    assert (found.scan.image_digest, found.scan.status, found.scan.finding_severity_counts) == (newest, "NONE", None)

    aws.ecr.start_image_scan(repositoryName=NAME, imageId={"imageDigest": newest})
    found = inventory(aws.clients, desired)
    assert found is not None and found.scan is not None
    assert found.scan.status == "COMPLETE" and found.scan.completed_at is not None
    assert found.scan.high == 1 and found.scan.critical == 0  # moto's one HIGH finding
    assert found.scan.finding_severity_counts is not None and set(found.scan.finding_severity_counts) == set(
        images.SEVERITIES
    )


def test_only_an_update_pass_reads_images_a_resync_does_not(aws: PartsHarness) -> None:
    desired = aws.desired()
    aws.reconcile(desired)
    push(aws, "v1", 100)
    plain = aws.reconcile(desired)
    assert plain.inventory is None
    assert not {"ecr:DescribeImages", "ecr:DescribeImageScanFindings"} & set(aws.calls.operations)
    asked = aws.reconcile(desired, inventory=True)
    assert asked.inventory is not None and asked.inventory.images.count == 1
    assert aws.calls.reads[-2:] == ["ecr:DescribeImages", "ecr:DescribeImageScanFindings"]
    assert aws.calls.writes == []


def test_a_missing_repository_has_no_inventory(aws: PartsHarness) -> None:
    assert inventory(aws.clients, aws.desired()) is None
