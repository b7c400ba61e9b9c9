"""The Secrets Manager secret a pull through cache rule names, looked up in moto's own Secrets Manager.

ECR reads the secret in the rule's own account and Region (AWS's user guide: "The account and Region that the
secret is in must match the account and Region that the pull through cache rule is in"); a secret elsewhere, or
one scheduled for deletion, counts as not found here.
"""

from __future__ import annotations

import json
from typing import Any

from moto.secretsmanager.models import secretsmanager_backends

# The keys AWS's user guide has you store for every upstream registry that needs a secret.
CREDENTIAL_KEYS = ("username", "accessToken")


def find(arn: str, account: str, region: str) -> Any | None:
    """moto's secret for ``arn`` (full or partial ARN) in ``account``/``region``, or None."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[3] != region or parts[4] != account:
        return None
    secret = secretsmanager_backends[account][region].secrets.get(arn)
    if secret is None or secret.is_deleted():
        return None
    return secret


def credential_problem(arn: str, account: str, region: str) -> str | None:
    """Why the secret cannot authenticate to an upstream registry, or None if it has the credentials' shape."""
    secret = find(arn, account, region)
    if secret is None:
        return f"The secret {arn} was not found."
    try:
        value = secretsmanager_backends[account][region].get_secret_value(arn, "", "")  # "": AWSCURRENT
        document = json.loads(value.get("SecretString") or "")
    except Exception:  # moto's errors, no value, not JSON: all leave ECR nothing to log in with
        return f"The secret {arn} has no JSON key/value document."
    if not isinstance(document, dict):
        return f"The secret {arn} has no JSON key/value document."
    missing = [key for key in CREDENTIAL_KEYS if not isinstance(document.get(key), str) or not document[key]]
    if missing:
        return f"The secret {arn} lacks {' and '.join(missing)}."
    return None
