"""IAM role ARNs that ECR assumes (``customRoleArn``): "This role must be in the same account as the registry"."""

from __future__ import annotations

import re

_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(?P<account>[0-9]{12}):role/[\w+=,.@/-]{1,512}")


def is_own_role(arn: str, account: str) -> bool:
    """Whether ``arn`` names an IAM role in ``account``."""
    match = _ROLE_ARN.fullmatch(arn)
    return match is not None and match["account"] == account
