"""The harness's moto extension follows botocore's ECR model: its upstream table is the model's enum, every
pattern of the emulated operations is one Python's re understands, and pages are cut by key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from ecr_operator_dev.moto_ecr import OPERATIONS, modelcheck, paging, upstreams
from ecr_operator_dev.moto_ecr.errors import InvalidParameterException


def test_the_upstream_table_is_the_models_enum() -> None:
    assert {upstream.name for upstream in upstreams.UPSTREAMS} == set(modelcheck.enum_values("UpstreamRegistry"))


def test_the_emulated_operations_exist_in_the_model() -> None:
    assert len(OPERATIONS) == 9
    for operation in OPERATIONS:
        assert modelcheck.operation_model(operation).name == operation


def _patterns(shape: Any, seen: set[str]) -> Iterator[str]:
    if shape.name in seen:
        return
    seen.add(shape.name)
    if "pattern" in shape.metadata:
        yield shape.metadata["pattern"]
    for member in getattr(shape, "members", {}).values():
        yield from _patterns(member, seen)
    if getattr(shape, "member", None) is not None:
        yield from _patterns(shape.member, seen)


def test_every_pattern_of_the_emulated_operations_compiles() -> None:
    seen: set[str] = set()
    patterns = [p for op in OPERATIONS for p in _patterns(modelcheck.operation_model(op).input_shape, seen)]
    assert patterns, "the model has patterns for these operations"
    for pattern in patterns:
        re.compile(pattern)


@pytest.mark.parametrize(
    ("url", "name", "expected"),
    [
        ("registry-1.docker.io", None, "docker-hub"),
        ("registry-1.docker.io", "docker-hub", "docker-hub"),
        ("registry-1.docker.io", "quay", None),
        ("team.azurecr.io", None, "azure-container-registry"),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", None, "ecr"),
        ("12345678901.dkr.ecr.eu-west-1.amazonaws.com", None, None),
        ("quay.io/extra", None, None),
    ],
)
def test_resolve_an_upstream_url(url: str, name: str | None, expected: str | None) -> None:
    upstream = upstreams.resolve(url, name)
    assert (upstream.name if upstream else None) == expected


def test_the_account_of_an_ecr_upstream() -> None:
    ecr = upstreams.BY_NAME["ecr"]
    assert ecr.account_of("210987654321.dkr.ecr.us-east-1.amazonaws.com") == "210987654321"


def test_pages_follow_the_key_of_the_last_item() -> None:
    items = [(key, key.upper()) for key in "abcde"]
    first, token = paging.page(items, 2, None)
    assert first == ["A", "B"] and token is not None
    second, token = paging.page([item for item in items if item[0] != "a"], 2, token)
    assert second == ["C", "D"]
    third, token = paging.page(items, 2, token)
    assert third == ["E"] and token is None


def test_a_full_last_page_has_no_token() -> None:
    assert paging.page([("a", 1), ("b", 2)], 2, None) == ([1, 2], None)


def test_a_token_that_is_not_ours_is_invalid() -> None:
    with pytest.raises(InvalidParameterException):
        paging.page([("a", 1)], None, "*not base64*")
