"""No cross-account blocking: while one account's batched view is slow to refresh (its tag:GetResources pages
delayed at the proxy), the resyncs of another account run to the end on the same operator's threads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import boto3
import pytest
from aws_harness import REGION, PartsHarness

from ecr_operator.core.aws import AwsClients
from ecr_operator.core.settings import Settings
from ecr_operator.repository.adoption import NO_ADOPTION
from ecr_operator.repository.kind import KIND as ECR_REPOSITORY
from ecr_operator.repository.reconcile import reconcile
from ecr_operator.repository.render import Desired
from ecr_operator.runtime.process import Runtime
from ecr_operator_dev import AwsProxy, Fault, MotoServer

SLOW, FAST = "111111111111", "222222222222"
DELAY = 3.0
"""Seconds each of the slow account's GetResources pages takes: far longer than the fast account's passes."""
PER_ACCOUNT = 4


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/ecr-operator"


@pytest.fixture
def proxy(moto_server: MotoServer, aws_session: boto3.session.Session) -> Iterator[AwsProxy]:
    moto_server.reset()
    with AwsProxy(upstream=moto_server.endpoint_url) as proxy, pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", proxy.endpoint_url)
        yield proxy


def _resources(aws: PartsHarness, memo: Runtime) -> list[tuple[str, AwsClients, Desired]]:
    """PER_ACCOUNT AES256 repositories in each account, created (in sync before the resyncs)."""
    resources = []
    for account in (SLOW, FAST):
        clients = memo.clients.for_region(REGION, role(account))
        for index in range(PER_ACCOUNT):
            name = f"iso-{account[:1]}-{index}"
            desired = aws.desired({"repositoryName": name, "encryption": {"type": "AES256"}}, name=name)
            reconcile(clients, desired)
            resources.append((account, clients, desired))
    return resources


def _order(memo: Runtime, resources: list[tuple[str, AwsClients, Desired]], in_the_pool: bool) -> list[str]:
    """Resyncs of every resource at once, the slow account's queued first; returns the accounts in the order
    their passes ended. ``in_the_pool``: the view read inside the AWS thread (the design this replaced)."""

    repositories = memo.controller(ECR_REPOSITORY)

    async def resync(uid: str, account: str, clients: AwsClients, desired: Desired, ended: list[str]) -> None:
        if in_the_pool:

            def blocking() -> object:
                view = repositories.views.view(clients, 0.0)
                return repositories.one_pass(uid, clients, desired, NO_ADOPTION, view)

            await memo.run(blocking, kind="resync")
        else:
            view = await repositories.view(uid, clients)
            await memo.run(repositories.one_pass, uid, clients, desired, NO_ADOPTION, view, kind="resync")
        ended.append(account)

    async def all_of_them() -> list[str]:
        ended: list[str] = []
        await asyncio.gather(
            *(resync(f"{account}-{i}", account, c, d, ended) for i, (account, c, d) in enumerate(resources))
        )
        return ended

    return asyncio.run(all_of_them())


def test_a_slow_accounts_view_refresh_holds_no_thread_another_account_needs(aws: PartsHarness, proxy: AwsProxy) -> None:
    memo = Runtime(Settings(region=REGION, cluster_id="isolation", max_workers=2))
    resources = _resources(aws, memo)
    delayed = proxy.add_fault(Fault("delay", "GetResources", times=None, delay_seconds=DELAY, account=SLOW))

    ended = _order(memo, resources, in_the_pool=False)
    assert delayed.injected >= 1, "the slow account's view was refreshed through the delay"
    assert ended == [FAST] * PER_ACCOUNT + [SLOW] * PER_ACCOUNT
    # One refresh per (account, region), shared by its passes.
    refreshes = [c for c in proxy.calls() if c.operation == "GetResources" and c.injected == "delay"]
    assert len(refreshes) == 1


def test_the_check_fails_when_the_view_is_read_inside_the_pool(aws: PartsHarness, proxy: AwsProxy) -> None:
    """The same scenario with the refresh (and the wait for it) in the AWS threads: the fast account waits."""
    memo = Runtime(Settings(region=REGION, cluster_id="isolation", max_workers=2))
    resources = _resources(aws, memo)
    proxy.add_fault(Fault("delay", "GetResources", times=None, delay_seconds=DELAY, account=SLOW))

    ended = _order(memo, resources, in_the_pool=True)
    assert ended[0] == SLOW
