"""An EcrRegistry's pull through cache rules and creation templates under interleavings the happy path never sees,
against moto: another party creating a prefix between the pass's read and its create, a create that is never sent
because an earlier write failed. Ownership is recorded before the create is sent; a create AWS refused, or one never
sent, must not leave a claim behind, or a later pass or the delete would remove a rule or template someone else made.
The interleavings are driven from botocore's ``before-call`` event on the operator's ECR client: exact, not timed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from aws_harness import ACCOUNT, QUAY, REGION, PartsHarness, desired_registry
from botocore.exceptions import ClientError, ConnectionClosedError

from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.registry.items import Created, created_names
from ecr_operator.registry.parts.registry import RegistryDeps
from ecr_operator.registry.reconcile import RegistryPlacement, delete_registry, reconcile_registry, recorded
from ecr_operator.registry.status import report

TEMPLATE: dict[str, Any] = {"prefix": "quay", "appliedFor": ["PULL_THROUGH_CACHE"], "description": "ours"}


class Status:
    """The EcrRegistry's status as the API server keeps it: ``Host.record`` merges fields into it."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}

    def record(self, fields: Mapping[str, Any], what: str) -> None:
        self.fields.update(fields)

    def deps(self) -> RegistryDeps:
        return RegistryDeps(
            created=Created(
                created_names(self.fields.get("pullThroughCacheRules")),
                created_names(self.fields.get("creationTemplates")),
            )
        )


@contextmanager
def before(aws: PartsHarness, operation: str, act: Callable[[], object]) -> Iterator[None]:
    """Run ``act`` once, when the operator's ECR client is about to send ``operation`` (before AWS answers)."""
    done: list[bool] = []

    def hook(model: Any, **_: Any) -> None:
        if model.name == operation and not done:
            done.append(True)
            act()

    aws.clients.ecr.meta.events.register("before-call", hook)
    try:
        yield
    finally:
        aws.clients.ecr.meta.events.unregister("before-call", hook)
    assert done, f"the operator never sent {operation}"


def their_rule(aws: PartsHarness) -> None:
    aws.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")


def their_template(aws: PartsHarness) -> None:
    aws.ecr.create_repository_creation_template(prefix="quay", appliedFor=["PULL_THROUGH_CACHE"], description="theirs")


def prefixes(aws: PartsHarness) -> tuple[list[str], list[str]]:
    rules = aws.ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    templates = aws.ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
    return [r["ecrRepositoryPrefix"] for r in rules], [t["prefix"] for t in templates]


@pytest.mark.parametrize("section", ["rule", "template"])
def test_a_prefix_someone_else_creates_before_our_create_is_not_claimed_nor_later_deleted(
    aws: PartsHarness, section: str
) -> None:
    """Someone creates the prefix between the pass's read and its create: AWS refuses the create (already
    exists). The claim recorded before the create must go, else the delete removes their rule or template."""
    status = Status()
    want = desired_registry(pullThroughCacheRules=[QUAY], creationTemplates=[TEMPLATE])
    operation, act = (
        ("CreatePullThroughCacheRule", lambda: their_rule(aws))
        if section == "rule"
        else ("CreateRepositoryCreationTemplate", lambda: their_template(aws))
    )
    with before(aws, operation, act), pytest.raises(OperatorError):
        reconcile_registry(aws.clients, want, RegistryDeps(), record=status.record)
    created = status.deps().created
    assert "quay" not in (created.rules if section == "rule" else created.templates), status.fields

    # The rule the refused template create kept from being sent is not claimed either; someone makes it too.
    if section == "template":
        assert "quay" not in created.rules, "a create never sent is not ours"
        their_rule(aws)
    delete = desired_registry(pullThroughCacheRules=[QUAY], creationTemplates=[TEMPLATE], deletionPolicy="Delete")
    delete_registry(aws.clients, delete, status.deps(), RegistryPlacement(ACCOUNT, REGION))
    # Theirs stay; only our own template (created before the rule's refused create) goes.
    assert prefixes(aws) == (["quay"], ["quay"] if section == "template" else [])


@pytest.mark.parametrize("section", ["rule", "template"])
def test_a_create_that_lost_the_race_for_its_prefix_is_retried_as_already_exists(
    aws: PartsHarness, section: str
) -> None:
    """The next pass sees the item that won (someone else's: InSync or Conflict): retried soon, not Stalled as an
    unknown AWS error until the next resync."""
    want = desired_registry(
        **({"pullThroughCacheRules": [QUAY]} if section == "rule" else {"creationTemplates": [TEMPLATE]})
    )
    operation, act = (
        ("CreatePullThroughCacheRule", lambda: their_rule(aws))
        if section == "rule"
        else ("CreateRepositoryCreationTemplate", lambda: their_template(aws))
    )
    with before(aws, operation, act), pytest.raises(OperatorError) as lost:
        reconcile_registry(aws.clients, want, RegistryDeps())
    assert lost.value.reason == Reason.ALREADY_EXISTS and lost.value.retryable, lost.value.message


def merged_status(status: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A status after a merge patch (top level: a None clears the field)."""
    result = {**status, **patch}
    return {key: value for key, value in result.items() if value is not None}


def deps_of(status: Mapping[str, Any]) -> RegistryDeps:
    return RegistryDeps(
        created=Created(
            created_names(status.get("pullThroughCacheRules")), created_names(status.get("creationTemplates"))
        )
    )


def test_a_first_write_aws_refused_pins_no_registry(aws: PartsHarness) -> None:
    """Nothing was written: an operator restarted with the right --region (or credentials) is no RegionChanged."""
    status = Status()

    def refuse(model: Any, **_: Any) -> None:
        if model.name.startswith("Create"):
            raise ClientError(
                {
                    "Error": {"Code": "AccessDeniedException", "Message": "no"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                model.name,
            )

    aws.clients.ecr.meta.events.register("before-call", refuse)
    try:
        with pytest.raises(OperatorError) as denied:
            reconcile_registry(
                aws.clients, desired_registry(pullThroughCacheRules=[QUAY]), RegistryDeps(), record=status.record
            )
    finally:
        aws.clients.ecr.meta.events.unregister("before-call", refuse)
    assert denied.value.reason == Reason.ACCESS_DENIED
    assert recorded(merged_status({}, status.fields)) is None, status.fields


@pytest.mark.parametrize("section", ["rule", "template"])
def test_a_delete_whose_answer_is_lost_is_retried_by_the_next_pass_not_stalled(aws: PartsHarness, section: str) -> None:
    """AWS deleted the rule (or template) removed from the spec, but the connection dropped before its answer.
    Sent again, the delete would be told the item does not exist: an unknown AWS error, Stalled until a resync.
    Not sent again, the pass fails as unreachable (retried), and the next pass finds it gone."""
    made = reconcile_registry(
        aws.clients, desired_registry(pullThroughCacheRules=[QUAY], creationTemplates=[TEMPLATE]), RegistryDeps()
    )
    status = report(made, {}, 1, "2026-12-03T00:00:00Z", observe_only=False, resync=False).status
    operation, prefix_field = (
        ("DeletePullThroughCacheRule", "ecrRepositoryPrefix")
        if section == "rule"
        else ("DeleteRepositoryCreationTemplate", "prefix")
    )
    sent: list[str] = []

    def lose_answer(request: Any, **_: Any) -> None:
        if not sent:
            sent.append(operation)
            getattr(
                aws.ecr,
                "delete_pull_through_cache_rule" if section == "rule" else "delete_repository_creation_template",
            )(**{prefix_field: "quay"})
            raise ConnectionClosedError(endpoint_url=request.url)

    aws.clients.ecr.meta.events.register(f"before-send.ecr.{operation}", lose_answer)
    removed = desired_registry(pullThroughCacheRules=[], creationTemplates=[])
    try:
        with pytest.raises(OperatorError) as lost:
            reconcile_registry(aws.clients, removed, deps_of(status))
    finally:
        aws.clients.ecr.meta.events.unregister(f"before-send.ecr.{operation}", lose_answer)
    assert lost.value.retryable, f"{lost.value.reason}: {lost.value.message}"
    again = reconcile_registry(aws.clients, removed, deps_of(status))
    assert prefixes(aws) == ([], []) and again.problems == []


def deny(aws: PartsHarness, operation: str) -> Callable[[], None]:
    """The operator's ECR client is refused ``operation`` (AccessDenied, before AWS sees it); returns the undo."""

    def refuse(model: Any, **_: Any) -> None:
        if model.name == operation:
            raise ClientError(
                {
                    "Error": {"Code": "AccessDeniedException", "Message": "no"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                model.name,
            )

    aws.clients.ecr.meta.events.register("before-call", refuse)
    return lambda: aws.clients.ecr.meta.events.unregister("before-call", refuse)


def test_an_item_deleted_before_a_later_write_failed_is_no_longer_claimed(aws: PartsHarness) -> None:
    """A template and a rule this EcrRegistry created leave the spec: the template's delete goes through, the
    rule's is refused (IAM). The template is gone; if status still claimed it, a template someone else makes under
    that prefix while the EcrRegistry is Stalled would be deleted by the pass after IAM is fixed."""
    made = reconcile_registry(
        aws.clients, desired_registry(pullThroughCacheRules=[QUAY], creationTemplates=[TEMPLATE]), RegistryDeps()
    )
    status = Status()
    status.fields = report(made, {}, 1, "2026-12-03T00:00:00Z", observe_only=False, resync=False).status
    assert status.deps().created == Created(frozenset({"quay"}), frozenset({"quay"}))
    removed = desired_registry(pullThroughCacheRules=[], creationTemplates=[])
    undo = deny(aws, "DeletePullThroughCacheRule")
    try:
        with pytest.raises(OperatorError) as denied:
            reconcile_registry(aws.clients, removed, status.deps(), record=status.record)
    finally:
        undo()
    assert denied.value.reason == Reason.ACCESS_DENIED
    assert prefixes(aws) == (["quay"], []), "the template went, the rule stayed"
    assert status.deps().created == Created(frozenset({"quay"}), frozenset()), status.fields

    their_template(aws)
    reconcile_registry(aws.clients, removed, status.deps(), record=status.record)
    assert prefixes(aws) == ([], ["quay"]), "their template stays, our rule went"


def test_a_delete_that_stopped_halfway_no_longer_claims_what_it_deleted(aws: PartsHarness) -> None:
    """deletionPolicy Delete: our rule is deleted, our template's delete is refused (IAM): the finalizer stays.
    Someone makes a rule under the freed prefix meanwhile; the delete retried after IAM is fixed must leave it."""
    made = reconcile_registry(
        aws.clients, desired_registry(pullThroughCacheRules=[QUAY], creationTemplates=[TEMPLATE]), RegistryDeps()
    )
    status = Status()
    status.fields = report(made, {}, 1, "2026-12-03T00:00:00Z", observe_only=False, resync=False).status
    delete = desired_registry(pullThroughCacheRules=[QUAY], creationTemplates=[TEMPLATE], deletionPolicy="Delete")
    place = RegistryPlacement(ACCOUNT, REGION)
    undo = deny(aws, "DeleteRepositoryCreationTemplate")
    try:
        with pytest.raises(OperatorError) as denied:
            delete_registry(aws.clients, delete, status.deps(), place, record=status.record)
    finally:
        undo()
    assert denied.value.reason == Reason.ACCESS_DENIED
    assert prefixes(aws) == ([], ["quay"])
    assert status.deps().created == Created(frozenset(), frozenset({"quay"})), status.fields

    their_rule(aws)
    delete_registry(aws.clients, delete, status.deps(), place, record=status.record)
    assert prefixes(aws) == (["quay"], []), "their rule stays, our template went"


def test_an_observe_only_pass_claims_nothing_it_did_not_create(aws: PartsHarness) -> None:
    """Observe-only plans the creates and sends none: status must not record those rules and templates as created,
    or one someone else makes under the prefix later is deleted once the annotation goes (spec removal, or
    deletionPolicy Delete)."""
    want = desired_registry(pullThroughCacheRules=[QUAY], creationTemplates=[TEMPLATE], deletionPolicy="Delete")
    seen = reconcile_registry(aws.clients, want, RegistryDeps(), observe_only=True)
    assert seen.planned and not seen.applied and prefixes(aws) == ([], [])
    status = report(seen, {}, 1, "2026-12-03T00:00:00Z", observe_only=True, resync=False).status
    assert deps_of(status).created == Created(), status

    their_rule(aws)
    their_template(aws)
    delete_registry(aws.clients, want, deps_of(status), RegistryPlacement(ACCOUNT, REGION))
    assert prefixes(aws) == (["quay"], ["quay"]), "theirs stay"
