"""boto3 clients, one set per region, reused: clients are thread-safe and costly to create.

Credentials, endpoint (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_ECR``...) and profile come from the
standard AWS chain, so the same code talks to AWS or to an emulator.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from . import metrics

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


def _client(session: boto3.session.Session, service: str, region: str, config: Config = _RETRY_CONFIG) -> Any:
    client = session.client(service, region_name=region, config=config)
    for operation in _NOT_IDEMPOTENT.get(service, ()):
        client.meta.events.register_first(f"needs-retry.{service}.{operation}", _no_retry_after_connection_error)
    metrics.instrument(client)
    return client


@dataclass(frozen=True)
class AwsClients:
    region: str
    ecr: Any
    kms: Any
    tagging: Any
    """Resource Groups Tagging API: finds resources by tag in one call."""
    sts: Any
    """Only GetCallerIdentity, for the readiness probe (every identity may call it); one attempt, short timeouts."""


class ClientFactory:
    def __init__(self, session: boto3.session.Session | None = None) -> None:
        self._session = session or boto3.session.Session()
        self._lock = threading.Lock()
        self._clients: dict[str, AwsClients] = {}

    def for_region(self, region: str) -> AwsClients:
        with self._lock:
            clients = self._clients.get(region)
            if clients is None:
                clients = AwsClients(
                    region=region,
                    ecr=_client(self._session, "ecr", region),
                    kms=_client(self._session, "kms", region),
                    tagging=_client(self._session, "resourcegroupstaggingapi", region),
                    sts=_client(self._session, "sts", region, _PROBE_CONFIG),
                )
                self._clients[region] = clients
            return clients
