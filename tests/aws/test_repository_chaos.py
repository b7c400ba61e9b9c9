"""An EcrRepository against moto where the happy path does not go: a pinned placement whose first write never took
effect, driven through the controller (the runtime's part is a stand-in Host that merges ``record`` into a status
dict) with AssumeRole clients; the inventory read by a resync through the batched view.

The place is recorded before the first write; if AWS refuses that write (access denied in the account the Namespace
first mapped to, say), nothing exists there, and fixing the mapping must not be refused as an account change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from aws_harness import CLUSTER, REGION, PartsHarness
from botocore.exceptions import ClientError

from ecr_operator.core.api import AWS_ROLE_ARN_ANNOTATION
from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.kind import Subject
from ecr_operator.core.reasons import Reason
from ecr_operator.core.settings import Settings
from ecr_operator.repository import kind as repository_kind
from ecr_operator.repository.placement import recorded
from ecr_operator.repository.view import RegionViews

ROLE_A = "arn:aws:iam::222233334444:role/ecr-operator"
ROLE_B = "arn:aws:iam::333344445555:role/ecr-operator"
SPEC = {"repositoryName": "team/app"}


class Host:
    """The runtime's part of a pass: worker threads (here: inline) and status records merged into ``status``."""

    logger = logging.getLogger("test")

    def __init__(self) -> None:
        self.status: dict[str, Any] = {}

    async def run(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    def record(self, fields: Mapping[str, Any], what: str) -> None:
        self.status = {k: v for k, v in {**self.status, **fields}.items() if v is not None}


def refuse_writes(model: Any, **_: Any) -> None:
    """IAM in the first account denies the role every write (moto does not evaluate IAM policies)."""
    if not model.name.startswith(("Describe", "List", "Get", "BatchGet")):
        raise ClientError(
            {
                "Error": {"Code": "AccessDeniedException", "Message": f"not authorized to perform {model.name}"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            model.name,
        )


def a_pass(controller: repository_kind.RepositoryController, host: Host) -> Any:
    subject = Subject("u", "app", "team", 1, SPEC, dict(host.status), {}, cause="create")
    return asyncio.run(controller.reconcile(subject, host, resync=False))


def test_a_first_write_aws_refused_pins_nothing_so_the_mapping_can_be_fixed(
    session: boto3.session.Session,
) -> None:
    factory = ClientFactory(session)
    controller = repository_kind.RepositoryController(Settings(region=REGION, required_tags=()), factory)
    denied_clients = factory.for_region(REGION, ROLE_A)
    for client in (denied_clients.ecr, denied_clients.kms):
        client.meta.events.register("before-call", refuse_writes)
    host = Host()

    controller.namespace("team", {AWS_ROLE_ARN_ANNOTATION: ROLE_A})
    with pytest.raises(OperatorError) as denied:
        a_pass(controller, host)
    assert denied.value.reason == Reason.ACCESS_DENIED
    assert recorded(host.status) is None, f"nothing was written, yet a place is pinned: {host.status}"

    # The platform team maps the Namespace to the account it was meant for: the repository is made there.
    controller.namespace("team", {AWS_ROLE_ARN_ANNOTATION: ROLE_B})
    a_pass(controller, host)
    pinned = recorded(host.status)
    assert pinned is not None and pinned.account == "333344445555"
    assert factory.for_region(REGION, ROLE_B).ecr.describe_repositories(repositoryNames=["team/app"])["repositories"]


def test_a_resync_that_reads_the_inventory_through_the_view_shows_it(aws: PartsHarness) -> None:
    """A resync (or a restart's resume) reads the images when status has none yet; its repository comes from the
    batched view. The second ownership read after the image reads compares which repository it is (registry, ARN,
    creation time): the view must carry the creation time, else every such pass takes the repository for one
    re-created meanwhile and throws the images it read away."""
    desired = aws.desired()
    aws.reconcile(desired)
    aws.put_image("v1")
    view = RegionViews(CLUSTER, max_age=60).view(aws.clients, not_before=0.0)
    outcome = aws.reconcile(desired, view=view, inventory=True)
    assert outcome.inventory is not None and outcome.inventory.images.count == 1
