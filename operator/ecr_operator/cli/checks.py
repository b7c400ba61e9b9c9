"""Checks of `ecr-operator run`'s settings that a flag's type cannot make alone (the types are in flags.py): a bad
value is exit 2 with one line naming the flag, before anything starts (not a tag AWS refuses at the first create,
not a login loop)."""

from __future__ import annotations

import re
from typing import Any

from ecr_operator.repository.validate import MAX_TAG_VALUE

MAX_CLUSTER_ID = MAX_TAG_VALUE
"""The cluster id is the value of the ownership tag ecr.platform.dev/cluster."""
ROLE_SESSION_PREFIX = "ecr-operator-"
"""``core.aws.ClientFactory`` names its AssumeRole sessions ``ecr-operator-<cluster id>``."""
MAX_ROLE_SESSION_NAME = 64
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]*$", re.UNICODE)
_ROLE_SESSION = re.compile(r"^[\w+=,.@-]*$", re.ASCII)


def cluster_id_value(text: str) -> str:
    """The value of the ownership tag ``ecr.platform.dev/cluster`` on everything the operator creates (a flag's
    type: raises ValueError)."""
    if not text or len(text) > MAX_CLUSTER_ID or not _TAG_VALUE.match(text):
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
