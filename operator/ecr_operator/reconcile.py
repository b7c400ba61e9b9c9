"""Orders the parts (key -> repository -> settings -> lifecycle -> policy -> tags) and collects the outcome.

Knows nothing of kopf: a test, a benchmark or a CLI can drive it exactly as the handlers do.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .adoption import NO_ADOPTION, Adoption
from .aws import AwsClients
from .errors import OperatorError
from .parts import key, repository
from .parts.actions import NEW_KEY, Action, Applied, apply, read
from .parts.key import KeyCreation
from .reasons import Reason
from .render import Desired
from .snapshot import RegionView

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    repository_name: str
    region: str
    repository_uri: str | None = None
    repository_arn: str | None = None
    registry_id: str | None = None
    kms_key_arn: str | None = None
    applied: list[Action] = field(default_factory=list)
    planned: list[Action] = field(default_factory=list)
    problems: list[OperatorError] = field(default_factory=list)
    """Differences that cannot be fixed in place; the resource is not Ready while there are any."""
    adopted: bool = False
    """This pass adopted the repository: it had no owner's tags and the pass wrote ours onto it."""


class AdoptedThenFailed(OperatorError):
    """A write failed after this pass had adopted the repository (written its ownership tags): the status must
    still record the adoption, because the next pass sees a repository that is already owned."""

    def __init__(self, cause: OperatorError) -> None:
        super().__init__(cause.reason, cause.message, retryable=cause.retryable)


def _wrote_repository_tags(actions: list[Action]) -> bool:
    return any(action.service == "ecr" and action.operation == "tag_resource" for action in actions)


Checkpoint = Callable[[KeyCreation], None]
"""Records a key creation durably (the resource's status) before the pass goes on; raises if it cannot."""


def reconcile(
    clients: AwsClients,
    desired: Desired,
    *,
    adoption: Adoption = NO_ADOPTION,
    dry_run: bool = False,
    view: RegionView | None = None,
    creation: KeyCreation | None = None,
    checkpoint: Checkpoint | None = None,
) -> Outcome:
    """Observe AWS, plan the differences and apply them; writes nothing when already in sync.

    ``view`` (a batched read of the region, for resyncs) replaces the per-resource DescribeRepositories
    and KMS tag reads. ``adoption`` says whether an existing repository nobody owns may be taken over.
    ``creation`` is the key creation recorded by an earlier pass (from status), and ``checkpoint`` records a new
    one before CreateKey and again with the key id right after it.
    """
    outcome = Outcome(desired.repository_name, desired.region)
    listed = view.repositories.get(desired.repository_name) if view else None
    observed_repository = repository.observe(clients, desired.repository_name, listed)
    if observed_repository is not None:
        repository.check_ownership(desired, observed_repository, adoption)
    adopting = observed_repository is not None and observed_repository.owner is None

    token = creation.token if creation else uuid.uuid4().hex
    key_plan = _plan_key(clients, desired, observed_repository, view, creation, token)
    key_actions, key_arn = key_plan.actions, key_plan.key_arn
    outcome.problems.extend(key_plan.problems)

    applied = Applied()
    outcome.planned.extend(key_actions)
    if key_actions and not dry_run:
        record = checkpoint or (lambda _: None)
        if key_actions[0].operation == "create_key":
            record(KeyCreation(token))
        try:
            apply(clients, key_actions, applied, on_new_key=lambda key_id: record(KeyCreation(token, key_id)))
        except OperatorError as exc:
            created_key = applied.responses.get("create_key")
            if exc.reason == Reason.ALREADY_EXISTS and created_key and "create_alias" not in applied.responses:
                applied.actions.append(key.discard_unaliased_new_key(clients, created_key["KeyMetadata"]["KeyId"]))
            raise
        created = applied.responses.get("create_key")
        if created is not None:
            key_arn = created["KeyMetadata"]["Arn"]

    planned_key_arn = key_arn
    if planned_key_arn is None and dry_run and desired.manages_key:
        planned_key_arn = NEW_KEY  # a dry run shows the repository with the key it would create
    repository_plan = repository.plan(desired, observed_repository, planned_key_arn)
    outcome.planned.extend(repository_plan.actions)
    outcome.problems.extend(repository_plan.problems)
    if repository_plan.actions and not dry_run:
        try:
            apply(clients, repository_plan.actions, applied)
        except OperatorError as exc:
            if adopting and _wrote_repository_tags(applied.actions):
                raise AdoptedThenFailed(exc) from exc
            raise

    outcome.applied = applied.actions
    outcome.adopted = adopting and _wrote_repository_tags(applied.actions)
    outcome.kms_key_arn = key_arn
    created_repository = applied.responses.get("create_repository")
    if created_repository is not None:
        details = created_repository["repository"]
        outcome.repository_uri = details["repositoryUri"]
        outcome.repository_arn = details["repositoryArn"]
        outcome.registry_id = details["registryId"]
    elif observed_repository is not None:
        outcome.repository_uri = observed_repository.uri
        outcome.repository_arn = observed_repository.arn
        outcome.registry_id = observed_repository.registry_id
    for action in outcome.applied:
        log.info("%s/%s: %s", desired.owner.namespace, desired.owner.name, action.summary)
    if outcome.adopted:
        log.info("%s/%s: adopted repository %s", desired.owner.namespace, desired.owner.name, desired.repository_name)
    return outcome


@dataclass
class _KeyPlan:
    actions: list[Action] = field(default_factory=list)
    key_arn: str | None = None
    """The key the repository is (or will be) encrypted with; None for AES256 or a key still to create."""
    problems: list[OperatorError] = field(default_factory=list)


def _plan_key(
    clients: AwsClients,
    desired: Desired,
    observed_repository: repository.ObservedRepository | None,
    view: RegionView | None,
    creation: KeyCreation | None,
    token: str,
) -> _KeyPlan:
    """Which key the repository uses and what the operator's own key needs; never a key ECR could not use."""
    if desired.user_kms_key_arn is not None:
        if observed_repository is None:
            key.observe_user_key(clients, desired.user_kms_key_arn, desired)
        return _KeyPlan(key_arn=desired.user_kms_key_arn)
    if not desired.manages_key:
        return _KeyPlan()
    repository_key = observed_repository.kms_key if observed_repository else None
    observed_key = key.observe_for_repository(
        clients, desired, repository_key, view.key_tags if view else None, creation=creation
    )
    if observed_key is not None and observed_key.owner != desired.owner and repository_key is not None:
        # The repository already uses a key we did not create: leave that key alone, say so.
        return _KeyPlan(
            key_arn=repository_key,
            problems=[
                OperatorError(
                    Reason.KMS_KEY_NOT_OWNED,
                    f"repository {desired.repository_name} is encrypted with KMS key {repository_key}, "
                    "which ecr-operator does not own; its rotation and tags are not managed",
                    retryable=False,
                )
            ],
        )
    if observed_key is None and observed_repository is not None:
        # ECR cannot re-encrypt an existing repository: a new key could never be used, so make none.
        # (AES256 shows up as EncryptionMismatch in the repository plan.)
        problems = []
        if repository_key is not None:
            problems.append(
                OperatorError(
                    Reason.KMS_KEY_NOT_FOUND,
                    f"repository {desired.repository_name} is encrypted with KMS key {repository_key}, "
                    "which does not exist or is not visible",
                    retryable=False,
                )
            )
        return _KeyPlan(key_arn=repository_key, problems=problems)
    return _KeyPlan(key.plan(desired, observed_key, token), observed_key.arn if observed_key else None)


@dataclass
class DeleteOutcome:
    applied: list[Action] = field(default_factory=list)
    skipped: str | None = None
    """Why nothing was deleted (not ours, already gone), for the log."""
    key_kept: str | None = None
    """Why the managed key was kept although the resource is deleted (a Warning event)."""


def delete(clients: AwsClients, desired: Desired, creation: KeyCreation | None = None) -> DeleteOutcome:
    """Delete the repository (raises RepositoryNotEmpty when it has images and force is off), then our key.

    ``creation`` (from status) finds a key whose creation was interrupted; a key that any repository of the
    region still uses is never scheduled for deletion.
    """
    outcome = DeleteOutcome()
    if desired.deletion_policy == "Retain":
        outcome.skipped = "deletionPolicy is Retain"
        return outcome
    applied = Applied()
    observed_repository = repository.observe(clients, desired.repository_name, policies=False)
    if observed_repository is not None and observed_repository.owner != desired.owner:
        outcome.skipped = f"repository {desired.repository_name} is not owned by this resource; left untouched"
        return outcome
    try:
        apply(clients, repository.plan_delete(desired, observed_repository), applied)
    except OperatorError as exc:
        if exc.reason == Reason.REPOSITORY_NOT_EMPTY:
            raise OperatorError(
                Reason.REPOSITORY_NOT_EMPTY,
                f"repository {desired.repository_name} still has images; set spec.forceDelete: true to delete "
                "them with it, or deletionPolicy: Retain to keep it",
                retryable=True,
            ) from exc
        raise
    if desired.manages_key:
        repository_key = observed_repository.kms_key if observed_repository else None
        observed_key = key.observe_for_repository(clients, desired, repository_key, rotation=False, creation=creation)
        users = _repositories_using(clients, observed_key.arn) if observed_key else []
        if observed_key is not None and users:
            outcome.key_kept = (
                f"KMS key {observed_key.arn} is kept: repositories {', '.join(users)} are encrypted with it and "
                "would become unreadable; delete the key by hand once they are gone"
            )
            apply(clients, key.plan_delete_alias_only(desired, observed_key), applied)
        else:
            apply(clients, key.plan_delete(desired, observed_key), applied)
    outcome.applied = applied.actions
    return outcome


def _repositories_using(clients: AwsClients, key_arn: str) -> list[str]:
    """Every repository in the region encrypted with ``key_arn`` (read fresh: a delete must not trust a snapshot)."""
    users = []
    paging: dict[str, Any] = {"maxResults": 1000}
    while True:
        page = read(clients, "ecr", "describe_repositories", **paging)
        for listed in page.get("repositories", []):
            if (listed.get("encryptionConfiguration") or {}).get("kmsKey") == key_arn:
                users.append(str(listed["repositoryName"]))
        if not page.get("nextToken"):
            return sorted(users)
        paging["nextToken"] = page["nextToken"]
