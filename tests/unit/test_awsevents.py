"""core/awsevents.py: EventBridge events (AWS's published sample shapes, tests/data/events/) parsed, classified and
mapped to the repositories and keys they name; garbage refused; the operator's own calls recognised."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecr_operator.core.awsevents import (
    EVENT_TYPES,
    Change,
    Ignore,
    Ignored,
    KeyRef,
    Kind,
    MalformedEventError,
    OwnIdentity,
    Principal,
    RepositoryRef,
    classify,
    key_name,
    parse,
    principal_of,
)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "events"
APP = RepositoryRef("123456789012", "us-west-2", "team-a/app")
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
NOBODY = OwnIdentity()


def sample(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return document


def classified(name: str, own: OwnIdentity = NOBODY) -> Change | Ignored:
    return classify(parse(json.dumps(sample(name))), own)


def change(name: str, own: OwnIdentity = NOBODY) -> Change:
    decided = classified(name, own)
    assert isinstance(decided, Change), decided
    return decided


def test_the_envelope_is_parsed_as_eventbridge_sends_it() -> None:
    event = parse((SAMPLES / "ecr-image-push.json").read_bytes())
    assert (event.id, event.detail_type, event.source, event.account, event.region) == (
        "13cde686-328b-6117-af20-0e5566167482",
        "ECR Image Action",
        "aws.ecr",
        "123456789012",
        "us-west-2",
    )
    assert event.time == datetime(2019, 11, 16, 1, 54, 34, tzinfo=UTC)
    assert event.type == "ecr_image_action"


@pytest.mark.parametrize(
    ("name", "kind", "action"),
    [
        ("ecr-image-push", Kind.IMAGES, "PUSH"),
        ("ecr-image-delete", Kind.IMAGES, "DELETE"),
        ("ecr-replication", Kind.IMAGES, "REPLICATE"),
        ("ecr-image-scan", Kind.SCAN, "scan COMPLETE"),
        ("cloudtrail-ecr-delete-lifecycle-policy", Kind.DRIFT, "DeleteLifecyclePolicy"),
        ("cloudtrail-ecr-untag-resource", Kind.DRIFT, "UntagResource"),
    ],
)
def test_repository_events_name_the_repository_by_account_region_and_name(name: str, kind: Kind, action: str) -> None:
    decided = change(name)
    assert (decided.kind, decided.action, decided.targets) == (kind, action, (APP,))


def test_a_pull_through_cache_action_names_the_cached_repository() -> None:
    decided = change("ecr-pull-through-cache")
    assert decided.kind == Kind.IMAGES
    assert decided.targets == (RepositoryRef("123456789012", "us-west-2", "docker-hub/alpine"),)


@pytest.mark.parametrize(
    "detail",
    [{}, {"finding-severity-counts": {"HIGH": "many"}}, {"scan-status": "FAILED", "finding-severity-counts": None}],
)
def test_a_scan_event_asks_for_a_refresh_of_its_repository_whatever_counts_it_carries(detail: dict[str, Any]) -> None:
    document = sample("ecr-image-scan")
    document["detail"] = {**document["detail"], **detail}
    decided = classify(parse(json.dumps(document)))
    assert isinstance(decided, Change) and decided.kind == Kind.SCAN
    assert decided.targets == (RepositoryRef("123456789012", "us-west-2", "team-a/app"),)
    assert decided.action == f"scan {document['detail']['scan-status']}"


def test_kms_events_name_the_key_by_id_and_by_the_arn_cloudtrail_resolved() -> None:
    decided = change("cloudtrail-kms-disable-key-rotation")
    assert decided.kind == Kind.DRIFT and decided.event.type == "kms_api_call"
    assert decided.targets == (KeyRef("111122223333", "us-west-2", KEY_ID),)


def test_an_alias_event_names_the_alias_and_the_key_behind_it() -> None:
    decided = change("cloudtrail-kms-delete-alias")
    assert set(decided.targets) == {
        KeyRef("111122223333", "us-west-2", "alias/ecr/team-a/app"),
        KeyRef("111122223333", "us-west-2", KEY_ID),
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (KEY_ID, KeyRef("111122223333", "eu-west-1", KEY_ID)),
        (f"arn:aws:kms:us-east-2:444455556666:key/{KEY_ID}", KeyRef("444455556666", "us-east-2", KEY_ID)),
        ("alias/ecr/app", KeyRef("111122223333", "eu-west-1", "alias/ecr/app")),
        ("arn:aws:kms:us-east-2:444455556666:alias/ecr/app", KeyRef("444455556666", "us-east-2", "alias/ecr/app")),
        ("arn:aws:s3:::bucket", None),
        ("", None),
    ],
)
def test_key_names_as_callers_give_them(given: str, expected: KeyRef | None) -> None:
    assert key_name(given, "111122223333", "eu-west-1") == expected


def test_a_registry_id_in_the_request_names_the_account() -> None:
    document = sample("cloudtrail-ecr-delete-lifecycle-policy")
    document["detail"]["requestParameters"]["registryId"] = "999988887777"
    decided = classify(parse(json.dumps(document)))
    assert isinstance(decided, Change)
    assert decided.targets == (RepositoryRef("999988887777", "us-west-2", "team-a/app"),)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ecr-image-push-failed", Ignore.FAILED),
        ("cloudtrail-kms-schedule-key-deletion-denied", Ignore.FAILED),
        ("cloudtrail-ecr-describe-repositories", Ignore.READ_ONLY),
        ("cloudtrail-ecr-put-image", Ignore.NOT_WATCHED),
        ("ec2-state-change", Ignore.UNKNOWN_TYPE),
    ],
)
def test_events_that_change_nothing_we_manage_are_ignored(name: str, why: Ignore) -> None:
    decided = classified(name)
    assert isinstance(decided, Ignored) and decided.why == why, decided


def test_the_operators_own_calls_are_recognised_by_its_role_whatever_the_session_and_path() -> None:
    # GetCallerIdentity under IRSA names the assumed role (no path); CloudTrail's sessionIssuer has the path.
    own = OwnIdentity.of(["arn:aws:sts::123456789012:assumed-role/ecr-operator/botocore-session-1709630000"])
    decided = classified("cloudtrail-ecr-by-the-operator", own)
    assert isinstance(decided, Ignored) and decided.why == Ignore.OWN_CALL
    # A person's call to the same repository is drift, and so is the operator's call seen by another operator.
    assert isinstance(classified("cloudtrail-ecr-delete-lifecycle-policy", own), Change)
    other = OwnIdentity.of(["arn:aws:iam::123456789012:role/another-operator"])
    assert isinstance(classified("cloudtrail-ecr-by-the-operator", other), Change)


def test_calls_through_a_mapped_accounts_role_are_own_calls_too() -> None:
    document = sample("cloudtrail-kms-disable-key-rotation")
    document["detail"]["userIdentity"] = {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::111122223333:assumed-role/ecr-operator-target/ecr-operator-prod",
        "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/ecr-operator-target"}},
    }
    own = OwnIdentity.of(
        ["arn:aws:iam::123456789012:user/operator", "arn:aws:iam::111122223333:role/ecr-operator-target"]
    )
    decided = classify(parse(json.dumps(document)), own)
    assert isinstance(decided, Ignored) and decided.why == Ignore.OWN_CALL


@pytest.mark.parametrize(
    ("arn", "principal"),
    [
        ("arn:aws:sts::123456789012:assumed-role/r/s", Principal("role", "123456789012", "r")),
        ("arn:aws:iam::123456789012:role/a/b/r", Principal("role", "123456789012", "r")),
        ("arn:aws:iam::123456789012:user/u", Principal("user", "123456789012", "u")),
        ("arn:aws:iam::123456789012:root", Principal("root", "123456789012", "")),
        ("arn:aws-cn:sts::123456789012:assumed-role/r/s", Principal("role", "123456789012", "r")),
        ("arn:aws:ecr:us-east-1:123456789012:repository/x", None),
        ("not an arn", None),
        (None, None),
    ],
)
def test_principals(arn: object, principal: Principal | None) -> None:
    assert principal_of(arn) == principal


GARBAGE = [
    "",
    "not json",
    "[]",
    "42",
    '"a string"',
    "{}",
    json.dumps({"detail-type": "ECR Image Action", "source": "aws.ecr"}),
    json.dumps({**sample("ecr-image-push"), "detail": "not an object"}),
    json.dumps({**sample("ecr-image-push"), "time": "yesterday"}),
    json.dumps({**sample("ecr-image-push"), "account": 123}),
    json.dumps({**sample("ecr-image-push"), "resources": "arn"}),
    "\udcff",
]


@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_is_refused_as_malformed(body: str) -> None:
    with pytest.raises(MalformedEventError):
        parse(body)


@pytest.mark.parametrize(
    "detail",
    [
        {"result": "SUCCESS", "action-type": "PUSH"},  # no repository-name
        {"result": "SUCCESS", "repository-name": ""},
    ],
)
def test_an_ecr_event_without_a_repository_is_ignored_as_malformed(detail: dict[str, Any]) -> None:
    decided = classify(parse(json.dumps({**sample("ecr-image-push"), "detail": detail})))
    assert isinstance(decided, Ignored) and decided.why == Ignore.MALFORMED


def test_an_api_call_naming_nothing_is_ignored_as_malformed() -> None:
    document = sample("cloudtrail-ecr-delete-lifecycle-policy")
    document["detail"]["requestParameters"] = None
    decided = classify(parse(json.dumps(document)))
    assert isinstance(decided, Ignored) and decided.why == Ignore.MALFORMED


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


@given(
    detail=st.dictionaries(
        st.sampled_from(
            [
                "repository-name",
                "requestParameters",
                "eventName",
                "eventSource",
                "result",
                "scan-status",
                "image-digest",
                "finding-severity-counts",
                "userIdentity",
                "errorCode",
                "readOnly",
                "resources",
            ]
        ),
        _JSON,
    ),
    detail_type=st.sampled_from(["ECR Image Action", "ECR Image Scan", "AWS API Call via CloudTrail", "x"]),
    source=st.sampled_from(["aws.ecr", "aws.kms", "aws.s3"]),
)
def test_any_detail_is_classified_without_an_exception(detail: dict[str, Any], detail_type: str, source: str) -> None:
    document = {**sample("ecr-image-push"), "detail": detail, "detail-type": detail_type, "source": source}
    decided = classify(parse(json.dumps(document)), OwnIdentity.of(["arn:aws:iam::123456789012:user/x"]))
    assert isinstance(decided, Change | Ignored)
    assert decided.event is not None and decided.event.type in EVENT_TYPES


@pytest.mark.parametrize("context", ["x", 1, True, [1], {"sessionIssuer": "x"}, {"sessionIssuer": [1]}])
def test_a_userIdentity_of_an_unforeseen_shape_is_judged_by_its_arn(context: object) -> None:
    """A CloudTrail record whose sessionContext (or its sessionIssuer) is not an object: no exception (the
    consumer handles messages one after the other), the identity's own ARN decides."""
    own = OwnIdentity.of(["arn:aws:sts::123456789012:assumed-role/ecr-operator/botocore-session-1709630000"])
    document = sample("cloudtrail-ecr-by-the-operator")
    document["detail"]["userIdentity"]["sessionContext"] = context
    decided = classify(parse(json.dumps(document)), own)
    assert isinstance(decided, Ignored) and decided.why == Ignore.OWN_CALL
    document["detail"]["userIdentity"]["arn"] = "arn:aws:sts::123456789012:assumed-role/someone/else"
    assert isinstance(classify(parse(json.dumps(document)), own), Change)
