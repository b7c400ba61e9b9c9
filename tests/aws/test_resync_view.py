"""Resyncs with a batched per-region view: fewer reads per resource, still zero writes in sync, drift still fixed."""

from __future__ import annotations

import time

import boto3
from aws_harness import CLUSTER, NAME, PartsHarness

from ecr_operator.core.aws import ClientFactory
from ecr_operator.repository.reconcile import reconcile
from ecr_operator.repository.render import Desired
from ecr_operator.repository.view import RegionViews

PER_RESOURCE_READS = [
    "ecr:ListTagsForResource",
    "ecr:GetLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "kms:DescribeKey",
    "kms:GetKeyRotationStatus",
]


def _three(aws: PartsHarness) -> list[Desired]:
    desired = [
        aws.desired(),
        aws.desired({"repositoryName": "team-b/api"}, name="api", namespace="team-b"),
        aws.desired({"repositoryName": "team-b/web", "encryption": {"enableKeyRotation": False}}, name="web"),
    ]
    for d in desired:
        aws.reconcile(d)
    return desired


def test_in_sync_with_a_view(aws: PartsHarness) -> None:
    desired = _three(aws)
    aws.calls.clear()
    view = RegionViews(CLUSTER, max_age=60).view(aws.clients, not_before=0.0)
    assert sorted(aws.calls.operations) == ["ecr:DescribeRepositories", "resourcegroupstaggingapi:GetResources"]
    assert sorted(view.repositories) == sorted(["my-application", "team-b/api", "team-b/web"])
    assert len(view.key_tags) == 3

    for d in desired:
        aws.calls.clear()
        outcome = reconcile(aws.clients, d, view=view)
        assert aws.calls.writes == []
        assert outcome.applied == [] and outcome.problems == []
        assert sorted(aws.calls.operations) == sorted(PER_RESOURCE_READS)


def test_drift_is_corrected_with_a_fresh_view(aws: PartsHarness) -> None:
    desired = _three(aws)[0]
    key_id = aws.alias_target()
    assert key_id is not None
    aws.ecr.put_image_scanning_configuration(repositoryName=NAME, imageScanningConfiguration={"scanOnPush": False})
    aws.kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "owner", "TagValue": "someone"}])

    view = RegionViews(CLUSTER, max_age=60).view(aws.clients, not_before=time.monotonic())
    aws.calls.clear()
    reconcile(aws.clients, desired, view=view)
    assert aws.calls.writes == ["kms:TagResource", "ecr:PutImageScanningConfiguration"]
    assert aws.key_tags(key_id)["owner"] == "platform-team"
    aws.assert_in_sync(desired)


def test_view_taken_before_the_repository_existed(aws: PartsHarness) -> None:
    """A repository missing from the view is read directly: never created twice."""
    view = RegionViews(CLUSTER, max_age=60).view(aws.clients, not_before=0.0)
    desired = aws.desired()
    aws.reconcile(desired)
    aws.calls.clear()
    reconcile(aws.clients, desired, view=view)
    assert aws.calls.writes == []
    assert len(aws.all_keys()) == 1


def test_a_view_nobody_asks_for_any_more_is_let_go(aws: PartsHarness, aws_session: boto3.session.Session) -> None:
    """A view too old to serve is dropped at the next refresh of any (account, region), so the listings of
    accounts or regions no resource uses any more are not kept for the life of the process."""
    snapshots = RegionViews(CLUSTER, max_age=0.0)
    other_region = ClientFactory(aws_session).for_region("us-west-2")
    snapshots.view(aws.clients, not_before=0.0)
    assert aws.clients.target in snapshots
    snapshots.view(other_region, not_before=0.0)
    assert other_region.target in snapshots
    assert aws.clients.target not in snapshots
