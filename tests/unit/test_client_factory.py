"""ClientFactory's memory bound: one botocore loader for every role's session, a bounded (role, region) cache that
drops the least recently used set without breaking the passes still holding it, and nothing built for a region
that is refused. No AWS: clients are made offline and a request is answered before it leaves the process."""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from typing import Any

import boto3
import botocore.errorfactory
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse

from ecr_operator.core.aws import ROLE_SESSIONS_PER_CLIENT_SET, AwsClients, ClientFactory, operator_handlers
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.ratelimit import AdaptiveBucket, RateLimiter
from ecr_operator.core.reasons import Reason
from ecr_operator.core.regions import RegionPolicy, shared_loader

ROLE_B = "arn:aws:iam::222233334444:role/ecr-operator-team-b"
ROLE_C = "arn:aws:iam::333344445555:role/ecr-operator-team-c"


@pytest.fixture(autouse=True)
def _offline_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: requests are answered in-process


class CountingSession(botocore.session.Session):  # type: ignore[misc]
    """Counts the clients made from it."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[tuple[str, str]] = []

    def create_client(self, service: str, region_name: str, **kwargs: Any) -> Any:
        self.made.append((service, region_name))
        return super().create_client(service, region_name=region_name, **kwargs)

    def boto3(self) -> boto3.session.Session:
        return boto3.session.Session(botocore_session=self, region_name="eu-west-1")


def test_every_roles_session_shares_the_operators_one_loader() -> None:
    factory = ClientFactory(boto3.session.Session(region_name="eu-west-1"))
    own = factory.session_of(None).get_component("data_loader")
    team_b = factory.session_of(ROLE_B).get_component("data_loader")
    team_c = factory.session_of(ROLE_C).get_component("data_loader")
    assert team_b is own and team_c is own and factory.loader is own
    # and so the service model a role's client uses is the one already loaded, not a copy
    factory.for_region("eu-west-1", ROLE_B).ecr  # noqa: B018
    factory.for_region("eu-west-1").ecr  # noqa: B018
    assert own.load_service_model("ecr", "service-2") is team_c.load_service_model("ecr", "service-2")


def test_role_sessions_made_and_dropped_leave_the_shared_loader_as_it_was() -> None:
    factory = ClientFactory(max_cached=2)  # the operator's own: the process's shared loader
    assert factory.loader is shared_loader()
    search_paths = list(factory.loader.search_paths)
    for account in range(10):
        factory.for_region("eu-west-1", f"arn:aws:iam::{100000000000 + account}:role/x").ecr  # noqa: B018
    assert factory.loader.search_paths == search_paths
    assert factory.session_of(ROLE_B).get_component("data_loader") is shared_loader()


def test_a_refused_region_builds_nothing() -> None:
    session = CountingSession()
    factory = ClientFactory(session.boto3(), regions=RegionPolicy.of(["eu-west-1"]))
    for region, role in (("aa-fake-1", None), ("aa-fake-1", ROLE_B), ("us-east-1", ROLE_B)):
        with pytest.raises(OperatorError) as caught:
            factory.for_region(region, role)
        assert caught.value.reason == Reason.REGION_NOT_ALLOWED and region in caught.value.message
    assert session.made == []
    assert factory.cached == ()


def test_clients_are_made_on_first_use_only() -> None:
    session = CountingSession()
    clients = ClientFactory(session.boto3()).for_region("eu-west-1")
    assert session.made == [] and clients.made == ()
    assert clients.ecr is clients.ecr
    assert session.made == [("ecr", "eu-west-1")] and clients.made == ("ecr",)


def test_the_cache_keeps_at_most_its_size_dropping_the_least_recently_used() -> None:
    factory = ClientFactory(CountingSession().boto3(), max_cached=2)
    first = factory.for_region("eu-west-1")
    second = factory.for_region("eu-west-1", ROLE_B)
    assert factory.for_region("eu-west-1") is first  # used again: now the most recent
    factory.for_region("us-east-1", ROLE_C)
    assert factory.cached == (("", "eu-west-1"), (ROLE_C, "us-east-1"))
    assert factory.for_region("eu-west-1") is first
    assert factory.for_region("eu-west-1", ROLE_B) is not second, "evicted: made anew"
    assert len(factory.cached) == 2


def test_role_sessions_are_bounded_too() -> None:
    factory = ClientFactory(CountingSession().boto3(), max_cached=1)
    team_b = factory.session_of(ROLE_B)
    assert factory.session_of(ROLE_B) is team_b
    for account in range(ROLE_SESSIONS_PER_CLIENT_SET):
        factory.session_of(f"arn:aws:iam::{100000000000 + account}:role/x")
    assert factory.session_of(ROLE_B) is not team_b


def test_sessions_carry_only_the_event_handlers_of_the_operators_services(monkeypatch: pytest.MonkeyPatch) -> None:
    fired: list[str] = []

    def handler(name: str) -> Any:
        return lambda **_: fired.append(name)

    builtin = [
        ("before-call.ecr", handler("ecr")),
        ("choose-signer.sts.AssumeRoleWithWebIdentity", handler("sts"), botocore.handlers.REGISTER_FIRST),
        ("before-parameter-build.resource-groups-tagging-api", handler("tagging"), botocore.handlers.REGISTER_LAST),
        ("before-call", handler("every service")),
        ("before-call.*.*", handler("any service")),
        ("before-call.s3.PutObject", handler("s3")),
        ("docs.*.kms.*.complete-section", handler("docs")),
    ]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", builtin)
    handlers = operator_handlers()

    def firing(event: str) -> set[str]:
        fired.clear()
        handlers.emit(event)
        return set(fired)

    assert firing("before-call.ecr.CreateRepository") == {"ecr", "every service", "any service"}
    assert firing("choose-signer.sts.AssumeRoleWithWebIdentity") == {"sts"}
    assert firing("before-parameter-build.resource-groups-tagging-api.GetResources") == {"tagging"}
    assert firing("before-call.s3.PutObject") == {"every service", "any service"}, "S3's own is left out"
    assert firing("docs.method.kms.CreateKey.complete-section") == set(), "docs are left out"


class RecordingLimiter(RateLimiter):
    """Records the bucket each request took."""

    def __init__(self) -> None:
        super().__init__({"ecr:*": 1000.0})
        self.taken: list[AdaptiveBucket] = []

    def bucket(self, account: str, region: str, prefix: str, operation: str) -> AdaptiveBucket | None:
        bucket = super().bucket(account, region, prefix, operation)
        assert bucket is not None
        self.taken.append(bucket)
        return bucket


def _answer_in_process(clients: AwsClients) -> None:
    """Requests of ``clients.ecr`` are answered just after the limiter's before-send hook, never sent."""

    def answer(**_: Any) -> AWSResponse:
        return AWSResponse("http://127.0.0.1:9", 200, {}, _Raw(b'{"repositories": []}'))

    clients.ecr.meta.events.register_last("before-send.ecr", answer)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def test_an_evicted_set_still_serves_the_pass_holding_it_within_the_same_rate_limit() -> None:
    limiter = RecordingLimiter()
    factory = ClientFactory(CountingSession().boto3(), limiter=limiter, max_cached=1)
    held = factory.for_region("eu-west-1")  # a pass holds it...
    factory.for_region("us-east-1")  # ...while another (role, region) evicts it
    assert ("", "eu-west-1") not in factory.cached
    _answer_in_process(held)  # its first client is made after the eviction
    assert held.ecr.describe_repositories()["repositories"] == []
    fresh = factory.for_region("eu-west-1")
    assert fresh is not held
    _answer_in_process(fresh)
    fresh.ecr.describe_repositories()
    assert len(limiter.taken) == 2 and limiter.taken[0] is limiter.taken[1], "one bucket per account and region"


def test_every_role_and_region_shares_one_service_model_client_class_and_exceptions_per_service() -> None:
    factory = ClientFactory(CountingSession().boto3())
    regions = ("eu-west-1", "us-east-1")
    ecr = [factory.for_region(region, role).ecr for role in (None, ROLE_B, ROLE_C) for region in regions]
    kms = factory.for_region("eu-west-1", ROLE_B).kms
    assert len({id(client) for client in ecr}) == 6, "still a client per (role, region)"
    assert len({id(client.meta.service_model) for client in ecr}) == 1
    assert len({type(client) for client in ecr}) == 1
    assert len({id(client.exceptions) for client in ecr}) == 1
    assert kms.meta.service_model is not ecr[0].meta.service_model and type(kms) is not type(ecr[0])
    assert {client.meta.region_name for client in ecr} == {"eu-west-1", "us-east-1"}
    # what is per client stays per client: a handler on one client's events is not on another's
    assert ecr[0].meta.events is not ecr[2].meta.events


def test_clients_made_outside_a_factory_keep_botocores_own_models() -> None:
    factory = ClientFactory(CountingSession().boto3())
    shared = factory.for_region("eu-west-1", ROLE_B).ecr
    outside = [boto3.session.Session(region_name="eu-west-1").client("ecr") for _ in range(2)]
    assert outside[0].meta.service_model is not outside[1].meta.service_model
    assert shared.meta.service_model not in [client.meta.service_model for client in outside]
    assert type(outside[0]) is not type(shared)


def test_two_factories_do_not_share_models() -> None:
    first = ClientFactory(CountingSession().boto3()).for_region("eu-west-1").ecr
    second = ClientFactory(CountingSession().boto3()).for_region("eu-west-1").ecr
    assert first.meta.service_model is not second.meta.service_model


def test_roles_keep_their_own_credentials() -> None:
    factory = ClientFactory(CountingSession().boto3())
    team_b, team_c = factory.for_region("eu-west-1", ROLE_B).ecr, factory.for_region("eu-west-1", ROLE_C).ecr
    assert team_b.meta.service_model is team_c.meta.service_model
    assert factory.session_of(ROLE_B).get_credentials() is not factory.session_of(ROLE_C).get_credentials()
    assert factory.session_of(ROLE_B).get_credentials() is not factory.session_of(None).get_credentials()


def test_clients_first_raising_an_error_from_many_threads_at_once_still_share_one_set_of_exceptions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """botocore builds a client's exception classes lazily, at its first error answer, in whatever pool thread made
    that call -- outside the factory's lock. Two clients doing so at once must still get the one shared set (else
    ``except one_client.exceptions.X`` misses the other's, and every racing client builds its own set)."""
    factory = ClientFactory(CountingSession().boto3())
    clients = [factory.for_region("eu-west-1", role).ecr for role in (ROLE_B, ROLE_C)]
    both_building = threading.Barrier(2, timeout=5)
    build = botocore.errorfactory.ClientExceptionsFactory._create_client_exceptions

    def slow_build(self: Any, service_model: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):  # a second builder never comes: it was serialized
            both_building.wait()
        return build(self, service_model)

    monkeypatch.setattr(botocore.errorfactory.ClientExceptionsFactory, "_create_client_exceptions", slow_build)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        sets = list(pool.map(lambda client: client.exceptions, clients))
    assert sets[0] is sets[1]
    assert sets[0].RepositoryNotFoundException is sets[1].RepositoryNotFoundException
