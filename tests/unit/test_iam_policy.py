"""deploy/iam-policy.json (and, for --events-queue-url, deploy/aws/iam-events-queue-policy.json) against the source:
every AWS operation the operator can call is allowed, and the policies allow nothing the operator never calls (fast,
no AWS). tests/e2e/test_iam.py proves it on the wire."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore import xform_name

from ecr_operator_dev.awsproxy import READ_PREFIXES

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = REPO_ROOT / "operator" / "ecr_operator"
POLICY = REPO_ROOT / "deploy" / "iam-policy.json"
EVENTS_POLICY = REPO_ROOT / "deploy" / "aws" / "iam-events-queue-policy.json"
"""The events queue consumer's extra permissions (the CloudFormation template and Terraform module grant the same)."""

# AwsClients attribute -> (botocore service name, IAM action prefix)
SERVICES = {
    "ecr": ("ecr", "ecr"),
    "kms": ("kms", "kms"),
    "sts": ("sts", "sts"),
    "tagging": ("resourcegroupstaggingapi", "tag"),
    "sqs": ("sqs", "sqs"),
}
INDIRECT = {
    # Authorised against the operator's identity but sent by ECR itself (kms:ViaService), when it creates a
    # KMS-encrypted repository (grants for ECR on the key) and when it deletes one (retiring them).
    "kms:CreateGrant",
    "kms:RetireGrant",
}
NO_PERMISSION_NEEDED = {
    # Every identity may call it ("No permissions are required to perform this operation"): the readiness probe.
    "sts:GetCallerIdentity",
}
REGISTRY_LEVEL = {
    # EcrRegistry: registry-level actions have no resource type in ECR's service authorization reference
    # (Resource "*"), and a registry carries no tags an IAM condition could name.
    "ecr:DescribeRegistry",
    "ecr:GetRegistryScanningConfiguration",
    "ecr:GetRegistryPolicy",
    "ecr:PutReplicationConfiguration",
    "ecr:PutRegistryScanningConfiguration",
    "ecr:PutRegistryPolicy",
    "ecr:DeleteRegistryPolicy",
    # Pull through cache rules and creation templates are registry-level too (no resource type).
    "ecr:DescribePullThroughCacheRules",
    "ecr:CreatePullThroughCacheRule",
    "ecr:UpdatePullThroughCacheRule",
    "ecr:DeletePullThroughCacheRule",
    "ecr:DescribeRepositoryCreationTemplates",
    "ecr:CreateRepositoryCreationTemplate",
    "ecr:UpdateRepositoryCreationTemplate",
    "ecr:DeleteRepositoryCreationTemplate",
}
ASSUMABLE_ROLES = "arn:aws:iam::*:role/ecr-operator-*"
"""The roles of mapped accounts (Namespace annotation ecr.platform.dev/aws-role-arn) the operator may assume."""
RESOURCE_STAR_ALLOWED = {
    "ecr:DescribeRepositories",  # the batched resync lists every repository of the region
    "kms:CreateKey",  # no key exists yet
    "kms:TagResource",  # tag-on-create: KMS wants a TagResource permission not limited to particular keys
    "tag:GetResources",  # no resource-level permissions
    "kms:ListKeys",  # no resource-level permissions
    *REGISTRY_LEVEL,
}


def _api_names(service: str) -> dict[str, str]:
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


def _string_constants(node: ast.AST) -> Iterator[str]:
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value


def _assigned_strings(function: ast.AST, name: str) -> set[str]:
    """Every string that ``name`` may hold in ``function`` (e.g. ``op = "a" if x else "b"``)."""
    values: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            values.update(_string_constants(node.value))
    return values


def _operation_values(arg: ast.expr, function: ast.AST) -> set[str]:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return {arg.value}
    if isinstance(arg, ast.Name):
        return _assigned_strings(function, arg.id)
    if isinstance(arg, ast.IfExp):
        return set(_string_constants(arg))
    raise AssertionError(f"cannot resolve the operation {ast.dump(arg)}")


def _client_service(node: ast.expr) -> str | None:
    """``clients.kms`` / ``self.clients.ecr`` -> "kms" / "ecr"."""
    if isinstance(node, ast.Attribute) and node.attr in SERVICES:
        return node.attr
    return None


def source_operations() -> set[tuple[str, str]]:
    """(client attribute, boto3 method) for every AWS call in the package: Action(...), read(...),
    get_paginator(...) and direct client method calls."""
    found: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for function in functions or [tree]:
            for node in ast.walk(function):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name == "AssumeRoleCredentialFetcher":
                    # botocore's fetcher calls sts:AssumeRole for a mapped Namespace's credentials (aws.py).
                    found.add(("sts", "assume_role"))
                elif name == "Action" and len(node.args) >= 2:
                    service = node.args[0]
                    if isinstance(service, ast.Attribute) and isinstance(service.value, ast.Name):
                        continue  # Action(self.service, self.operation, ...): a copy of an action found elsewhere
                    assert isinstance(service, ast.Constant), f"{path}: Action with a computed service"
                    found.update((str(service.value), op) for op in _operation_values(node.args[1], function))
                elif name == "read" and len(node.args) >= 3:
                    service = node.args[1]
                    assert isinstance(service, ast.Constant), f"{path}: read with a computed service"
                    found.update((str(service.value), op) for op in _operation_values(node.args[2], function))
                elif isinstance(func, ast.Attribute) and (service_attr := _client_service(func.value)):
                    if func.attr == "get_paginator":
                        found.update((service_attr, op) for op in _operation_values(node.args[0], function))
                    elif not func.attr.startswith(("can_paginate", "get_waiter", "close")):
                        found.add((service_attr, func.attr))
    return found


def iam_action(service_attr: str, method: str) -> str:
    service, prefix = SERVICES[service_attr]
    api_names = _api_names(service)
    assert method in api_names, f"{service_attr}.{method} is not an operation of {service}"
    return f"{prefix}:{api_names[method]}"


def policy_statements(path: Path = POLICY) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(path.read_text())["Statement"]
    return statements


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def policy_actions() -> set[str]:
    statements = policy_statements() + policy_statements(EVENTS_POLICY)
    return {action for s in statements if s["Effect"] == "Allow" for action in _listed(s["Action"])}


def test_the_scanner_finds_the_operators_calls() -> None:
    operations = source_operations()
    # A vacuous scan would make the next tests pass trivially.
    for expected in [
        ("ecr", "create_repository"),
        ("ecr", "describe_repositories"),
        ("ecr", "put_lifecycle_policy"),
        ("kms", "create_key"),
        ("kms", "describe_key"),
        ("kms", "enable_key_rotation"),
        ("kms", "disable_key_rotation"),
        ("sts", "assume_role"),
        ("sqs", "receive_message"),
        ("sqs", "delete_message"),
        ("sqs", "get_queue_attributes"),
    ]:
        assert expected in operations


def test_every_operation_in_the_source_is_allowed() -> None:
    needed = {iam_action(*operation) for operation in source_operations()}
    assert sorted(needed - policy_actions() - NO_PERMISSION_NEEDED) == []
    assert needed >= NO_PERMISSION_NEEDED, "the readiness probe calls sts:GetCallerIdentity"


def test_the_policy_allows_nothing_the_source_never_calls() -> None:
    needed = {iam_action(*operation) for operation in source_operations()} | INDIRECT
    assert sorted(policy_actions() - needed) == []


def test_policy_actions_are_exact_names() -> None:
    for action in policy_actions():
        prefix, name = action.split(":")
        assert "*" not in name, f"{action}: no wildcards in a least-privilege policy"
        service = {p: s for s, p in SERVICES.values()}.get(prefix)
        assert service is not None, action
        assert name in _api_names(service).values(), f"{action} is not an API of {service}"


@pytest.mark.parametrize("statement", policy_statements(), ids=lambda s: str(s.get("Sid")))
def test_statement_scoping(statement: dict[str, Any]) -> None:
    actions = _listed(statement["Action"])
    resources = _listed(statement["Resource"])
    assert statement["Effect"] == "Allow"
    if "*" in resources:
        assert resources == ["*"]
        assert set(actions) <= RESOURCE_STAR_ALLOWED, f"{statement['Sid']}: only these need Resource '*'"
    else:
        for resource in resources:
            assert resource in (
                "arn:aws:ecr:*:*:repository/*",
                "arn:aws:kms:*:*:key/*",
                "arn:aws:kms:*:*:alias/ecr/*",
                ASSUMABLE_ROLES,
            ), resource
    if resources == [ASSUMABLE_ROLES]:
        assert actions == ["sts:AssumeRole"], "only mapped accounts' roles, named ecr-operator-*, may be assumed"
        return
    writes = [a for a in actions if not a.split(":")[1].startswith(READ_PREFIXES) and a not in REGISTRY_LEVEL]
    if writes and resources != ["arn:aws:kms:*:*:alias/ecr/*"]:
        # Every write is bound to this cluster's ownership tag, or (grants) to ECR acting on our behalf.
        condition = json.dumps(statement.get("Condition", {}))
        assert "ecr.platform.dev/cluster" in condition or "kms:ViaService" in condition, statement["Sid"]


def test_the_events_queue_policy_names_the_queue_only() -> None:
    [statement] = policy_statements(EVENTS_POLICY)
    assert statement["Effect"] == "Allow" and statement["Resource"].startswith("arn:aws:sqs:")
    assert "*" not in statement["Resource"].rsplit(":", 1)[-1], "one queue, by name"
    assert {a.split(":")[0] for a in statement["Action"]} == {"sqs"}


def test_the_target_account_trust_policy_admits_only_the_operator_with_the_external_id() -> None:
    trust = json.loads((REPO_ROOT / "deploy" / "iam-target-account-trust.json").read_text())
    statements = {s["Sid"]: s for s in trust["Statement"]}
    assume = statements["EcrOperatorAssumesThisRole"]
    assert assume["Effect"] == "Allow" and assume["Action"] == "sts:AssumeRole"
    principal = assume["Principal"]["AWS"]
    assert principal.startswith("arn:aws:iam::") and ":role/" in principal, "one role, never an account root"
    assert "sts:ExternalId" in assume["Condition"]["StringEquals"]
    # The session name the operator uses (ecr-operator-<cluster-id>) is pinned too.
    assert assume["Condition"]["StringLike"]["sts:RoleSessionName"].startswith("ecr-operator-")
    # EKS Pod Identity's session tags are transitive: AssumeRole from such a session also needs sts:TagSession,
    # for the same principal (alone it grants nothing: the session still needs the external ID).
    tags = statements["EcrOperatorPassesItsPodIdentitySessionTags"]
    assert (tags["Effect"], tags["Action"], tags["Principal"]) == ("Allow", "sts:TagSession", assume["Principal"])
    assert set(statements) == {"EcrOperatorAssumesThisRole", "EcrOperatorPassesItsPodIdentitySessionTags"}
    # The target role's permissions are deploy/iam-policy.json without the statement that assumes other roles.
    assert "AssumeMappedAccountRoles" in {s["Sid"] for s in policy_statements()}


def _service_account() -> tuple[str, str]:
    """The namespace and name of the operator's ServiceAccount in deploy/base."""
    [account] = [
        d
        for d in yaml.safe_load_all((REPO_ROOT / "deploy" / "base" / "rbac.yaml").read_text())
        if d and d["kind"] == "ServiceAccount"
    ]
    return account["metadata"]["namespace"], account["metadata"]["name"]


def test_the_operators_own_role_trusts_its_service_account_by_pod_identity_or_irsa() -> None:
    namespace, name = _service_account()
    [pod_identity] = json.loads((REPO_ROOT / "deploy" / "iam-trust-pod-identity.json").read_text())["Statement"]
    assert pod_identity["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(pod_identity["Action"]) == ["sts:AssumeRole", "sts:TagSession"], "Pod Identity tags its sessions"
    assert pod_identity["Condition"]["StringEquals"] == {
        "aws:RequestTag/kubernetes-namespace": namespace,
        "aws:RequestTag/kubernetes-service-account": name,
    }
    [irsa] = json.loads((REPO_ROOT / "deploy" / "iam-trust-irsa.json").read_text())["Statement"]
    assert irsa["Action"] == "sts:AssumeRoleWithWebIdentity" and ":oidc-provider/" in irsa["Principal"]["Federated"]
    conditions = irsa["Condition"]["StringEquals"]
    assert {k.rsplit(":", 1)[1]: v for k, v in conditions.items()} == {
        "sub": f"system:serviceaccount:{namespace}:{name}",
        "aud": "sts.amazonaws.com",
    }
