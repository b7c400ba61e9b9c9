"""Checks of `ecr-operator run`'s settings that argparse's types cannot make alone: a bad value is exit 2 with one
line naming the flag, before anything starts (not an OverflowError from the socket, not a tag AWS refuses at the
first create, not a login loop).

Each ``*_value`` function is an argparse converter body: it returns the value or raises ValueError with the reason.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from ecr_operator.repository.validate import MAX_TAG_VALUE

MAX_PORT = 65535
MAX_CLUSTER_ID = MAX_TAG_VALUE
"""The cluster id is the value of the ownership tag ecr.platform.dev/cluster."""
ROLE_SESSION_PREFIX = "ecr-operator-"
"""``core.aws.ClientFactory`` names its AssumeRole sessions ``ecr-operator-<cluster id>``."""
MAX_ROLE_SESSION_NAME = 64
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]*$", re.UNICODE)
_ROLE_SESSION = re.compile(r"^[\w+=,.@-]*$", re.ASCII)
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def port_value(text: str, *, allow_zero: bool) -> int:
    """A TCP port, 1-65535 (0 too when it means "none")."""
    port = int(text)
    if not (0 if allow_zero else 1) <= port <= MAX_PORT:
        raise ValueError(f"{port} is out of range")
    return port


def address_value(text: str) -> str:
    """An IP address or a host name to listen on."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if not _HOSTNAME.match(text):
            raise ValueError(text) from None
    return text


def region_value(text: str) -> str:
    """An AWS region's name (``eu-west-1``, ``us-gov-west-1``, ``cn-north-1``): its shape, not whether it exists."""
    if not _REGION.match(text):
        raise ValueError(text)
    return text


def cluster_id_value(text: str) -> str:
    """The value of the ownership tag ``ecr.platform.dev/cluster`` on everything the operator creates."""
    if not text or len(text) > MAX_CLUSTER_ID or not _TAG_VALUE.match(text):
        raise ValueError(text)
    return text


def liveness_value(text: str) -> str:
    """kopf's liveness endpoint: http://HOST:PORT/PATH."""
    parts = urlsplit(text)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(text)
    if parts.port is not None and not 1 <= parts.port <= MAX_PORT:  # urlsplit refuses > 65535 itself
        raise ValueError(text)
    return text


def cluster_id_problem(cluster_id: str, account_mapping: str) -> str | None:
    """With account mapping, the cluster id is also part of every AssumeRole session name, whose rules are
    narrower than a tag value's (IAM: 2-64 characters of letters, digits and ``+=,.@_-``)."""
    if account_mapping == "disabled":
        return None
    longest = MAX_ROLE_SESSION_NAME - len(ROLE_SESSION_PREFIX)
    if len(cluster_id) > longest or not _ROLE_SESSION.match(cluster_id):
        return (
            f"{cluster_id[:40]!r}{'...' if len(cluster_id) > 40 else ''}: with --account-mapping {account_mapping}"
            f" it names the AssumeRole sessions ({ROLE_SESSION_PREFIX}<cluster id>), so at most {longest}"
            " characters of letters, digits and + = , . @ _ -"
        )
    return None


def login_problem() -> str | None:
    """Why the operator could not log in to the API server (no service account, no usable kubeconfig), or None.

    The same login the operator uses (``runtime.handlers.login``), tried once before kopf starts: kopf would
    otherwise log LoginError and retry for ever.
    """
    import kopf

    from ecr_operator.runtime.handlers import login

    try:
        connection: Any = login(settings=kopf.OperatorSettings(), logger=None)
    except Exception as exc:  # a kubeconfig that is missing, unreadable or without the current context
        return f"cannot read the kubeconfig ({type(exc).__name__}: {exc})"
    if connection is None:
        return (
            "no Kubernetes credentials: not in a pod with a service account token, and no kubeconfig"
            " (KUBECONFIG is unset and ~/.kube/config does not exist)"
        )
    return None
