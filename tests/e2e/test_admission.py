"""Bad input is refused: by the API server at admission (naming the field), or by the operator before AWS.

The admission corpus runs against a real kube-apiserver with the generated CRD (create with dryRun=All,
updates of immutable fields on real objects). The operator-only checks (AWS tag limits, lifecycle policy
semantics) run against an operator of this module's own: Ready=False with the reason, and nothing in AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import pytest
from admission_corpus import (
    ADMISSION_CORPUS,
    FILTERS_KEY,
    IMMUTABLE_UPDATES,
    KEEP_30,
    KEY_ARN,
    LAMBDA_PULL,
    REGION,
    REGISTRY_CORPUS,
    SCAN_ON_PUSH,
    STATEMENTS,
    TAGS,
    VALID_POLICY,
    Bad,
    BadUpdate,
    base_spec,
    lifecycle_policy,
    lifecycle_rule,
    merged,
    policy_statement,
    registry_base,
    scanning,
)
from support import Aws, Cluster, Operator, Registries, operator_process, private_cluster, unique

from ecr_operator_dev import ControlPlaneBinaries, MotoServer

pytestmark = pytest.mark.e2e

# -- the API server ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(controlplane_binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with private_cluster(controlplane_binaries, tmp_path_factory.mktemp("admission-cp")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def admission_ns(cluster: Cluster) -> str:
    return cluster.namespace("admission")


def refusal(exc: kubernetes.client.ApiException) -> str:
    body = json.loads(exc.body)
    causes = (body.get("details") or {}).get("causes") or []
    return "\n".join([body.get("message", ""), *(f"{c.get('field')}: {c.get('message')}" for c in causes)])


def test_the_valid_base_spec_is_accepted(cluster: Cluster, admission_ns: str) -> None:
    # Without this control every "refused" below could be the fault of the base spec.
    created = cluster.create(admission_ns, "valid", base_spec(), dry_run=True, strict=True)
    assert created["spec"]["repositoryName"] == "team-a/valid-repo"
    policy_spec = merged(base_spec(), {"lifecycle": {"maxImageCount": None, "expireUntaggedAfterDays": None}})
    policy_spec["lifecycle"]["policyText"] = VALID_POLICY
    cluster.create(admission_ns, "valid-policy", policy_spec, dry_run=True, strict=True)
    cluster.create(
        admission_ns, "valid-byok", merged(base_spec(), {"encryption": {"kmsKeyArn": KEY_ARN}}), dry_run=True
    )
    cluster.create(admission_ns, "valid-name-256", merged(base_spec(), {"repositoryName": "a" * 256}), dry_run=True)
    cluster.create(admission_ns, "valid-name-2", merged(base_spec(), {"repositoryName": "ab"}), dry_run=True)
    every_new_field = {
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        FILTERS_KEY: [{"filter": "latest"}, {"filter": "dev-*", "filterType": "WILDCARD"}, {"filter": "a" * 128}],
        "crossAccountPull": {
            "organizationIds": ["o-a1b2c3d4e5", "o-" + "a" * 32],
            "organizationPaths": [
                "o-a1b2c3d4e5/r-ab12/",
                "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/",
                "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/*",
            ],
        },
        "repositoryPolicy": {
            "statements": [
                LAMBDA_PULL,
                {
                    "Effect": "Deny",
                    "NotPrincipal": {"AWS": ["111122223333"]},
                    "NotAction": "ecr:BatchGetImage",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "ecr:BatchGetImage",
                    "Condition": {"StringEquals": {"aws:PrincipalTag/team": "a"}},
                },
            ]
        },
    }
    created = cluster.create(
        admission_ns, "valid-new-fields", merged(base_spec(), every_new_field), dry_run=True, strict=True
    )
    assert created["spec"][FILTERS_KEY][0]["filterType"] == "WILDCARD"  # the default is filled in
    assert created["spec"]["repositoryPolicy"] == every_new_field["repositoryPolicy"]  # nothing pruned
    only_organizations = {"crossAccountPull": {"allowedAccountIds": None, "organizationIds": ["o-a1b2c3d4e5"]}}
    cluster.create(admission_ns, "valid-org-only", merged(base_spec(), only_organizations), dry_run=True)


def test_the_corpus_is_big_enough() -> None:
    assert len(ADMISSION_CORPUS) + len(IMMUTABLE_UPDATES) >= 40
    assert len({bad.id for bad in ADMISSION_CORPUS}) == len(ADMISSION_CORPUS)


@pytest.mark.parametrize("bad", ADMISSION_CORPUS, ids=lambda bad: bad.id)
def test_api_server_refuses(cluster: Cluster, admission_ns: str, bad: Bad) -> None:
    spec = merged(base_spec(), bad.changes)
    with pytest.raises(kubernetes.client.ApiException) as caught:
        cluster.create(admission_ns, unique("bad"), spec, dry_run=True, strict=bad.strict)
    assert caught.value.status in (400, 422), caught.value.body
    message = refusal(caught.value)
    assert bad.field in message, f"the refusal does not name {bad.field}:\n{message}"
    # A CEL rule that fails at runtime (e.g. a missing key) refuses too, but with an error instead of its message.
    assert "evaluating rule" not in message and "no such key" not in message, message


@pytest.mark.parametrize("bad", IMMUTABLE_UPDATES, ids=lambda bad: bad.id)
def test_api_server_refuses_changing_an_immutable_field(cluster: Cluster, admission_ns: str, bad: BadUpdate) -> None:
    name = unique("immutable")
    cluster.create(admission_ns, name, merged(base_spec(), bad.before))
    with pytest.raises(kubernetes.client.ApiException) as caught:
        cluster.patch_spec(admission_ns, name, bad.after)
    assert caught.value.status == 422, caught.value.body
    message = refusal(caught.value)
    assert bad.field in message, f"the refusal does not name {bad.field}:\n{message}"
    assert "immutable" in message
    # A change of a mutable field of the same object goes through (the refusal is about the field).
    cluster.patch_spec(admission_ns, name, {"lifecycle": {"maxImageCount": 31}})


def test_user_tags_leave_room_for_the_ownership_tags(cluster: Cluster, admission_ns: str) -> None:
    """49 user tags plus the 3 the operator adds would pass AWS's 50: refused at admission, saying why."""
    tags = {**TAGS, **{f"extra{i}": "x" for i in range(49 - len(TAGS))}}
    with pytest.raises(kubernetes.client.ApiException) as caught:
        cluster.create(admission_ns, unique("tags-49"), merged(base_spec(), {"tags": tags}), dry_run=True)
    assert caught.value.status == 422, caught.value.body
    message = refusal(caught.value)
    assert "spec.tags" in message, message
    assert "at most 47 tags: AWS allows 50 per repository and KMS key, and the operator adds its 3 ownership tags" in (
        message
    ), message
    # 47 fit (with the 3 ownership tags, exactly AWS's 50).
    at_limit = {**TAGS, **{f"extra{i}": "x" for i in range(47 - len(TAGS))}}
    cluster.create(admission_ns, unique("tags-47"), merged(base_spec(), {"tags": at_limit}), dry_run=True)


# -- the operator ---------------------------------------------------------------------------------------------


def _tags(**extra: Any) -> dict[str, Any]:
    return {**TAGS, **extra}


OPERATOR_CORPUS: list[tuple[str, str, dict[str, Any], str]] = [
    # (id, reason, spec changes, text the message must contain)
    ("tag-key-129", "InvalidSpec", {"tags": _tags(**{"k" * 129: "v"})}, "1-128 characters"),
    ("tag-value-257", "InvalidSpec", {"tags": _tags(note="v" * 257)}, "spec.tags[note] value"),
    ("tag-key-aws-prefix", "InvalidSpec", {"tags": _tags(**{"aws:createdBy": "me"})}, "'aws:'"),
    ("tag-key-aws-prefix-uppercase", "InvalidSpec", {"tags": _tags(**{"AWS:team": "me"})}, "'aws:'"),
    ("tag-key-ownership-prefix", "InvalidSpec", {"tags": _tags(**{"ecr.platform.dev/name": "x"})}, "reserved prefix"),
    ("tag-key-bad-characters", "InvalidSpec", {"tags": _tags(**{"team*": "a"})}, "spec.tags[team*]"),
    ("tag-value-bad-characters", "InvalidSpec", {"tags": _tags(note="a;b")}, "spec.tags[note]"),
    ("tag-value-newline", "InvalidSpec", {"tags": _tags(note="a\nb")}, "spec.tags[note]"),
    ("tag-missing-required", "MissingRequiredTags", {"tags": {k: v for k, v in TAGS.items() if k != "owner"}}, "owner"),
    ("tag-required-blank", "MissingRequiredTags", {"tags": _tags(service="  ")}, "service"),
    (
        "policy-tagged-without-prefixes",
        "InvalidSpec",
        {
            "lifecycle": lifecycle_policy(
                lifecycle_rule(1, {"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 5})
            )
        },
        "tagStatus 'tagged' needs tagPrefixList",
    ),
    (
        "policy-since-pushed-without-unit",
        "InvalidSpec",
        {
            "lifecycle": lifecycle_policy(
                lifecycle_rule(1, {"tagStatus": "untagged", "countType": "sinceImagePushed", "countNumber": 5})
            )
        },
        "countUnit must be 'days'",
    ),
    (
        "policy-count-unit-with-image-count",
        "InvalidSpec",
        {"lifecycle": lifecycle_policy(lifecycle_rule(1, {**KEEP_30, "countUnit": "days"}))},
        "countUnit is not allowed",
    ),
    (
        "policy-unknown-count-type",
        "InvalidSpec",
        {
            "lifecycle": lifecycle_policy(
                lifecycle_rule(1, {"tagStatus": "any", "countType": "imagesOlderThan", "countNumber": 5})
            )
        },
        "countType must be one of",
    ),
    (
        "policy-count-zero",
        "InvalidSpec",
        {"lifecycle": lifecycle_policy(lifecycle_rule(1, {**KEEP_30, "countNumber": 0}))},
        "countNumber must be a positive integer",
    ),
    (
        "policy-action-delete",
        "InvalidSpec",
        {"lifecycle": lifecycle_policy(lifecycle_rule(1, KEEP_30, action="delete"))},
        "action.type must be 'expire'",
    ),
    (
        "policy-duplicate-priority",
        "InvalidSpec",
        {
            "lifecycle": lifecycle_policy(
                lifecycle_rule(
                    1, {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 3}
                ),
                lifecycle_rule(1, KEEP_30),
            )
        },
        "rulePriority values must be unique",
    ),
    (
        "policy-any-not-last",
        "InvalidSpec",
        {
            "lifecycle": lifecycle_policy(
                lifecycle_rule(1, KEEP_30),
                lifecycle_rule(
                    2, {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 3}
                ),
            )
        },
        "must have the highest rulePriority",
    ),
    (
        "policy-rules-empty-but-long",
        "InvalidSpec",
        {"lifecycle": json.dumps({"rules": [], "description": "x" * 100})},
        "non-empty 'rules' list",
    ),
    # extra policy statements: what CEL cannot see (Principal, Action and Condition hold any JSON)
    (
        "statement-no-principal",
        "InvalidSpec",
        {"repositoryPolicy": {"statements": [policy_statement(Principal=None)]}},
        f"{STATEMENTS}[0] needs exactly one of Principal or NotPrincipal",
    ),
    (
        "statement-no-action",
        "InvalidSpec",
        {"repositoryPolicy": {"statements": [policy_statement(Action=None)]}},
        f"{STATEMENTS}[0] needs exactly one of Action or NotAction",
    ),
    (
        "statement-action-without-service",
        "InvalidSpec",
        {"repositoryPolicy": {"statements": [policy_statement(Action="BatchGetImage")]}},
        f"{STATEMENTS}[0].Action: 'BatchGetImage' is not",
    ),
    (
        "statement-policy-too-long",
        "InvalidSpec",
        {
            "repositoryPolicy": {
                "statements": [
                    policy_statement(Sid=f"Pull{i}", Principal={"AWS": [f"arn:aws:iam::{i:012d}:role/{'r' * 60}"]})
                    for i in range(60)
                ]
            }
        },
        f"{STATEMENTS}: the repository policy would be",
    ),
]


@dataclass
class OperatorUnderTest:
    cluster: Cluster
    aws: Aws
    namespace: str
    process: Operator


@pytest.fixture(scope="module")
def checked(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorUnderTest]:
    workdir = tmp_path_factory.mktemp("admission-operator")
    namespace = cluster.namespace("opcheck")
    with MotoServer(workdir / "moto") as moto:
        process = operator_process(
            kubeconfig=cluster.controlplane.kubeconfig,
            aws_env=moto.aws_environment(REGION),
            log_path=workdir / "operator.log",
            cluster_id=unique("admission"),
            region=REGION,
            resync_seconds=5,
            workers=None,
            extra_args=["--namespace", namespace],
        )
        process.start()
        cluster.log_context = process.log_tail
        try:
            yield OperatorUnderTest(cluster, Aws(moto.endpoint_url, REGION), namespace, process)
        finally:
            process.stop()
            cluster.log_context = lambda: ""


def _operator_spec(repository_name: str, changes: dict[str, Any]) -> dict[str, Any]:
    spec = base_spec()
    spec["repositoryName"] = repository_name
    spec["crossAccountPull"] = {"enabled": False}
    if "lifecycle" in changes:
        spec["lifecycle"] = {"policyText": changes["lifecycle"]}
    if "tags" in changes:
        spec["tags"] = changes["tags"]
    if "repositoryPolicy" in changes:
        spec["repositoryPolicy"] = changes["repositoryPolicy"]
    return spec


def test_operator_control_a_valid_spec_converges(checked: OperatorUnderTest) -> None:
    # The same operator and spec builder give Ready=True when nothing is wrong: the refusals below are real.
    name = unique("valid")
    spec = _operator_spec(name, {"lifecycle": VALID_POLICY})
    checked.cluster.create(checked.namespace, name, spec)
    checked.cluster.wait_condition(checked.namespace, name, "True", "Synced")
    assert checked.aws.repository(name) is not None
    checked.cluster.delete(checked.namespace, name)


@pytest.mark.parametrize(("case", "reason", "changes", "text"), OPERATOR_CORPUS, ids=[c[0] for c in OPERATOR_CORPUS])
def test_operator_refuses_before_aws(
    checked: OperatorUnderTest, case: str, reason: str, changes: dict[str, Any], text: str
) -> None:
    name = unique(case)[:60]
    spec = _operator_spec(name, changes)
    # The API server accepts it (these are checks only the operator makes)...
    checked.cluster.create(checked.namespace, name, spec)
    # ... and the operator refuses it with a reason and a message saying what is wrong.
    obj = checked.cluster.wait_condition(checked.namespace, name, "False", reason)
    message = checked.cluster.ready_condition(obj)["message"]
    assert text in message, message
    # kopf posts events from its own queue, after the status patch: wait for it (it must come).
    assert checked.cluster.wait_event(checked.namespace, name, reason, "Warning", timeout=30)
    # Nothing in AWS: no repository, and no KMS key or alias for it.
    assert checked.aws.repository(name) is None
    aliases = checked.aws.kms.list_aliases()["Aliases"]
    assert not [a for a in aliases if a["AliasName"].endswith(name)], aliases
    assert not (obj.get("status") or {}).get("repositoryArn")


def test_a_json_typo_in_a_ready_resource_is_reported_with_its_position(checked: OperatorUnderTest) -> None:
    """A valid raw lifecycle policy converges; patching a typo into it ends Ready=False InvalidSpec (not the old
    Ready=True and a traceback retried for ever), with the JSON position and a Warning event, and AWS keeps the
    last good policy. Fixing the typo converges again."""
    cluster, namespace, name = checked.cluster, checked.namespace, unique("typo")
    cluster.create(namespace, name, _operator_spec(name, {"lifecycle": VALID_POLICY}))
    cluster.wait_condition(namespace, name, "True", "Synced")
    good = checked.aws.lifecycle(name)
    assert good is not None

    typo = VALID_POLICY.replace('"rulePriority": 1,', '"rulePriority": 1', 1)
    assert typo != VALID_POLICY
    line = 1 + typo[: typo.index('"description"')].count("\n")
    generation = cluster.patch_spec(namespace, name, {"lifecycle": {"policyText": typo}})["metadata"]["generation"]
    obj = cluster.wait_condition(namespace, name, "False", "InvalidSpec", generation=generation)
    message = cluster.ready_condition(obj)["message"]
    assert message.startswith(f"spec.lifecycle.policyText: not JSON: Expecting ',' delimiter at line {line} column")
    [warning, *_] = cluster.wait_event(namespace, name, "InvalidSpec", "Warning", timeout=30)
    assert "spec.lifecycle.policyText: not JSON" in warning.message
    assert checked.aws.lifecycle(name) == good
    # Refused as the operator's error, not retried as an exception (kopf logs those with their traceback).
    assert "JSONDecodeError" not in checked.process.log_tail(10**8)

    generation = cluster.patch_spec(namespace, name, {"lifecycle": {"policyText": VALID_POLICY}})["metadata"][
        "generation"
    ]
    cluster.wait_condition(namespace, name, "True", "Synced", generation=generation)
    cluster.delete(namespace, name)
    cluster.wait_gone(namespace, name)


# Names Kubernetes accepts but ECR does not.
@pytest.mark.parametrize("name", ["a", "a--b", "app.v2--beta"], ids=["one-char", "double-dash", "dotted-double-dash"])
def test_api_server_refuses_a_metadata_name_ecr_would_refuse_as_repository_name(
    cluster: Cluster, admission_ns: str, name: str
) -> None:
    """Without spec.repositoryName, metadata.name is the repository name: a root CEL rule checks ECR's rules."""
    spec = merged(base_spec(), {"repositoryName": None})
    with pytest.raises(kubernetes.client.ApiException) as caught:
        cluster.create(admission_ns, name, spec, dry_run=True)
    message = refusal(caught.value)
    assert "metadata.name" in message and "spec.repositoryName" in message, message
    # The same name is fine when spec.repositoryName is set.
    cluster.create(admission_ns, name, base_spec(), dry_run=True)


# -- EcrRegistry (cluster-scoped) ----------------------------------------------------------------------------


def test_the_valid_registry_spec_is_accepted(cluster: Cluster) -> None:
    registries = Registries(cluster.api)
    created = registries.create(unique("valid"), registry_base(), dry_run=True, strict=True)
    assert created["spec"]["deletionPolicy"] == "Delete"
    defaulted = registries.create(unique("empty"), {}, dry_run=True)
    assert defaulted["spec"] == {"deletionPolicy": "Retain"}, "Retain unless Delete is chosen"
    enhanced = scanning(
        "ENHANCED", SCAN_ON_PUSH, {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*"}]}
    )
    registries.create(unique("enhanced"), merged(registry_base(), enhanced), dry_run=True, strict=True)


@pytest.mark.parametrize("bad", REGISTRY_CORPUS, ids=lambda bad: bad.id)
def test_api_server_refuses_a_bad_registry(cluster: Cluster, bad: Bad) -> None:
    with pytest.raises(kubernetes.client.ApiException) as caught:
        Registries(cluster.api).create(
            unique("bad"), merged(registry_base(), bad.changes), dry_run=True, strict=bad.strict
        )
    assert caught.value.status in (400, 422), caught.value.body
    message = refusal(caught.value)
    assert bad.field in message, f"the refusal does not name {bad.field}:\n{message}"
    assert "evaluating rule" not in message and "no such key" not in message, message


def test_api_server_refuses_changing_a_registrys_region(cluster: Cluster) -> None:
    registries, name = Registries(cluster.api), unique("immutable")
    # Observe-only: the operator of this module's other tests may run meanwhile; it must not write the registry.
    registries.create(name, registry_base(), annotations={"ecr.platform.dev/observe-only": "true"})
    with pytest.raises(kubernetes.client.ApiException) as caught:
        registries.patch(name, {"spec": {"region": "eu-west-2"}})
    assert caught.value.status == 422 and "spec.region" in refusal(caught.value), caught.value.body
    registries.patch(name, {"spec": {"deletionPolicy": "Retain"}})  # a mutable field goes through
