"""The record of a key creation (status.keyCreation) lives exactly as long as a key it made may exist unaliased.

AWS answering CreateKey with an error (a quota, AccessDenied) made no key: the record goes, so later passes do not
search every key of the account for it (ListKeys + one DescribeKey per key). Without an answer (the connection
lost after AWS did the work) the key may exist: the record stays and the next pass finds that key by its token.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_harness import ALIAS, REGION, PartsHarness

from ecr_operator.core.aws import ClientFactory
from ecr_operator.core.errors import OperatorError
from ecr_operator_dev import AwsProxy, Fault, MotoServer

OTHER_KEYS = 50
"""Keys of others in the account: what a search for the creation's key would have to describe one by one."""
SEARCHES = ("kms:ListKeys", "tagging:GetResources")


@pytest.fixture
def proxied(
    aws: PartsHarness, moto_server: MotoServer, aws_session: boto3.session.Session
) -> Iterator[tuple[PartsHarness, AwsProxy]]:
    """The operator's clients behind a proxy that can answer in AWS's place (or not answer at all)."""
    with AwsProxy(upstream=moto_server.endpoint_url) as proxy, pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", proxy.endpoint_url)
        yield PartsHarness(ClientFactory(aws_session).for_region(REGION), aws_session), proxy


@pytest.mark.parametrize(
    ("answer", "reason"), [("access_denied", "AccessDenied"), ("invalid_parameter", "InvalidParameter")]
)
def test_a_create_key_aws_refused_clears_the_record_and_later_passes_search_nothing(
    aws: PartsHarness, proxied: tuple[PartsHarness, AwsProxy], answer: str, reason: str
) -> None:
    for n in range(OTHER_KEYS):
        aws.kms.create_key(Description=f"someone else's key {n}")  # straight to moto
    operator, proxy = proxied
    proxy.add_fault(Fault(answer, "CreateKey", times=None))  # type: ignore[arg-type]
    desired = operator.desired()

    for attempt in range(2):
        with pytest.raises(OperatorError) as raised:
            operator.reconcile(desired)
        assert raised.value.reason == reason
        assert operator.calls.writes == ["kms:CreateKey"]
        assert operator.recorded is None, "AWS answered: no key was made, nothing to look for"
        if attempt == 1:
            assert not [op for op in operator.calls.reads if op in SEARCHES], operator.calls.reads
            assert operator.calls.reads.count("kms:DescribeKey") == 1, "only the alias is looked up"

    proxy.clear_faults()
    operator.reconcile(desired)
    [key_id] = operator.owned_keys(desired.owner)
    assert operator.alias_target(ALIAS) == key_id
    operator.assert_in_sync(desired)


def test_a_create_key_without_an_answer_keeps_the_record_and_the_key_is_found(
    proxied: tuple[PartsHarness, AwsProxy],
) -> None:
    aws, proxy = proxied
    desired = aws.desired()
    cut = proxy.add_fault(Fault("lose_response", "CreateKey"))
    with pytest.raises(OperatorError) as raised:
        aws.reconcile(desired)
    assert cut.injected == 1 and raised.value.reason == "AwsUnreachable"
    assert aws.recorded is not None and aws.recorded.key_id is None, "the key may exist: the record stays"
    [made] = aws.owned_keys(desired.owner)
    assert aws.recorded.token in aws.key(made)["Description"]

    aws.reconcile(desired)
    assert "kms:CreateKey" not in aws.calls.writes
    assert aws.owned_keys(desired.owner) == [made] and aws.alias_target(ALIAS) == made
    aws.assert_in_sync(desired)
