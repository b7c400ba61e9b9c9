"""Fixtures for tests of the reconciler and its parts against moto's server mode, reached over HTTP.

One moto server per test session; every test starts from an empty AWS (``reset``). The helpers they hand out
live in ``aws_harness.py`` (a uniquely named module: ``from conftest import`` resolves to whichever conftest
pytest imported first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_harness import REGION, PartsHarness
from botocore.config import Config

from ecr_operator.core.aws import ClientFactory
from ecr_operator_dev import MotoServer


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def aws_session(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[boto3.session.Session]:
    """The standard AWS environment pointing at moto (no real credentials or config), and one boto3 session.

    Sharing the session keeps its loaded service models, so each test's fresh clients are cheap to create.
    """
    empty = tmp_path_factory.mktemp("no-aws-config")
    with pytest.MonkeyPatch.context() as env:
        for var in (
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL_ECR",
            "AWS_ENDPOINT_URL_KMS",
            "AWS_ENDPOINT_URL_STS",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        ):
            env.delenv(var, raising=False)
        env.setenv("AWS_CONFIG_FILE", str(empty / "config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
        env.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_REGION", REGION)
        env.setenv("AWS_DEFAULT_REGION", REGION)
        yield boto3.session.Session()


@pytest.fixture
def session(moto_server: MotoServer, aws_session: boto3.session.Session) -> boto3.session.Session:
    moto_server.reset()
    return aws_session


@pytest.fixture
def ecr(session: boto3.session.Session) -> Any:
    return session.client("ecr")


@pytest.fixture
def unchecked_ecr(session: boto3.session.Session) -> Any:
    """A client that sends what botocore would refuse (missing members, too short values): the server's checks."""
    return session.client("ecr", config=Config(parameter_validation=False))


@pytest.fixture
def aws(moto_server: MotoServer, aws_session: boto3.session.Session) -> PartsHarness:
    """An empty moto, the operator's clients from ClientFactory (recorded) and out-of-band clients."""
    moto_server.reset()
    clients = ClientFactory(aws_session).for_region(REGION)
    assert clients.ecr.meta.endpoint_url == moto_server.endpoint_url, "the operator's clients must reach moto"
    assert clients.kms.meta.endpoint_url == moto_server.endpoint_url
    return PartsHarness(clients, aws_session)
