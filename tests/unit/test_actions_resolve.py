"""core/actions.py: placeholders for what a plan creates are resolved one way, from what the create returned."""

from __future__ import annotations

from ecr_operator.core.actions import NEW_KEY_ARN, NEW_KEY_ID, NEW_REPOSITORY_URI, Action, Applied


def test_resolved_substitutes_placeholders_anywhere_in_the_params() -> None:
    action = Action(
        "ecr",
        "create_repository",
        {"encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": NEW_KEY_ARN}, "tags": [{"Key": NEW_KEY_ID}]},
        "create",
    )
    resolved = action.resolved({NEW_KEY_ARN: "arn:k", NEW_KEY_ID: "k"})
    assert resolved.params == {
        "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "arn:k"},
        "tags": [{"Key": "k"}],
    }
    assert (resolved.service, resolved.operation, resolved.summary) == ("ecr", "create_repository", "create")
    assert action.params["encryptionConfiguration"]["kmsKey"] == NEW_KEY_ARN  # the plan itself is not mutated


def test_resolved_without_values_is_the_same_action() -> None:
    action = Action("kms", "enable_key_rotation", {"KeyId": NEW_KEY_ID}, "rotate")
    assert action.resolved({}) is action
    assert action.resolved({NEW_KEY_ARN: "arn:k"}).params == {"KeyId": NEW_KEY_ID}


def test_outputs_resolve_to_what_was_created_or_none() -> None:
    applied = Applied(values={NEW_KEY_ARN: "arn:k"})
    assert applied.resolve(NEW_KEY_ARN) == "arn:k"
    assert applied.resolve(NEW_REPOSITORY_URI) is None, "not created (a dry run, or a failed pass)"
    assert applied.resolve("arn:existing") == "arn:existing"
    assert applied.resolve(None) is None
