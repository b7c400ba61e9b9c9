"""ECR repository policies, rendered and checked from plain data (pure; no kind's model).

Any kind that writes a repository policy (an EcrRepository, a registry's creation template) renders it here: the
operator's pull statements for accounts, AWS Organizations and organizational units, merged with a user's own
statements; ``policy_problems`` says what ECR or IAM would refuse, each problem naming its field.

Who may pull is the union of what is listed: an account in ``accounts``, *or* any principal of an organization
in ``organizations``, *or* of an organizational unit in ``paths``. Each kind of principal therefore gets its own
statement: conditions inside one statement are ANDed by IAM, so one statement would mean "an account listed
*and* in the organization".
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ecr_operator.core.regions import root_principal

POLICY_VERSION = "2012-10-17"
PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
PULL_STATEMENT_SID = "CrossAccountPull"
"""The accounts' statement (its Sid predates the organizations', so existing policies stay equal)."""
ORGANIZATIONS_STATEMENT_SID = "CrossAccountPullOrganizations"
ORGANIZATIONAL_UNITS_STATEMENT_SID = "CrossAccountPullOrganizationalUnits"
RESERVED_SIDS = (PULL_STATEMENT_SID, ORGANIZATIONS_STATEMENT_SID, ORGANIZATIONAL_UNITS_STATEMENT_SID)
"""Sids of the operator's own statements: a user's statement may not use them."""

MAX_POLICY_LENGTH = 10240
"""ECR's limit on a repository policy's text (botocore's model: RepositoryPolicyText, max 10240)."""

ORGANIZATION_ID_PATTERN = r"^o-[a-z0-9]{10,32}$"
ORGANIZATION_PATH_PATTERN = r"^o-[a-z0-9]{10,32}/r-[0-9a-z]{4,32}/(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}/)*\*?$"
"""An aws:PrincipalOrgPaths value: organization / root / OUs, each ending in '/'; a final '*' takes in the child
OUs as well (the condition is ForAnyValue:StringLike)."""

PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
MANAGEMENT_ACTIONS = (
    "ecr:DescribeRepositories",
    "ecr:ListTagsForResource",
    "ecr:GetLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "ecr:DescribeImages",
    "ecr:DescribeImageScanFindings",
    "ecr:PutImageTagMutability",
    "ecr:PutImageScanningConfiguration",
    "ecr:PutLifecyclePolicy",
    "ecr:DeleteLifecyclePolicy",
    "ecr:SetRepositoryPolicy",
    "ecr:DeleteRepositoryPolicy",
    "ecr:TagResource",
    "ecr:UntagResource",
    "ecr:DeleteRepository",
    "ecr:BatchDeleteImage",
)
"""The repository actions the operator itself calls (deploy/iam-policy.json): an explicit Deny in the repository's
own policy binds the operator's role too, and would lock the operator out of the repository it manages."""
_SID = re.compile(r"^[A-Za-z0-9]*$")
_ACTION = re.compile(r"^(\*|[a-zA-Z0-9-]+:[A-Za-z0-9*?]+)$")


def pull_statements(
    accounts: Iterable[str], organizations: Iterable[str], paths: Iterable[str], region: str
) -> list[dict[str, Any]]:
    """The operator's pull statements: one per kind of principal listed (none when nothing is listed). Account
    principals are root ARNs in the partition of ``region``: IAM refuses a principal of another partition."""
    statements: list[dict[str, Any]] = []
    accounts, organizations, paths = sorted(set(accounts)), sorted(set(organizations)), sorted(set(paths))
    if accounts:
        statements.append(
            {
                "Sid": PULL_STATEMENT_SID,
                "Effect": "Allow",
                "Principal": {"AWS": [root_principal(account, region) for account in accounts]},
                "Action": list(PULL_ACTIONS),
            }
        )
    if organizations:
        statements.append(
            {
                "Sid": ORGANIZATIONS_STATEMENT_SID,
                "Effect": "Allow",
                "Principal": "*",
                "Action": list(PULL_ACTIONS),
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": organizations}},
            }
        )
    if paths:
        statements.append(
            {
                "Sid": ORGANIZATIONAL_UNITS_STATEMENT_SID,
                "Effect": "Allow",
                "Principal": "*",
                "Action": list(PULL_ACTIONS),
                "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": paths}},
            }
        )
    return statements


def repository_policy(
    operator_statements: Sequence[Mapping[str, Any]], user_statements: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The policy document: the operator's statements, then the user's as written; None when there are none."""
    statements = [dict(s) for s in operator_statements] + [dict(s) for s in user_statements]
    if not statements:
        return None
    return {"Version": POLICY_VERSION, "Statement": statements}


def policy_text(document: Any) -> str:
    """The text the operator sends (compact, keys sorted): what ECR's length limit applies to."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def statement_problems(statement: Mapping[str, Any], where: str) -> list[str]:
    """What IAM would refuse in one statement of a resource policy, naming ``where`` (e.g.
    ``spec.repositoryPolicy.statements[0]``). Keys and Effect are also checked at admission; this is the rest."""
    problems: list[str] = []
    sid = statement.get("Sid")
    if sid is not None:
        if not isinstance(sid, str) or not _SID.match(sid):
            problems.append(f"{where}.Sid may hold only letters and digits")
        elif sid in RESERVED_SIDS:
            problems.append(
                f"{where}.Sid {sid!r} is reserved for the operator's own statements ({', '.join(RESERVED_SIDS)})"
            )
    if statement.get("Effect") not in ("Allow", "Deny"):
        problems.append(f"{where}.Effect must be Allow or Deny")
    problems.extend(_exactly_one(statement, "Principal", "NotPrincipal", where))
    for key in ("Principal", "NotPrincipal"):
        if key in statement:
            problems.extend(_principal_problems(statement[key], f"{where}.{key}"))
    problems.extend(_exactly_one(statement, "Action", "NotAction", where))
    for key in ("Action", "NotAction"):
        if key in statement:
            problems.extend(_strings_problems(statement[key], f"{where}.{key}", _ACTION, "'*' or service:Action"))
    for key in ("Resource", "NotResource"):
        if key in statement:
            problems.extend(_strings_problems(statement[key], f"{where}.{key}", None, ""))
    if "Condition" in statement:
        problems.extend(_condition_problems(statement["Condition"], f"{where}.Condition"))
    elif statement.get("Effect") == "Deny" and not problems:
        problems.extend(_lockout_problems(statement, where))
    return problems


def denied_management_actions(statement: Mapping[str, Any]) -> list[str]:
    """The operator's own actions a Deny statement covers (IAM matches actions case-insensitively, with * and ?)."""

    def covers(patterns: Any, action: str) -> bool:
        listed = patterns if isinstance(patterns, list) else [patterns]
        return any(fnmatch.fnmatchcase(action.lower(), str(pattern).lower()) for pattern in listed)

    if "Action" in statement:
        return [action for action in MANAGEMENT_ACTIONS if covers(statement["Action"], action)]
    return [action for action in MANAGEMENT_ACTIONS if not covers(statement.get("NotAction"), action)]


def _lockout_problems(statement: Mapping[str, Any], where: str) -> list[str]:
    """An unconditioned Deny of the operator's own actions would stop it managing (and deleting) the repository.
    A Deny with a Condition (e.g. principals outside the organization) cannot be judged here and is left to IAM."""
    denied = denied_management_actions(statement)
    if not denied or not _binds_every_role(statement):
        return []
    return [
        f"{where} denies {_listed(denied)} without a Condition to principals that include the operator's own role, "
        "which manages this repository; scope the Deny with a Condition, name specific principals, or leave these "
        "actions out"
    ]


def _binds_every_role(statement: Mapping[str, Any]) -> bool:
    """Whether a statement's principals take in roles it does not name: everyone ('*'), all but some (NotPrincipal),
    or a whole account (its ID or root)."""
    if "NotPrincipal" in statement:
        return True
    principal = statement.get("Principal")
    if principal == "*":
        return True
    aws = principal.get("AWS") if isinstance(principal, Mapping) else None
    listed = aws if isinstance(aws, list) else [aws]
    return any(isinstance(item, str) and (item == "*" or item.isdigit() or item.endswith(":root")) for item in listed)


def _exactly_one(statement: Mapping[str, Any], key: str, negated: str, where: str) -> list[str]:
    if (key in statement) == (negated in statement):
        return [f"{where} needs exactly one of {key} or {negated}"]
    return []


def _principal_problems(principal: Any, where: str) -> list[str]:
    if principal == "*":
        return []
    if not isinstance(principal, Mapping) or not principal:
        return [f"{where} must be '*' or an object of {', '.join(PRINCIPAL_TYPES)} principals"]
    problems = []
    for kind, ids in principal.items():
        if kind not in PRINCIPAL_TYPES:
            problems.append(f"{where}.{kind} is not a principal type ({', '.join(PRINCIPAL_TYPES)})")
        else:
            problems.extend(_strings_problems(ids, f"{where}.{kind}", None, ""))
    return problems


def _strings_problems(value: Any, where: str, pattern: re.Pattern[str] | None, shape: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        return [f"{where} must be a non-empty string or a non-empty list of them"]
    if pattern is not None:
        bad = [item for item in items if not pattern.match(item)]
        if bad:
            return [f"{where}: {_listed(bad)} is not {shape}"]
    return []


MAX_VALUES_LISTED = 5
MAX_VALUE_SHOWN = 80


def _listed(values: Sequence[str]) -> str:
    """Bad values for a message: the first few, each cut short, and how many more (a list may hold thousands)."""
    shown = [repr(v if len(v) <= MAX_VALUE_SHOWN else v[:MAX_VALUE_SHOWN] + "...") for v in values[:MAX_VALUES_LISTED]]
    more = len(values) - MAX_VALUES_LISTED
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _condition_problems(condition: Any, where: str) -> list[str]:
    if not isinstance(condition, Mapping) or not condition:
        return [f"{where} must be an object of condition operators"]
    problems = []
    for operator, clauses in condition.items():
        if not isinstance(clauses, Mapping) or not clauses:
            problems.append(f"{where}.{operator} must be an object of condition keys and values")
            continue
        for key, values in clauses.items():
            items = values if isinstance(values, list) else [values]
            if not items or not all(isinstance(item, (str, bool, int, float)) for item in items):
                problems.append(f"{where}.{operator}.{key} must be a value or a non-empty list of values")
    return problems


def policy_problems(document: Mapping[str, Any] | None, field: str) -> list[str]:
    """ECR's limit on the merged policy's length, naming ``field`` (where the user's statements are)."""
    if document is None:
        return []
    length = len(policy_text(document))
    if length > MAX_POLICY_LENGTH:
        return [
            f"{field}: the repository policy would be {length} characters with the operator's own statements; "
            f"ECR allows {MAX_POLICY_LENGTH}"
        ]
    return []


def exclusion_filters(filters: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """ECR's imageTagMutabilityExclusionFilters from (filterType, filter) pairs: a set, so repeats are dropped and
    the order is fixed (sorted), and two equal sets render equal."""
    return [{"filterType": kind, "filter": value} for kind, value in sorted(set(filters))]


def exclusion_filter_set(filters: Iterable[Mapping[str, Any]] | None) -> frozenset[tuple[str, str]]:
    """What ECR reports (or is sent) as a set of (filterType, filter), for comparison."""
    return frozenset(
        (str(item.get("filterType", "")), str(item.get("filter", "")))
        for item in filters or ()
        if isinstance(item, Mapping)
    )
