"""parts/actions.py: the NEW_KEY placeholder is replaced by the key a plan created."""

from __future__ import annotations

from ecr_operator.parts.actions import NEW_KEY, Action


def test_resolved_substitutes_new_key() -> None:
    action = Action("kms", "create_alias", {"AliasName": "alias/ecr/web", "TargetKeyId": NEW_KEY}, "alias")
    resolved = action.resolved("key-123")
    assert resolved.params == {"AliasName": "alias/ecr/web", "TargetKeyId": "key-123"}
    assert (resolved.service, resolved.operation, resolved.summary) == ("kms", "create_alias", "alias")
    assert action.params["TargetKeyId"] == NEW_KEY  # the plan itself is not mutated


def test_resolved_without_new_key_id_keeps_placeholder() -> None:
    action = Action("kms", "enable_key_rotation", {"KeyId": NEW_KEY}, "rotate")
    assert action.resolved(None) is action


def test_resolved_without_placeholder_is_unchanged() -> None:
    action = Action("kms", "enable_key_rotation", {"KeyId": "existing"}, "rotate")
    assert action.resolved("key-123") is action
