"""boto3 clients, one set per (account role, region), reused: clients are thread-safe and costly to create.

Credentials, endpoint (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_ECR``...) and profile come from the
standard AWS chain, so the same code talks to AWS or to an emulator. A Namespace mapped to another account
(``ecr.platform.dev/aws-role-arn``) gets clients whose credentials come from ``sts:AssumeRole`` with the
operator's own identity: botocore's ``AssumeRoleCredentialFetcher`` behind ``DeferredRefreshableCredentials``
(assumed on first use, cached, refreshed before they expire), one set of credentials per role.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import boto3
import botocore.handlers
import botocore.hooks
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, CredentialProvider, DeferredRefreshableCredentials

from ecr_operator.core import metrics
from ecr_operator.core.errors import OperatorError, RoleNotAssumable, to_operator_error
from ecr_operator.core.ratelimit import RateLimiter
from ecr_operator.core.regions import RegionPolicy, shared_loader
from ecr_operator.core.settings import DEFAULT_CLIENT_CACHE_SIZE, Settings
from ecr_operator.core.shared_models import SharedModels

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/[\w+=,.@/-]{1,512}$")

_RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=32,
)

# With the client-side limiter, throttling is handled per (account, region, operation) by its buckets; botocore's
# adaptive mode would also slow every operation of the client after one operation's throttle.
_LIMITED_RETRY_CONFIG = _RETRY_CONFIG.merge(Config(retries={"mode": "standard", "max_attempts": 8}))


# The readiness probe's one call: an answer within seconds or a failure, no retries (the next check retries).
_PROBE_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=3, read_timeout=5)


# Creates that are not idempotent. botocore retries any call after a connection error, also when AWS did the work
# and only the answer was lost: a second key (an orphan), or AlreadyExists -- for a registry's rule or template also
# taken for a refusal, so the item would lose its createdByOperator claim. Fail such a call instead; the
# reconciler's retry observes first and finds what the lost call made (by alias, tags, or prefix). Likewise a rule's
# or template's delete, which sent again is told the item does not exist (an AwsError, Stalled until a resync).
_NOT_IDEMPOTENT = {
    "kms": ("CreateKey", "CreateAlias"),
    "ecr": (
        "CreateRepository",
        "CreatePullThroughCacheRule",
        "CreateRepositoryCreationTemplate",
        "DeletePullThroughCacheRule",
        "DeleteRepositoryCreationTemplate",
    ),
}


def _no_retry_after_connection_error(caught_exception: BaseException | None = None, **_: Any) -> None:
    if caught_exception is not None:
        raise caught_exception


def _client(
    session: botocore.session.Session,
    service: str,
    region: str,
    config: Config = _RETRY_CONFIG,
    limiter: RateLimiter | None = None,
    account: str = "",
) -> Any:
    if limiter is not None and config is _RETRY_CONFIG:
        config = _LIMITED_RETRY_CONFIG
    client = session.create_client(service, region_name=region, config=config)
    for operation in _NOT_IDEMPOTENT.get(service, ()):
        client.meta.events.register_first(f"needs-retry.{service}.{operation}", _no_retry_after_connection_error)
    metrics.instrument(client)
    if limiter is not None:
        limiter.instrument(client, account)
    return client


ROLE_SESSIONS_PER_CLIENT_SET = 8
"""Role sessions kept per client set the cache holds: a session is ~40 KiB and holds the role's credentials, so
client sets can come and go without an AssumeRole each time."""

SERVICE_IDS = frozenset({"ecr", "kms", "resource-groups-tagging-api", "sts"})
"""The services the operator calls, as botocore names them in its event names."""


def operator_handlers() -> botocore.hooks.HierarchicalEmitter:
    """botocore's built-in event handlers that can fire for the operator's services: those of every other service
    (``before-call.s3...``) and of the docs are left out. Each client copies its session's handlers: with all of
    them a (role, region) set of used clients holds ~0.9 MiB, with these ~0.6 MiB. Shared by the factory's
    sessions (a session only reads them; nothing registers on a session)."""
    handlers = botocore.hooks.HierarchicalEmitter()
    for spec in botocore.handlers.BUILTIN_HANDLERS:
        event, handler = spec[0], spec[1]
        scope = event.split(".")
        if scope[0] == "docs" or (len(scope) > 1 and scope[1] != "*" and scope[1] not in SERVICE_IDS):
            continue
        if len(spec) == 2:
            handlers.register(event, handler)
        elif spec[2] is botocore.handlers.REGISTER_FIRST:
            handlers.register_first(event, handler)
        else:
            handlers.register_last(event, handler)
    return handlers


def account_of(role_arn: str) -> str:
    """The 12-digit account of an IAM role ARN; ValueError if it is not one."""
    found = ROLE_ARN.match(role_arn)
    if found is None:
        raise ValueError(f"{role_arn!r} is not an IAM role ARN (arn:<partition>:iam::<12 digits>:role/<name>)")
    return found.group("account")


class _AssumedRole(CredentialProvider):  # type: ignore[misc]
    """Puts the role's refreshable credentials first in a botocore session's credential chain."""

    METHOD = "ecr-operator-assume-role"
    CANONICAL_NAME = None

    def __init__(self, credentials: DeferredRefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> DeferredRefreshableCredentials:
        return self._credentials


class AwsClients:
    """The clients of one (role, region), each made on first use: most (role, region)s never need STS (only the
    readiness probe calls it, with the operator's own identity), and a client costs ~90 KiB (its
    service model, class and exceptions shared: :mod:`ecr_operator.core.shared_models`).

    A set evicted from the factory's cache stays usable by the passes still holding it (its session, credentials
    and rate-limit buckets live on: buckets belong to the limiter, per account and region, not to a client).
    """

    def __init__(self, region: str, make: Callable[[str], Any], role_arn: str | None = None) -> None:
        self.region = region
        self.role_arn = role_arn
        """The role these clients assumed (a mapped Namespace's account), or None for the operator's own identity."""
        self._make = make
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _get(self, service: str) -> Any:
        with self._lock:
            client = self._made.get(service)
            if client is None:
                client = self._made[service] = self._make(service)
            return client

    @property
    def ecr(self) -> Any:
        return self._get("ecr")

    @property
    def kms(self) -> Any:
        return self._get("kms")

    @property
    def tagging(self) -> Any:
        """Resource Groups Tagging API: finds resources by tag in one call."""
        return self._get("resourcegroupstaggingapi")

    @property
    def sts(self) -> Any:
        """Only GetCallerIdentity, for the readiness probe (every identity may call it); one attempt, short timeouts."""
        return self._get("sts")

    @property
    def made(self) -> tuple[str, ...]:
        """The services whose client exists already."""
        with self._lock:
            return tuple(self._made)

    @property
    def target(self) -> tuple[str, str]:
        """(role or "" for the operator's own identity, region): what batched views and rate limits are per."""
        return (self.role_arn or "", self.region)


class ClientFactory:
    """Clients per (role, region): the operator's own identity (role None), or a role it assumes.

    Memory is bounded whatever tenants do: every session shares one botocore loader (service models and endpoint
    data are loaded once, not once per role: the process's shared one, or ``session``'s), and only the event
    handlers of the operator's services (:func:`operator_handlers`); at most ``max_cached`` (role, region) client
    sets and eight times as many role sessions are kept, the least recently used going first; and a region must pass
    ``regions`` (known to botocore for ECR and KMS, and allowed) before anything is built for it.

    ``session_name`` names the operator's sessions in the target accounts' CloudTrail
    (``ecr-operator-<cluster-id>``); ``external_id`` is sent with every AssumeRole when set; ``sts_region`` is
    where AssumeRole is called (the regional STS endpoint). ``limiter`` spreads requests within AWS's quotas.
    """

    def __init__(
        self,
        session: boto3.session.Session | None = None,
        *,
        limiter: RateLimiter | None = None,
        session_name: str = "ecr-operator",
        external_id: str | None = None,
        sts_region: str | None = None,
        regions: RegionPolicy | None = None,
        max_cached: int = DEFAULT_CLIENT_CACHE_SIZE,
    ) -> None:
        if max_cached < 1:
            raise ValueError("max_cached must be at least 1")
        self._handlers = operator_handlers()
        self._shared = SharedModels()
        if session is not None:
            self._base: botocore.session.Session = session._session
        else:
            self._base = self._new_session(shared_loader())
        self._limiter = limiter
        self._session_name = session_name[:64]
        self._external_id = external_id or None
        self._sts_region = sts_region
        self._regions = regions or RegionPolicy()
        self._max_cached = max_cached
        self._lock = threading.Lock()
        """botocore sessions are not thread-safe: sessions and clients are made under this lock."""
        self._clients: OrderedDict[tuple[str, str], AwsClients] = OrderedDict()
        self._role_sessions: OrderedDict[str, botocore.session.Session] = OrderedDict()
        self._sts: Any = None
        self._own_account: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientFactory:
        return cls(
            limiter=RateLimiter.from_settings(settings.aws_rate_limits, settings.aws_rate_limit_scale),
            session_name=f"ecr-operator-{settings.cluster_id}",
            external_id=settings.assume_role_external_id,
            sts_region=settings.region,
            regions=RegionPolicy.of(settings.allowed_regions),
            max_cached=settings.client_cache_size,
        )

    @property
    def loader(self) -> Any:
        """The one botocore loader (service models, endpoint data) every session of this factory uses."""
        return self._base.get_component("data_loader")

    @property
    def cached(self) -> tuple[tuple[str, str], ...]:
        """The (role or "", region) client sets kept, least recently used first."""
        with self._lock:
            return tuple(self._clients)

    def region_refusal(self, region: str) -> OperatorError | None:
        """Why no client may be built for ``region`` (RegionNotAllowed), or None."""
        return self._regions.refusal(region)

    def for_region(self, region: str, role_arn: str | None = None) -> AwsClients:
        """The clients of (role, region); ``RegionNotAllowed`` (an OperatorError) before anything is built for a
        region that is not known or not allowed."""
        self._regions.check(region)
        key = (role_arn or "", region)
        with self._lock:
            clients = self._clients.get(key)
            if clients is not None:
                self._clients.move_to_end(key)
                return clients
            session = self._base if role_arn is None else self._role_session(role_arn)
            account = "" if role_arn is None else account_of(role_arn)
            clients = AwsClients(region, functools.partial(self._make, session, region, account), role_arn)
            self._clients[key] = clients
            while len(self._clients) > self._max_cached:
                self._clients.popitem(last=False)
                metrics.AWS_CLIENT_EVICTIONS.inc()
            metrics.AWS_CLIENT_SETS.set(len(self._clients))
            return clients

    def known_account(self, role_arn: str | None) -> str | None:
        """The account of ``role_arn`` when it is known without asking AWS (a role's ARN names it; the operator's
        own once :meth:`account` has asked STS), else None."""
        return account_of(role_arn) if role_arn is not None else self._own_account

    def account(self, role_arn: str | None) -> str:
        """The account the clients of ``role_arn`` act in: the role ARN's, or for the operator's own identity (None)
        what ``sts:GetCallerIdentity`` answers, asked once per process (OperatorError when STS does not answer)."""
        if role_arn is not None:
            return account_of(role_arn)
        if self._own_account is None:
            region = self._sts_region or self._base.get_config_variable("region") or "us-east-1"
            try:
                identity = self.for_region(region).sts.get_caller_identity()
            except Exception as exc:
                raise to_operator_error(exc, "sts:GetCallerIdentity (the operator's own account)") from exc
            self._own_account = str(identity["Account"])
        return self._own_account

    def session_of(self, role_arn: str | None) -> botocore.session.Session:
        """The botocore session clients of ``role_arn`` (None: the operator's own identity) are made from."""
        if role_arn is None:
            return self._base
        with self._lock:
            return self._role_session(role_arn)

    def _new_session(self, loader: Any) -> botocore.session.Session:
        """A botocore session with the operator's handlers and ``loader`` (one for every session: a fresh session
        would load every service model and the endpoint data again, ~11 MiB)."""
        session = botocore.session.Session(event_hooks=self._handlers, include_builtin_handlers=False)
        session.register_component("data_loader", loader)
        return session

    def _make(self, session: botocore.session.Session, region: str, account: str, service: str) -> Any:
        with self._lock, self._shared.sharing():
            if service == "sts":
                return _client(session, service, region, _PROBE_CONFIG)
            return _client(session, service, region, limiter=self._limiter, account=account)

    def _assume_role_client(self, region: str, service: str, **_source_credentials: Any) -> Any:
        """The STS client every role's AssumeRole uses: botocore's fetcher would make a client (~150 KiB) at every
        refresh, with the frozen credentials of the operator's own identity; this one is made once, with that
        identity's (refreshable) credentials themselves."""
        with self._lock, self._shared.sharing():
            if self._sts is None:
                self._sts = self._base.create_client(service, region_name=region)
            return self._sts

    def _role_session(self, role_arn: str) -> botocore.session.Session:
        """One botocore session per role, its credentials from AssumeRole (cached and refreshed by botocore), its
        loader the factory's. Called under the lock. (Not a boto3 session: each of those appends boto3's data
        directory to the loader's search path again.)"""
        session = self._role_sessions.get(role_arn)
        if session is not None:
            self._role_sessions.move_to_end(role_arn)
            return session
        account_of(role_arn)  # a malformed ARN never reaches STS
        base = self._base
        source = base.get_credentials()
        if source is None:
            raise RoleNotAssumable(role_arn, None, "the operator has no AWS credentials of its own to assume it with")
        extra: dict[str, Any] = {"RoleSessionName": self._session_name}
        if self._external_id:
            extra["ExternalId"] = self._external_id
        region = self._sts_region or base.get_config_variable("region")
        fetcher = AssumeRoleCredentialFetcher(
            functools.partial(self._assume_role_client, region),
            source,
            role_arn,
            extra_args=extra,
        )

        def assume() -> dict[str, Any]:
            try:
                return dict(fetcher.fetch_credentials())
            except Exception as exc:
                raise RoleNotAssumable(role_arn, exc) from exc

        role = self._new_session(base.get_component("data_loader"))
        role.get_component("credential_provider").insert_before(
            "env", _AssumedRole(DeferredRefreshableCredentials(assume, "assume-role"))
        )
        self._role_sessions[role_arn] = role
        while len(self._role_sessions) > ROLE_SESSIONS_PER_CLIENT_SET * self._max_cached:
            self._role_sessions.popitem(last=False)
        return role
