"""The admission corpus: specs the real API server refuses at admission, naming the field (tests/e2e/test_admission.py
proves each against a kube-apiserver with the generated CRDs; tests/unit/test_plan_offline.py has `ecr-operator plan
--offline` agree with it). Pure data: no Kubernetes client, so a unit test can load it."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

TAGS = {
    "owner": "platform-team",
    "cost_center": "engineering",
    "resource_lifecycle": "permanent",
    "data_class": "confidential",
    "service": "container-registry",
}
"""The harness's required tags (support.TAGS re-exports them)."""

REGION = "eu-central-1"
KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/ffffffff-12ab-34cd-56ef-1234567890ab"


def lifecycle_policy(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)}, indent=2)


def lifecycle_rule(priority: int, selection: dict[str, Any], action: str = "expire") -> dict[str, Any]:
    return {"rulePriority": priority, "description": "rule", "selection": selection, "action": {"type": action}}


KEEP_30 = {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30}
VALID_POLICY = lifecycle_policy(lifecycle_rule(1, KEEP_30))
assert len(VALID_POLICY) >= 100


def base_spec() -> dict[str, Any]:
    return {
        "repositoryName": "team-a/valid-repo",
        "region": REGION,
        "imageTagMutability": "IMMUTABLE",
        "scanOnPush": True,
        "encryption": {"type": "KMS", "deletionWindowInDays": 7},
        "lifecycle": {"maxImageCount": 30, "expireUntaggedAfterDays": 7},
        "crossAccountPull": {"enabled": True, "allowedAccountIds": ["111122223333"]},
        "tags": dict(TAGS),
        "deletionPolicy": "Delete",
        "forceDelete": False,
    }


@dataclass(frozen=True)
class Bad:
    id: str
    field: str
    """The field path the API server's message must name."""
    changes: dict[str, Any]
    """Merged (recursively) into the valid base spec; a value None removes the key."""
    strict: bool = False


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and value and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


NAME = "spec.repositoryName"
LIFECYCLE = "spec.lifecycle"
ACCOUNTS = "spec.crossAccountPull.allowedAccountIds"

FILTERS_KEY = "imageTagMutabilityExclusionFilters"
FILTERS = f"spec.{FILTERS_KEY}"
STATEMENTS = "spec.repositoryPolicy.statements"
LAMBDA_PULL = {
    "Sid": "LambdaPull",
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
}


def policy_statement(**changes: Any) -> dict[str, Any]:
    """LAMBDA_PULL with ``changes``; a value None removes the key."""
    return {k: v for k, v in {**LAMBDA_PULL, **changes}.items() if v is not None}


ADMISSION_CORPUS = [
    # ECR name rules
    Bad("name-uppercase", NAME, {"repositoryName": "Team-A/Repo"}),
    Bad("name-leading-dash", NAME, {"repositoryName": "-repo"}),
    Bad("name-trailing-dash", NAME, {"repositoryName": "repo-"}),
    Bad("name-leading-dot", NAME, {"repositoryName": ".repo"}),
    Bad("name-trailing-dot", NAME, {"repositoryName": "repo."}),
    Bad("name-leading-underscore", NAME, {"repositoryName": "_repo"}),
    Bad("name-leading-slash", NAME, {"repositoryName": "/repo"}),
    Bad("name-trailing-slash", NAME, {"repositoryName": "team-a/"}),
    Bad("name-double-dash", NAME, {"repositoryName": "my--repo"}),
    Bad("name-double-dot", NAME, {"repositoryName": "my..repo"}),
    Bad("name-dot-dash", NAME, {"repositoryName": "my.-repo"}),
    Bad("name-double-slash", NAME, {"repositoryName": "team-a//repo"}),
    Bad("name-separator-before-slash", NAME, {"repositoryName": "team-a-/repo"}),
    Bad("name-too-long-257", NAME, {"repositoryName": "a" * 257}),
    Bad("name-one-char", NAME, {"repositoryName": "a"}),
    Bad("name-empty", NAME, {"repositoryName": ""}),
    Bad("name-space", NAME, {"repositoryName": "my repo"}),
    Bad("name-colon", NAME, {"repositoryName": "repo:latest"}),
    # region
    Bad("region-no-number", "spec.region", {"region": "eu-central"}),
    Bad("region-uppercase", "spec.region", {"region": "EU-CENTRAL-1"}),
    Bad("region-availability-zone", "spec.region", {"region": "eu-central-1a"}),
    # enum typos
    Bad("mutability-lowercase", "spec.imageTagMutability", {"imageTagMutability": "immutable"}),
    Bad("mutability-typo", "spec.imageTagMutability", {"imageTagMutability": "IMUTABLE"}),
    Bad("encryption-type-lowercase", "spec.encryption.type", {"encryption": {"type": "aes256"}}),
    Bad("encryption-type-unknown", "spec.encryption.type", {"encryption": {"type": "SSE-KMS"}}),
    Bad("deletion-policy-orphan", "spec.deletionPolicy", {"deletionPolicy": "Orphan"}),
    Bad("deletion-policy-lowercase", "spec.deletionPolicy", {"deletionPolicy": "retain"}),
    # account IDs
    Bad("account-11-digits", ACCOUNTS, {"crossAccountPull": {"allowedAccountIds": ["11112222333"]}}),
    Bad("account-13-digits", ACCOUNTS, {"crossAccountPull": {"allowedAccountIds": ["1111222233334"]}}),
    Bad("account-letters", ACCOUNTS, {"crossAccountPull": {"allowedAccountIds": ["11112222333a"]}}),
    Bad("account-arn", ACCOUNTS, {"crossAccountPull": {"allowedAccountIds": ["arn:aws:iam::111122223333:root"]}}),
    Bad(
        "account-duplicate",
        ACCOUNTS,
        {"crossAccountPull": {"allowedAccountIds": ["111122223333", "444455556666", "111122223333"]}},
    ),
    Bad("enabled-empty-accounts", ACCOUNTS, {"crossAccountPull": {"enabled": True, "allowedAccountIds": []}}),
    Bad("enabled-no-accounts-field", ACCOUNTS, {"crossAccountPull": {"enabled": True, "allowedAccountIds": None}}),
    # lifecycle ranges and shape
    Bad("max-image-count-zero", "spec.lifecycle.maxImageCount", {"lifecycle": {"maxImageCount": 0}}),
    Bad("max-image-count-negative", "spec.lifecycle.maxImageCount", {"lifecycle": {"maxImageCount": -5}}),
    Bad("max-image-count-huge", "spec.lifecycle.maxImageCount", {"lifecycle": {"maxImageCount": 10**12}}),
    Bad(
        "expire-untagged-zero", "spec.lifecycle.expireUntaggedAfterDays", {"lifecycle": {"expireUntaggedAfterDays": 0}}
    ),
    Bad(
        "expire-untagged-negative",
        "spec.lifecycle.expireUntaggedAfterDays",
        {"lifecycle": {"expireUntaggedAfterDays": -1}},
    ),
    Bad("lifecycle-empty", LIFECYCLE, {"lifecycle": {"maxImageCount": None, "expireUntaggedAfterDays": None}}),
    Bad(
        "policy-text-not-json",
        "spec.lifecycle.policyText",
        {"lifecycle": {"maxImageCount": None, "expireUntaggedAfterDays": None, "policyText": "keep " * 30}},
    ),
    Bad(
        "policy-text-no-rules",
        "spec.lifecycle.policyText",
        {
            "lifecycle": {
                "maxImageCount": None,
                "expireUntaggedAfterDays": None,
                "policyText": json.dumps({"policy": [lifecycle_rule(1, KEEP_30)]}, indent=2),
            }
        },
    ),
    Bad(
        "policy-text-too-short",
        "spec.lifecycle.policyText",
        {"lifecycle": {"maxImageCount": None, "expireUntaggedAfterDays": None, "policyText": '{"rules": []}'}},
    ),
    Bad(
        "policy-text-with-max-image-count",
        "spec.lifecycle.policyText",
        {"lifecycle": {"expireUntaggedAfterDays": None, "policyText": VALID_POLICY}},
    ),
    Bad(
        "policy-text-with-expire-untagged",
        "spec.lifecycle.policyText",
        {"lifecycle": {"maxImageCount": None, "policyText": VALID_POLICY}},
    ),
    # encryption
    Bad("deletion-window-6", "spec.encryption.deletionWindowInDays", {"encryption": {"deletionWindowInDays": 6}}),
    Bad("deletion-window-31", "spec.encryption.deletionWindowInDays", {"encryption": {"deletionWindowInDays": 31}}),
    Bad(
        "kms-key-arn-short-account",
        "spec.encryption.kmsKeyArn",
        {"encryption": {"kmsKeyArn": KEY_ARN.replace("123456789012", "1234")}},
    ),
    Bad(
        "kms-key-arn-alias",
        "spec.encryption.kmsKeyArn",
        {"encryption": {"kmsKeyArn": "arn:aws:kms:eu-central-1:123456789012:alias/ecr"}},
    ),
    Bad(
        "kms-key-arn-bare-id",
        "spec.encryption.kmsKeyArn",
        {"encryption": {"kmsKeyArn": "1234abcd-12ab-34cd-56ef-1234567890ab"}},
    ),
    Bad(
        "kms-key-arn-wrong-service",
        "spec.encryption.kmsKeyArn",
        {"encryption": {"kmsKeyArn": KEY_ARN.replace(":kms:", ":s3:")}},
    ),
    Bad(
        "kms-key-arn-with-aes256", "spec.encryption.kmsKeyArn", {"encryption": {"type": "AES256", "kmsKeyArn": KEY_ARN}}
    ),
    # unknown fields (fieldValidation=Strict names them)
    Bad("unknown-spec-field", "spec.maxImages", {"maxImages": 3}, strict=True),
    Bad("unknown-lifecycle-field", "spec.lifecycle.keepLast", {"lifecycle": {"keepLast": 3}}, strict=True),
    Bad("unknown-encryption-field", "spec.encryption.kmsKey", {"encryption": {"kmsKey": KEY_ARN}}, strict=True),
    Bad("unknown-pull-field", "spec.crossAccountPull.accounts", {"crossAccountPull": {"accounts": ["1"]}}, strict=True),
    # wrong types
    Bad("scan-on-push-string", "spec.scanOnPush", {"scanOnPush": "yes"}),
    Bad("force-delete-string", "spec.forceDelete", {"forceDelete": "true"}),
    Bad("max-image-count-string", "spec.lifecycle.maxImageCount", {"lifecycle": {"maxImageCount": "10"}}),
    Bad("tag-value-number", "spec.tags.owner", {"tags": {"owner": 42}}),
    Bad("tag-value-list", "spec.tags.service", {"tags": {"service": ["a", "b"]}}),
    Bad("tags-a-list", "spec.tags", {"tags": ["owner=platform"]}),
    Bad("accounts-a-string", ACCOUNTS, {"crossAccountPull": {"allowedAccountIds": "111122223333"}}),
    # tag count: AWS allows 50 per resource, the operator adds 3 ownership tags (TAGS has 5)
    Bad("tags-48", "spec.tags", {"tags": {f"extra{i}": "x" for i in range(43)}}),
    Bad("tags-51", "spec.tags", {"tags": {f"extra{i}": "x" for i in range(46)}}),
    Bad("encryption-a-string", "spec.encryption", {"encryption": "KMS"}),
    # tag-mutability exclusion filters (botocore's model: 1-5 filters, ^[0-9a-zA-Z._*-]{1,128}$, WILDCARD)
    Bad("exclusion-without-filters", FILTERS, {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}),
    Bad("filters-without-exclusion", FILTERS, {FILTERS_KEY: [{"filter": "latest"}]}),
    Bad("filters-empty", FILTERS, {"imageTagMutability": "MUTABLE_WITH_EXCLUSION", FILTERS_KEY: []}),
    Bad(
        "filters-six",
        FILTERS,
        {"imageTagMutability": "MUTABLE_WITH_EXCLUSION", FILTERS_KEY: [{"filter": f"t{i}"} for i in range(6)]},
    ),
    Bad("filter-slash", FILTERS, {"imageTagMutability": "MUTABLE_WITH_EXCLUSION", FILTERS_KEY: [{"filter": "a/b"}]}),
    Bad(
        "filter-129",
        FILTERS,
        {"imageTagMutability": "MUTABLE_WITH_EXCLUSION", FILTERS_KEY: [{"filter": "a" * 129}]},
    ),
    Bad(
        "filter-type-regex",
        FILTERS,
        {"imageTagMutability": "MUTABLE_WITH_EXCLUSION", FILTERS_KEY: [{"filter": "x", "filterType": "REGEX"}]},
    ),
    Bad(
        "filter-duplicate",
        FILTERS,
        {"imageTagMutability": "MUTABLE_WITH_EXCLUSION", FILTERS_KEY: [{"filter": "x"}, {"filter": "x"}]},
    ),
    # organizations
    Bad(
        "organization-id-short",
        "spec.crossAccountPull.organizationIds",
        {"crossAccountPull": {"organizationIds": ["o-abc"]}},
    ),
    Bad(
        "organization-id-uppercase",
        "spec.crossAccountPull.organizationIds",
        {"crossAccountPull": {"organizationIds": ["o-A1B2C3D4E5"]}},
    ),
    Bad(
        "organization-path-no-root",
        "spec.crossAccountPull.organizationPaths",
        {"crossAccountPull": {"organizationPaths": ["o-a1b2c3d4e5/ou-ab12-11111111/"]}},
    ),
    Bad(
        "organization-path-no-slash",
        "spec.crossAccountPull.organizationPaths",
        {"crossAccountPull": {"organizationPaths": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111"]}},
    ),
    Bad(
        "enabled-nothing-listed",
        ACCOUNTS,
        {"crossAccountPull": {"enabled": True, "allowedAccountIds": [], "organizationIds": []}},
    ),
    # extra policy statements
    Bad(
        "statement-reserved-sid",
        f"{STATEMENTS}[0].Sid",
        {"repositoryPolicy": {"statements": [policy_statement(Sid="CrossAccountPull")]}},
    ),
    Bad(
        "statement-reserved-org-sid",
        f"{STATEMENTS}[0].Sid",
        {"repositoryPolicy": {"statements": [policy_statement(Sid="CrossAccountPullOrganizations")]}},
    ),
    Bad(
        "statement-sid-characters",
        f"{STATEMENTS}[0].Sid",
        {"repositoryPolicy": {"statements": [policy_statement(Sid="a-b")]}},
    ),
    Bad(
        "statement-effect",
        f"{STATEMENTS}[0].Effect",
        {"repositoryPolicy": {"statements": [policy_statement(Effect="Permit")]}},
    ),
    Bad(
        "statement-no-effect",
        f"{STATEMENTS}[0].Effect",
        {"repositoryPolicy": {"statements": [policy_statement(Effect=None)]}},
    ),
    Bad("statements-empty", STATEMENTS, {"repositoryPolicy": {"statements": []}}),
    Bad(
        "statement-unknown-key",
        f"{STATEMENTS}[0].Conditon",
        {"repositoryPolicy": {"statements": [policy_statement(Conditon={})]}},
        strict=True,
    ),
]


@dataclass(frozen=True)
class BadUpdate:
    id: str
    field: str
    before: dict[str, Any]
    after: dict[str, Any]
    """A JSON merge patch of the spec (None removes a key)."""


IMMUTABLE_UPDATES = [
    BadUpdate("repository-name-changed", NAME, {}, {"repositoryName": "team-a/other-repo"}),
    BadUpdate("repository-name-removed", NAME, {}, {"repositoryName": None}),
    BadUpdate("repository-name-added", NAME, {"repositoryName": None}, {"repositoryName": "team-a/late-name"}),
    BadUpdate("region-changed", "spec.region", {}, {"region": "us-west-2"}),
    BadUpdate("region-removed", "spec.region", {}, {"region": None}),
    BadUpdate("region-added", "spec.region", {"region": None}, {"region": "us-west-2"}),
    BadUpdate("encryption-type-changed", "spec.encryption.type", {}, {"encryption": {"type": "AES256"}}),
    BadUpdate(
        "kms-key-arn-changed",
        "spec.encryption.kmsKeyArn",
        {"encryption": {"kmsKeyArn": KEY_ARN}},
        {"encryption": {"kmsKeyArn": OTHER_KEY_ARN}},
    ),
    BadUpdate(
        "kms-key-arn-removed",
        "spec.encryption.kmsKeyArn",
        {"encryption": {"kmsKeyArn": KEY_ARN}},
        {"encryption": {"kmsKeyArn": None}},
    ),
    BadUpdate("kms-key-arn-added", "spec.encryption.kmsKeyArn", {}, {"encryption": {"kmsKeyArn": KEY_ARN}}),
]


REPLICATE_PROD = {"destinations": [{"region": "eu-west-1"}], "repositoryFilters": [{"filter": "prod/"}]}
SCAN_ON_PUSH = {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "prod/*"}]}


def registry_base() -> dict[str, Any]:
    return {
        "region": REGION,
        "replication": {"rules": [REPLICATE_PROD]},
        "scanning": {"scanType": "BASIC", "rules": [SCAN_ON_PUSH]},
        "registryPolicy": {"allowReplicationFromAccounts": ["111122223333"]},
        "deletionPolicy": "Delete",
    }


def replication(**rule: Any) -> dict[str, Any]:
    return {"replication": {"rules": [{**REPLICATE_PROD, **rule}]}}


def scanning(scan_type: str = "BASIC", *rules: dict[str, Any]) -> dict[str, Any]:
    return {"scanning": {"scanType": scan_type, "rules": list(rules)}}


RULES = "spec.replication.rules"
REGISTRY_CORPUS = [
    Bad("registry-11-replication-rules", RULES, {"replication": {"rules": [REPLICATE_PROD] * 11}}),
    Bad("registry-no-destination", f"{RULES}[0].destinations", replication(destinations=[])),
    Bad(
        "registry-26-destinations",
        f"{RULES}[0].destinations",
        replication(destinations=[{"region": "eu-west-1"}] * 26),
    ),
    Bad(
        "registry-101-filters",
        f"{RULES}[0].repositoryFilters",
        replication(repositoryFilters=[{"filter": "ab"}] * 101),
    ),
    Bad(
        "registry-destination-region",
        f"{RULES}[0].destinations[0].region",
        replication(destinations=[{"region": "Mars"}]),
    ),
    Bad(
        "registry-destination-account",
        f"{RULES}[0].destinations[0].registryId",
        replication(destinations=[{"region": "eu-west-1", "registryId": "12345"}]),
    ),
    Bad(
        "registry-replication-filter-type",
        f"{RULES}[0].repositoryFilters[0].filterType",
        replication(repositoryFilters=[{"filter": "prod/", "filterType": "WILDCARD"}]),
    ),
    Bad(
        "registry-replication-filter",
        f"{RULES}[0].repositoryFilters[0].filter",
        replication(repositoryFilters=[{"filter": "Prod/"}]),
    ),
    Bad("registry-scan-type", "spec.scanning.scanType", scanning("FAST")),
    Bad(
        "registry-continuous-needs-enhanced",
        "spec.scanning.rules",
        scanning("BASIC", {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*"}]}),
    ),
    Bad("registry-one-rule-per-frequency", "spec.scanning.rules", scanning("ENHANCED", SCAN_ON_PUSH, SCAN_ON_PUSH)),
    Bad(
        "registry-3-scanning-rules",
        "spec.scanning.rules",
        scanning("ENHANCED", SCAN_ON_PUSH, SCAN_ON_PUSH, SCAN_ON_PUSH),
    ),
    Bad(
        "registry-scan-frequency",
        "spec.scanning.rules[0].scanFrequency",
        scanning("BASIC", {"scanFrequency": "DAILY", "repositoryFilters": [{"filter": "*"}]}),
    ),
    Bad(
        "registry-scanning-filter-type",
        "spec.scanning.rules[0].repositoryFilters[0].filterType",
        scanning(
            "BASIC",
            {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*", "filterType": "PREFIX_MATCH"}]},
        ),
    ),
    Bad(
        "registry-scanning-rule-without-filter",
        "spec.scanning.rules[0].repositoryFilters",
        scanning("BASIC", {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": []}),
    ),
    Bad(
        "registry-policy-account",
        "spec.registryPolicy.allowReplicationFromAccounts[0]",
        {"registryPolicy": {"allowReplicationFromAccounts": ["abc"]}},
    ),
    Bad("registry-policy-text", "spec.registryPolicy.policyText", {"registryPolicy": {"policyText": "not a policy"}}),
    Bad("registry-region", "spec.region", {"region": "europe"}),
    Bad("registry-deletion-policy", "spec.deletionPolicy", {"deletionPolicy": "Orphan"}),
    Bad("registry-unknown-field", "spec.replication.rule", {"replication": {"rule": []}}, strict=True),
]
