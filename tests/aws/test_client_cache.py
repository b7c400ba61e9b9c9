"""The bounded client cache against moto's STS (AssumeRole answers with credentials of the role's account): a
(role, region) set dropped from the cache keeps working, in its own account, for the pass that still holds it."""

from __future__ import annotations

from typing import Any

import boto3
from aws_harness import REGION

from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.ratelimit import RateLimiter
from ecr_operator_dev import MotoServer

ROLE_B = "arn:aws:iam::222233334444:role/ecr-operator-team-b"
ROLE_C = "arn:aws:iam::333344445555:role/ecr-operator-team-c"


def _repositories_of(session: boto3.session.Session, role_arn: str) -> list[str]:
    """The repository names in the role's account, read with credentials assumed out of band."""
    credentials = session.client("sts", region_name=REGION).assume_role(RoleArn=role_arn, RoleSessionName="check")
    account = boto3.session.Session(
        aws_access_key_id=credentials["Credentials"]["AccessKeyId"],
        aws_secret_access_key=credentials["Credentials"]["SecretAccessKey"],
        aws_session_token=credentials["Credentials"]["SessionToken"],
        region_name=REGION,
    )
    return sorted(r["repositoryName"] for r in account.client("ecr").describe_repositories()["repositories"])


def test_an_evicted_role_set_keeps_its_accounts_credentials(
    moto_server: MotoServer, aws_session: boto3.session.Session
) -> None:
    moto_server.reset()
    factory = ClientFactory(aws_session, max_cached=1)
    held = factory.for_region(REGION, ROLE_B)
    held.ecr.create_repository(repositoryName="before-eviction")
    factory.for_region(REGION, ROLE_C).ecr.create_repository(repositoryName="team-c")  # evicts B's set and session
    assert factory.cached == ((ROLE_C, REGION),)

    held.ecr.create_repository(repositoryName="after-eviction")  # the pass holding B's set goes on
    held.kms.create_key()  # a client first made after the eviction: B's session and credentials still serve it
    factory.for_region(REGION, ROLE_B).ecr.create_repository(repositoryName="made-anew")

    assert _repositories_of(aws_session, ROLE_B) == ["after-eviction", "before-eviction", "made-anew"]
    assert _repositories_of(aws_session, ROLE_C) == ["team-c"]


class AccountsSeen(RateLimiter):
    """Records the (account, operation) of each ECR request's bucket."""

    def __init__(self) -> None:
        super().__init__({"ecr:*": 1000.0})
        self.seen: list[tuple[str, str]] = []

    def bucket(self, account: str, region: str, prefix: str, operation: str) -> Any:
        if prefix == "ecr":
            self.seen.append((account, operation))
        return super().bucket(account, region, prefix, operation)


def test_roles_sharing_service_models_still_act_as_their_own_accounts_within_their_own_buckets(
    moto_server: MotoServer, aws_session: boto3.session.Session
) -> None:
    moto_server.reset()
    limiter = AccountsSeen()
    factory = ClientFactory(aws_session, limiter=limiter, max_cached=1)
    team_b, team_c = factory.for_region(REGION, ROLE_B), factory.for_region(REGION, ROLE_C)
    assert team_b.ecr.meta.service_model is team_c.ecr.meta.service_model and type(team_b.ecr) is type(team_c.ecr)

    assert team_b.sts.get_caller_identity()["Account"] == "222233334444"
    assert team_c.sts.get_caller_identity()["Account"] == "333344445555"
    assert factory.for_region(REGION).sts.get_caller_identity()["Account"] == "123456789012"
    team_b.ecr.create_repository(repositoryName="team-b")  # B's set was evicted by C's: it still serves B
    team_c.ecr.create_repository(repositoryName="team-c")
    assert _repositories_of(aws_session, ROLE_B) == ["team-b"]
    assert _repositories_of(aws_session, ROLE_C) == ["team-c"]
    assert limiter.seen == [("222233334444", "CreateRepository"), ("333344445555", "CreateRepository")]
