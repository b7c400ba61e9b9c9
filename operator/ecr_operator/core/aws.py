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
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, CredentialProvider, DeferredRefreshableCredentials

from ecr_operator.core import metrics
from ecr_operator.core.errors import RoleNotAssumable, to_operator_error
from ecr_operator.core.ratelimit import RateLimiter
from ecr_operator.core.settings import Settings

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/[\w+=,.@/-]{1,512}$")

_RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=32,
)


# The readiness probe's one call: an answer within seconds or a failure, no retries (the next check retries).
_PROBE_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=3, read_timeout=5)


# Creates that are not idempotent. botocore retries any call after a connection error, also when AWS did the work
# and only the answer was lost: a second key (an orphan), or AlreadyExists reported as a permanent error. Fail
# such a call instead; the reconciler's retry observes first and finds what the lost call made (by alias or tags).
_NOT_IDEMPOTENT = {"kms": ("CreateKey", "CreateAlias"), "ecr": ("CreateRepository",)}


def _no_retry_after_connection_error(caught_exception: BaseException | None = None, **_: Any) -> None:
    if caught_exception is not None:
        raise caught_exception


def _client(
    session: boto3.session.Session,
    service: str,
    region: str,
    config: Config = _RETRY_CONFIG,
    limiter: RateLimiter | None = None,
    account: str = "",
) -> Any:
    client = session.client(service, region_name=region, config=config)
    for operation in _NOT_IDEMPOTENT.get(service, ()):
        client.meta.events.register_first(f"needs-retry.{service}.{operation}", _no_retry_after_connection_error)
    metrics.instrument(client)
    if limiter is not None:
        limiter.instrument(client, account)
    return client


def account_of(role_arn: str) -> str:
    """The 12-digit account of an IAM role ARN; ValueError if it is not one."""
    found = ROLE_ARN.match(role_arn)
    if found is None:
        raise ValueError(f"{role_arn!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)")
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


@dataclass(frozen=True)
class AwsClients:
    region: str
    ecr: Any
    kms: Any
    tagging: Any
    """Resource Groups Tagging API: finds resources by tag in one call."""
    sts: Any
    """Only GetCallerIdentity, for the readiness probe (every identity may call it); one attempt, short timeouts."""
    role_arn: str | None = None
    """The role these clients assumed (a mapped Namespace's account), or None for the operator's own identity."""

    @property
    def target(self) -> tuple[str, str]:
        """(role or "" for the operator's own identity, region): what batched views and rate limits are per."""
        return (self.role_arn or "", self.region)


class ClientFactory:
    """Clients per (role, region): the operator's own identity (role None), or a role it assumes.

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
    ) -> None:
        self._session = session or boto3.session.Session()
        self._limiter = limiter
        self._session_name = session_name[:64]
        self._external_id = external_id or None
        self._sts_region = sts_region
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], AwsClients] = {}
        self._role_sessions: dict[str, boto3.session.Session] = {}
        self._own_account: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientFactory:
        return cls(
            limiter=RateLimiter.from_settings(settings.aws_rate_limits, settings.aws_rate_limit_scale),
            session_name=f"ecr-operator-{settings.cluster_id}",
            external_id=settings.assume_role_external_id,
            sts_region=settings.region,
        )

    def for_region(self, region: str, role_arn: str | None = None) -> AwsClients:
        with self._lock:  # botocore sessions are not thread-safe: clients are made under the lock
            clients = self._clients.get((role_arn or "", region))
            if clients is None:
                session = self._session if role_arn is None else self._role_session(role_arn)
                account = "" if role_arn is None else account_of(role_arn)

                def make(service: str) -> Any:
                    return _client(session, service, region, limiter=self._limiter, account=account)

                clients = AwsClients(
                    region=region,
                    ecr=make("ecr"),
                    kms=make("kms"),
                    tagging=make("resourcegroupstaggingapi"),
                    sts=_client(session, "sts", region, _PROBE_CONFIG),
                    role_arn=role_arn,
                )
                self._clients[(role_arn or "", region)] = clients
            return clients

    def account(self, role_arn: str | None) -> str:
        """The account the clients of ``role_arn`` act in: the role ARN's, or for the operator's own identity (None)
        what ``sts:GetCallerIdentity`` answers, asked once per process (OperatorError when STS does not answer)."""
        if role_arn is not None:
            return account_of(role_arn)
        if self._own_account is None:
            region = self._sts_region or self._session.region_name or "us-east-1"
            try:
                identity = self.for_region(region).sts.get_caller_identity()
            except Exception as exc:
                raise to_operator_error(exc, "sts:GetCallerIdentity (the operator's own account)") from exc
            self._own_account = str(identity["Account"])
        return self._own_account

    def _role_session(self, role_arn: str) -> boto3.session.Session:
        """One botocore session per role, its credentials from AssumeRole (cached and refreshed by botocore)."""
        session = self._role_sessions.get(role_arn)
        if session is not None:
            return session
        account_of(role_arn)  # a malformed ARN never reaches STS
        base: botocore.session.Session = self._session._session
        source = base.get_credentials()
        if source is None:
            raise RoleNotAssumable(role_arn, None, "the operator has no AWS credentials of its own to assume it with")
        extra: dict[str, Any] = {"RoleSessionName": self._session_name}
        if self._external_id:
            extra["ExternalId"] = self._external_id
        region = self._sts_region or self._session.region_name
        fetcher = AssumeRoleCredentialFetcher(
            functools.partial(base.create_client, region_name=region),
            source,
            role_arn,
            extra_args=extra,
        )

        def assume() -> dict[str, Any]:
            try:
                return dict(fetcher.fetch_credentials())
            except Exception as exc:
                raise RoleNotAssumable(role_arn, exc) from exc

        role = botocore.session.Session()
        role.get_component("credential_provider").insert_before(
            "env", _AssumedRole(DeferredRefreshableCredentials(assume, "assume-role"))
        )
        session = boto3.session.Session(botocore_session=role, region_name=region)
        self._role_sessions[role_arn] = session
        return session
