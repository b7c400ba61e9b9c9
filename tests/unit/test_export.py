"""spec.export: the ConfigMap's data, its owner reference, and never writing a ConfigMap this resource does not own."""

from __future__ import annotations

import pytest

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import PERMANENT, Reason
from ecr_operator.repository import export

UID = "0b6f4a9e-1111-2222-3333-444455556666"
DATA = export.export_data(
    "1.dkr.ecr.ap-northeast-2.amazonaws.com/app",
    "arn:aws:ecr:ap-northeast-2:1:repository/app",
    "1",
    "ap-northeast-2",
    None,
)


def test_data_has_every_key_and_an_empty_key_arn_for_aes256() -> None:
    assert list(DATA) == ["repositoryUri", "repositoryArn", "registryId", "region", "kmsKeyArn"]
    assert DATA["kmsKeyArn"] == "" and DATA["region"] == "ap-northeast-2"


def test_a_missing_configmap_is_created_owned_by_the_resource() -> None:
    planned = export.plan(None, "team-a", "app-ecr", "app", UID, DATA)
    assert planned.operation == "create"
    metadata = planned.body["metadata"]
    assert (metadata["name"], metadata["namespace"]) == ("app-ecr", "team-a")
    assert metadata["ownerReferences"] == [
        {
            "apiVersion": "ecr.platform.dev/v1alpha1",
            "kind": "EcrRepository",
            "name": "app",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": False,
        }
    ]
    assert planned.body["data"] == DATA


def test_our_configmap_is_patched_only_where_it_differs() -> None:
    ours = export.plan(None, "team-a", "app-ecr", "app", UID, DATA).body
    assert export.plan(ours, "team-a", "app-ecr", "app", UID, DATA).operation == "none"
    changed = {**DATA, "kmsKeyArn": "arn:aws:kms:ap-northeast-2:1:key/k"}
    planned = export.plan(ours, "team-a", "app-ecr", "app", UID, changed)
    assert planned.operation == "patch" and planned.body == {"data": {"kmsKeyArn": changed["kmsKeyArn"]}}


@pytest.mark.parametrize(
    "foreign",
    [
        {"metadata": {"name": "app-ecr"}, "data": {"repositoryUri": "theirs"}},
        {"metadata": {"name": "app-ecr", "ownerReferences": [{"uid": "another-uid", "kind": "EcrRepository"}]}},
    ],
)
def test_a_configmap_of_someone_else_is_never_written(foreign: dict[str, object]) -> None:
    with pytest.raises(OperatorError) as refused:
        export.plan(foreign, "team-a", "app-ecr", "app", UID, DATA)
    assert refused.value.reason == Reason.EXPORT_CONFIG_MAP_NOT_OWNED
    assert refused.value.reason in PERMANENT and not refused.value.retryable
    assert "team-a/app-ecr" in refused.value.message


def test_withdrawal_blanks_only_our_configmap_and_creates_none() -> None:
    """The repository is not the resource's any more: workloads must not pull from someone else's repository."""
    ours = export.plan(None, "team-a", "app-ecr", "app", UID, DATA).body
    planned = export.plan_withdrawal(ours, UID)
    assert planned.operation == "patch" and planned.body == {"data": {key: "" for key, value in DATA.items() if value}}
    blanked = {**ours, "data": dict.fromkeys(DATA, "")}
    assert export.plan_withdrawal(blanked, UID).operation == "none", "already blank: no write"
    assert export.plan_withdrawal(None, UID).operation == "none", "none to blank: none created"
    foreign = {"metadata": {"name": "app-ecr"}, "data": {"repositoryUri": "theirs"}}
    assert export.plan_withdrawal(foreign, UID).operation == "none", "someone else's: left as it is"
