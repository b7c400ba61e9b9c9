"""The images part against moto: DescribeImages (paged) and the newest image's DescribeImageScanFindings, asked for
only by create/update passes and the inventory refresh; a resync's reads do not change. Only a repository this
resource owns is ever read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aws_harness import NAME, PartsHarness

from ecr_operator.core.errors import OperatorError
from ecr_operator.repository.adoption import Adoption
from ecr_operator.repository.parts import images
from ecr_operator.repository.reconcile import inventory
from ecr_operator.repository.render import NAMESPACE_TAG, OWNER_TAG_KEYS
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
    assert aws.calls.operations == [
        "ecr:DescribeRepositories",
        "ecr:ListTagsForResource",  # ownership first: someone else's images are never read
        "ecr:DescribeImages",
        "ecr:DescribeImageScanFindings",
        "ecr:DescribeRepositories",
        "ecr:ListTagsForResource",  # and again after: still the same repository, still ours
    ]
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
    assert aws.calls.reads[-4:] == [
        "ecr:DescribeImages",
        "ecr:DescribeImageScanFindings",
        "ecr:DescribeRepositories",
        "ecr:ListTagsForResource",
    ]
    assert aws.calls.writes == []


def test_a_missing_repository_has_no_inventory(aws: PartsHarness) -> None:
    assert inventory(aws.clients, aws.desired()) is None


IMAGE_READS = {"ecr:DescribeImages", "ecr:DescribeImageScanFindings"}


@pytest.mark.parametrize("now", ["someone-elses", "nobodys"])
def test_the_inventory_never_reads_a_repository_that_is_not_ours_any_more(aws: PartsHarness, now: str) -> None:
    """The repository under the name changed hands (their ownership tags) or lost ours: its images, findings and
    cost are not this resource's to show, and are not even read."""
    desired = aws.desired()
    aws.reconcile(desired)
    digest = push(aws, "v1", 1000)
    aws.ecr.start_image_scan(repositoryName=NAME, imageId={"imageDigest": digest})
    arn = aws.existing_repository()["repositoryArn"]
    if now == "someone-elses":
        aws.ecr.tag_resource(resourceArn=arn, tags=[{"Key": NAMESPACE_TAG, "Value": "someone-else"}])
    else:
        aws.ecr.untag_resource(resourceArn=arn, tagKeys=list(OWNER_TAG_KEYS))

    aws.calls.clear()
    with pytest.raises(OperatorError) as raised:
        inventory(aws.clients, desired)
    assert raised.value.reason == "RepositoryNotOwned" and not raised.value.retryable
    assert NAME in raised.value.message
    assert not IMAGE_READS & set(aws.calls.operations), aws.calls.operations


def test_a_repository_only_to_be_adopted_shows_nothing_until_it_is(aws: PartsHarness) -> None:
    """Observe-only with adoption asked and allowed: the repository is not ours yet, so neither its URI nor its
    images reach the outcome (status, export); the pass that adopts it reads them after writing our tags."""
    aws.ecr.create_repository(repositoryName=NAME)
    push(aws, "v1", 1000)
    adopt = Adoption(requested=True, refusal=None)
    desired = aws.desired({"encryption": {"type": "AES256"}})

    preview = aws.reconcile(desired, adoption=adopt, observe_only=True, inventory=True)
    assert preview.planned and aws.calls.writes == []
    assert (preview.repository_uri, preview.repository_arn, preview.registry_id) == (None, None, None)
    assert preview.inventory is None
    assert not IMAGE_READS & set(aws.calls.operations), aws.calls.operations

    adopted = aws.reconcile(desired, adoption=adopt, inventory=True)
    assert adopted.adopted and adopted.repository_uri is not None
    assert adopted.inventory is not None and adopted.inventory.images.count == 1
    operations = aws.calls.operations
    assert operations.index("ecr:TagResource") < operations.index("ecr:DescribeImages"), "read once ours"


class HandOver:
    """Hands the repository over to another team at the operator's first DescribeImages, before AWS answers it: the
    operator has just found the repository to be this resource's, and its image reads then see theirs. Run from
    botocore's ``before-call`` event on the operator's ECR client, so the interleaving is exact, not timed."""

    def __init__(self, aws: PartsHarness, how: str, *, push: bool = True) -> None:
        self.aws, self.how, self.push = aws, how, push
        self.done = False
        self.digest: str | None = None

    def __call__(self, model: Any, **_: Any) -> None:
        if model.name != "DescribeImages" or self.done:
            return
        self.done = True
        aws = self.aws
        if self.how == "tagged-theirs":  # their ownership tags on our repository
            arn = aws.existing_repository()["repositoryArn"]
            aws.ecr.tag_resource(resourceArn=arn, tags=[{"Key": NAMESPACE_TAG, "Value": "someone-else"}])
        else:  # deleted and re-created under the name, carrying copies of our ownership tags (an import, say)
            ours = [{"Key": k, "Value": v} for k, v in aws.repository_tags().items() if k in OWNER_TAG_KEYS]
            aws.ecr.delete_repository(repositoryName=NAME, force=True)
            aws.ecr.create_repository(repositoryName=NAME, tags=ours)
        if self.push:
            self.digest = push(aws, "their-v1", 5000)
            aws.ecr.start_image_scan(repositoryName=NAME, imageId={"imageDigest": self.digest})

    @contextmanager
    def armed(self) -> Iterator[HandOver]:
        self.aws.clients.ecr.meta.events.register("before-call", self)
        try:
            yield self
        finally:
            self.aws.clients.ecr.meta.events.unregister("before-call", self)


@pytest.mark.parametrize("how", ["tagged-theirs", "re-created"])
def test_the_inventory_shows_nothing_of_a_repository_that_changed_hands_while_its_images_were_read(
    aws: PartsHarness, how: str
) -> None:
    """Ours when the inventory checked, someone else's (their tags; or another repository under the name) by the
    time its images and scan are read: their image, findings and cost are not returned, so they reach neither status
    nor a VulnerabilitiesFound event. Their tags: RepositoryNotOwned (status clears); a re-created repository: nothing
    this time, the next refresh decides from scratch."""
    desired = aws.desired()
    aws.reconcile(desired)
    with HandOver(aws, how).armed() as handed:
        aws.calls.clear()
        if how == "tagged-theirs":
            with pytest.raises(OperatorError) as raised:
                inventory(aws.clients, desired)
            assert raised.value.reason == "RepositoryNotOwned" and "someone-else" in raised.value.message
        else:
            assert inventory(aws.clients, desired) is None
    held = aws.ecr.describe_images(repositoryName=NAME)["imageDetails"]
    assert handed.digest is not None and [image["imageDigest"] for image in held] == [handed.digest]
    assert set(aws.calls.operations) >= IMAGE_READS, "their image was read, and then not shown"


@pytest.mark.parametrize("how", ["tagged-theirs", "re-created"])
def test_a_pass_shows_nothing_of_a_repository_that_changed_hands_while_its_images_were_read(
    aws: PartsHarness, how: str
) -> None:
    """The same race in an update pass that reads the inventory (after its writes)."""
    desired = aws.desired()
    aws.reconcile(desired)
    with HandOver(aws, how).armed() as handed:
        if how == "tagged-theirs":
            with pytest.raises(OperatorError) as raised:
                aws.reconcile(desired, inventory=True)
            assert raised.value.reason == "RepositoryNotOwned"
        else:
            assert aws.reconcile(desired, inventory=True).inventory is None
    assert handed.digest is not None


def test_an_empty_repository_is_not_read_for_ownership_again(aws: PartsHarness) -> None:
    """An inventory that found no image has nothing of anyone's to hide: the ownership read before the images is
    its only one (3 reads, not 5)."""
    desired = aws.desired()
    aws.reconcile(desired)
    aws.calls.clear()
    found = inventory(aws.clients, desired)
    assert found is not None and found.images.count == 0 and found.scan is None
    assert aws.calls.operations == ["ecr:DescribeRepositories", "ecr:ListTagsForResource", "ecr:DescribeImages"]


@pytest.mark.parametrize("how", ["tagged-theirs", "re-created"])
def test_an_empty_repository_that_changed_hands_while_read_shows_no_image_and_the_next_inventory_refuses(
    aws: PartsHarness, how: str
) -> None:
    """Handed over, still empty, while its images were read: the inventory shows no image and no scan (nothing of
    theirs was read), and the next one finds their tags before reading anything (re-created: ours again)."""
    desired = aws.desired()
    aws.reconcile(desired)
    with HandOver(aws, how, push=False).armed() as handed:
        found = inventory(aws.clients, desired)
    assert handed.done
    assert found is not None and (found.images.count, found.scan) == (0, None)
    aws.calls.clear()
    if how == "tagged-theirs":
        with pytest.raises(OperatorError) as raised:
            inventory(aws.clients, desired)
        assert raised.value.reason == "RepositoryNotOwned"
        assert not IMAGE_READS & set(aws.calls.operations), aws.calls.operations
    else:
        again = inventory(aws.clients, desired)
        assert again is not None and again.images.count == 0


def test_an_inventory_of_a_repository_that_stayed_ours_is_shown(aws: PartsHarness) -> None:
    """The check after the reads passes when nothing changed hands: an image pushed meanwhile by the owner is ours."""
    desired = aws.desired()
    aws.reconcile(desired)
    digest = push(aws, "v1", 1000)
    found = inventory(aws.clients, desired)
    assert found is not None and found.scan is not None and found.scan.image_digest == digest
