"""Orders the parts (key -> repository -> settings -> lifecycle -> policy -> tags) and collects the outcome.

Knows nothing of kopf: a test, a benchmark or a CLI can drive it exactly as the handlers do.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ecr_operator.core.actions import NEW_KEY_ID, Action, Applied, Plan, apply, read
from ecr_operator.core.aws import AwsClients
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.core.snapshot import RegionView
from ecr_operator.repository.adoption import NO_ADOPTION, Adoption
from ecr_operator.repository.parts import images, key, repository
from ecr_operator.repository.parts.key import KeyCreation
from ecr_operator.repository.render import Desired

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
    inventory: images.Inventory | None = None
    """Images and the newest image's scan, when the pass was asked for them (``inventory=True``)."""
    account: str | None = None
    """The AWS account the pass acted in (set by the caller, which knows the identity it used)."""
    role_arn: str | None = None
    """The role assumed there; None: the operator's own identity."""


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
    inventory: bool = False,
    before_write: Callable[[], None] | None = None,
) -> Outcome:
    """Observe every part, plan them in order (each part's outputs feed the next), then apply the whole plan;
    writes nothing when already in sync.

    ``view`` (a batched read of the region, for resyncs) replaces the per-resource DescribeRepositories
    and KMS tag reads. ``adoption`` says whether an existing repository nobody owns may be taken over.
    ``creation`` is the key creation recorded by an earlier pass (from status), and ``checkpoint`` records a new
    one before CreateKey and again with the key id right after it. ``inventory`` also observes the images part
    (DescribeImages, and the newest image's scan findings): asked on create and spec changes, never on a drift
    resync, whose read budget it would otherwise grow. ``before_write`` runs once before the first write (it records
    where the resource lives, so that every later pass and the delete act there).
    """
    listed = view.repositories.get(desired.repository_name) if view else None
    observed_repository = repository.observe(clients, desired.repository_name, listed)
    key_deps = key.KeyDeps(
        repository_exists=observed_repository is not None,
        repository_key=observed_repository.kms_key if observed_repository else None,
        token=creation.token if creation else uuid.uuid4().hex,
    )
    observed_key = key.observe(clients, desired, key_deps, view.key_tags if view else None, creation)
    key_plan = key.plan(desired, observed_key, key_deps)
    repository_plan = repository.plan(
        desired, observed_repository, repository.RepositoryDeps(key_plan.key_arn, adoption)
    )
    plans: list[Plan] = [repository_plan, key_plan]  # the repository's refusal (ownership) is reported first
    for part_plan in plans:
        if part_plan.refusal is not None:
            raise part_plan.refusal
    images_plan = None
    if inventory:
        # A repository still to be created holds nothing: no read. A refused repository was never read.
        observed_images = images.observe(clients, desired.repository_name) if observed_repository else None
        images_plan = images.plan(desired, observed_images)
    actions = [*key_plan.actions, *repository_plan.actions]

    outcome = Outcome(desired.repository_name, desired.region, planned=actions)
    outcome.problems = [*key_plan.problems, *repository_plan.problems]
    applied = Applied()
    if actions and not dry_run:
        if before_write is not None:
            before_write()
        _apply(clients, actions, applied, key_deps.token, checkpoint, adopting=repository_plan.adopting)

    outcome.applied = applied.actions
    outcome.adopted = repository_plan.adopting and _wrote_repository_tags(applied.actions)
    outcome.kms_key_arn = applied.resolve(key_plan.key_arn)
    outcome.repository_uri = applied.resolve(repository_plan.uri)
    outcome.repository_arn = applied.resolve(repository_plan.arn)
    outcome.registry_id = applied.resolve(repository_plan.registry_id)
    outcome.inventory = images_plan.inventory if images_plan is not None else None
    for action in outcome.applied:
        log.info("%s/%s: %s", desired.owner.namespace, desired.owner.name, action.summary)
    if outcome.adopted:
        log.info("%s/%s: adopted repository %s", desired.owner.namespace, desired.owner.name, desired.repository_name)
    return outcome


def _apply(
    clients: AwsClients,
    actions: list[Action],
    applied: Applied,
    token: str,
    checkpoint: Checkpoint | None,
    *,
    adopting: bool,
) -> None:
    """Apply the plan; a key creation is recorded before CreateKey and, with its id, right after it."""
    record = checkpoint or (lambda _: None)
    if actions[0].operation == "create_key":
        record(KeyCreation(token))

    def after(action: Action, done: Applied) -> None:
        if action.operation == "create_key":
            record(KeyCreation(token, done.values[NEW_KEY_ID]))

    try:
        apply(clients, actions, applied, after)
    except OperatorError as exc:
        created_key = NEW_KEY_ID in applied.values
        if exc.reason == Reason.ALREADY_EXISTS and created_key and not _did(applied, "kms", "create_alias"):
            # A failover race: another replica's key won the alias; ours was never used.
            apply(clients, key.plan_discard().actions, applied)
        if adopting and _wrote_repository_tags(applied.actions):
            raise AdoptedThenFailed(exc) from exc
        raise


def _did(applied: Applied, service: str, operation: str) -> bool:
    return any(a.service == service and a.operation == operation for a in applied.actions)


def inventory(clients: AwsClients, desired: Desired) -> images.Inventory | None:
    """Only the images part (the ``inventory`` timer): None when the repository does not exist."""
    observed = images.observe(clients, desired.repository_name)
    if observed is None:
        return None
    return images.plan(desired, observed).inventory


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
        apply(clients, repository.plan_delete(desired, observed_repository).actions, applied)
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
        key_deps = key.KeyDeps(
            repository_exists=False,
            repository_key=observed_repository.kms_key if observed_repository else None,
            token=creation.token if creation else "",
        )
        observed_key = key.observe(clients, desired, key_deps, creation=creation, rotation=False)
        users = _repositories_using(clients, observed_key.arn) if isinstance(observed_key, key.ObservedKey) else []
        if isinstance(observed_key, key.ObservedKey) and users:
            outcome.key_kept = (
                f"KMS key {observed_key.arn} is kept: repositories {', '.join(users)} are encrypted with it and "
                "would become unreadable; delete the key by hand once they are gone"
            )
        apply(clients, key.plan_delete(desired, observed_key, keep_key=bool(users)).actions, applied)
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
