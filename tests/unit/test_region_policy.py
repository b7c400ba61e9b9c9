"""Regions: which ones the operator acts in (botocore's ECR+KMS regions, narrowed by --allowed-regions, with their
partitions), refused before anything is built; the settings that name them; a delete in a refused region."""

from __future__ import annotations

import pytest

from ecr_operator.cli.main import main
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import PERMANENT, Reason
from ecr_operator.core.regions import RegionPolicy, known_regions, partition_of, refused_region_delete
from ecr_operator.core.settings import Settings
from ecr_operator.runtime.process import Runtime

PARTITIONS = [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]


# --- known regions ------------------------------------------------------------------------------


@pytest.mark.parametrize(("region", "partition"), PARTITIONS)
def test_botocores_regions_for_ecr_and_kms_with_their_partition(region: str, partition: str) -> None:
    assert known_regions()[region] == partition
    assert partition_of(region) == partition


def test_an_invented_region_is_not_known() -> None:
    assert "aa-fake-1" not in known_regions()
    assert "us-east-1" in known_regions()


# --- the region policy -----------------------------------------------------------------------------------------


def test_an_unknown_region_is_refused_naming_it_and_waits_for_a_change() -> None:
    refusal = RegionPolicy().refusal("aa-fake-1")
    assert refusal is not None
    assert refusal.reason == Reason.REGION_NOT_ALLOWED and not refusal.retryable
    assert Reason.REGION_NOT_ALLOWED in PERMANENT
    assert "aa-fake-1" in refusal.message
    with pytest.raises(OperatorError):
        RegionPolicy().check("aa-fake-1")


def test_every_known_region_is_allowed_by_default_and_allowed_regions_narrow_it() -> None:
    assert RegionPolicy().refusal("cn-north-1") is None
    narrowed = RegionPolicy.of(["eu-west-1", "eu-central-1"])
    assert narrowed.refusal("eu-west-1") is None
    refusal = narrowed.refusal("us-east-1")
    assert refusal is not None and refusal.reason == Reason.REGION_NOT_ALLOWED
    assert "us-east-1" in refusal.message and "eu-central-1, eu-west-1" in refusal.message


def test_allowed_regions_must_be_known_ones() -> None:
    with pytest.raises(ValueError, match="aa-fake-1"):
        RegionPolicy.of(["eu-west-1", "aa-fake-1"])


# --- the operator's settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["plan", "--region", "aa-fake-1", "-"], "--region"),
        (["plan", "--region", "eu-west-1", "--allowed-regions", "eu-west-1,zz-nowhere-9", "-"], "--allowed-regions"),
        (["plan", "--region", "us-east-1", "--allowed-regions", "eu-west-1", "-"], "--allowed-regions"),
    ],
)
def test_a_default_region_or_allowed_region_that_cannot_be_used_is_a_startup_error(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert named in capsys.readouterr().err


def test_allowed_regions_from_the_environment_are_checked_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ECR_OPERATOR_ALLOWED_REGIONS", "aa-fake-1")
    with pytest.raises(SystemExit):
        main(["plan", "--region", "eu-west-1", "-"])
    assert "ECR_OPERATOR_ALLOWED_REGIONS='aa-fake-1'" in capsys.readouterr().err


# --- delete in a refused region --------------------------------------------------------------------------------


def test_a_delete_in_a_refused_region_lets_go_when_nothing_was_made_there() -> None:
    memo = Runtime(Settings(region="eu-west-1", allowed_regions=("eu-west-1",)))
    assert refused_region_delete(memo.clients, "eu-west-1", [], retain=False) is None, "allowed: the normal delete"
    let_go = refused_region_delete(memo.clients, "aa-fake-1", [], retain=False)
    assert let_go is not None and Reason.REGION_NOT_ALLOWED in let_go and "aa-fake-1" in let_go
    assert refused_region_delete(memo.clients, "us-east-1", ["status.repositoryArn"], retain=True) is not None


def test_a_delete_in_a_no_longer_allowed_region_keeps_the_finalizer_while_status_records_something_there() -> None:
    memo = Runtime(Settings(region="eu-west-1", allowed_regions=("eu-west-1",)))
    with pytest.raises(OperatorError) as caught:
        refused_region_delete(memo.clients, "us-east-1", ["status.repositoryArn"], retain=False)
    assert caught.value.reason == Reason.REGION_NOT_ALLOWED
    assert "status.repositoryArn" in caught.value.message and "us-east-1" in caught.value.message
