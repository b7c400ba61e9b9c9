"""One EcrRepository pass: observe the parts (key, repository, and images when asked), plan them in order, each
with the outputs of the parts before it, apply the whole plan; and the delete.

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
from ecr_operator.core.errors import OperatorError, refused_by_aws
from ecr_operator.core.part import Part, ReadPart
from ecr_operator.core.reasons import Reason
from ecr_operator.repository.adoption import NO_ADOPTION, Adoption
from ecr_operator.repository.parts import images, key, repository
from ecr_operator.repository.parts.key import KeyCreation
from ecr_operator.repository.render import Desired, Owner
from ecr_operator.repository.view import RegionView

log = logging.getLogger(__name__)

# The parts, as the part protocol types them (core/part.py): a part whose signature drifts fails the type check.
REPOSITORY: Part[
    Desired,
    repository.RepositoryReads,
    RegionView | None,
    repository.ObservedRepository | None,
    repository.RepositoryDeps,
    repository.RepositoryPlan,
] = repository
KEY: Part[Desired, key.KeyDeps, RegionView | None, key.ObservedKey | key.UserKey | None, key.KeyDeps, key.KeyPlan] = key
IMAGES: ReadPart[Desired, None, None, images.ObservedImages | None, None, images.ImagesPlan] = images

OWNERSHIP = repository.RepositoryReads(policies=False)
"""The reads that say which repository is under the name and whose it is (DescribeRepositories, its tags)."""


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
        super().__init__(cause.reason, cause.message)


def _wrote_repository_tags(actions: list[Action]) -> bool:
    return any(action.service == "ecr" and action.operation == "tag_resource" for action in actions)


Checkpoint = Callable[[KeyCreation | None], None]
"""Records a key creation durably (the resource's status) before the pass goes on; raises if it cannot. None
clears the record: AWS refused the CreateKey, so there is no key to look for."""


def reconcile(
    clients: AwsClients,
    desired: Desired,
    *,
    adoption: Adoption = NO_ADOPTION,
    observe_only: bool = False,
    view: RegionView | None = None,
    creation: KeyCreation | None = None,
    checkpoint: Checkpoint | None = None,
    inventory: bool = False,
    before_write: Callable[[], None] | None = None,
    nothing_written: Callable[[], None] | None = None,
) -> Outcome:
    """Observe every part, plan them in order (each part's outputs feed the next), then apply the whole plan;
    writes nothing when already in sync.

    ``view`` (a batched read of the region, for resyncs) replaces the per-resource DescribeRepositories and KMS tag
    reads. ``adoption`` says whether an existing repository nobody owns may be taken over. ``creation`` is the key
    creation recorded by an earlier pass (from status), and ``checkpoint`` records a new one before CreateKey and
    again with the key id right after it. ``inventory`` also observes the images part (DescribeImages, and the
    newest image's scan findings): asked on create and spec changes, never on a drift resync, whose read budget it
    would otherwise grow. ``before_write`` runs once before the first write (it records where the resource lives, so
    that every later pass and the delete act there); ``nothing_written`` runs when AWS refused that first write, so
    nothing of this pass exists (it withdraws a record ``before_write`` made first).
    """
    observed_repository = REPOSITORY.observe(clients, desired, repository.ALL, view)
    key_deps = key.KeyDeps(
        repository_exists=observed_repository is not None,
        repository_key=observed_repository.kms_key if observed_repository else None,
        token=creation.token if creation else uuid.uuid4().hex,
        creation=creation,
    )
    observed_key = KEY.observe(clients, desired, key_deps, view)
    key_plan = KEY.plan(desired, observed_key, key_deps)
    repository_plan = REPOSITORY.plan(
        desired, observed_repository, repository.RepositoryDeps(key_plan.key_arn, adoption)
    )
    plans: list[Plan] = [repository_plan, key_plan]  # the repository's refusal (ownership) is reported first
    for part_plan in plans:
        if part_plan.refusal is not None:
            raise part_plan.refusal
    actions = [*key_plan.actions, *repository_plan.actions]

    outcome = Outcome(desired.repository_name, desired.region, planned=actions)
    outcome.problems = [*key_plan.problems, *repository_plan.problems]
    applied = Applied()
    if actions and not observe_only:
        if before_write is not None:
            before_write()
        try:
            _apply(clients, actions, applied, key_deps.token, checkpoint, adopting=repository_plan.adopting)
        except OperatorError as exc:
            if not applied.actions and refused_by_aws(exc) and nothing_written is not None:
                nothing_written()
            raise

    outcome.applied = applied.actions
    outcome.adopted = repository_plan.adopting and _wrote_repository_tags(applied.actions)
    outcome.kms_key_arn = applied.resolve(key_plan.key_arn)
    for action in outcome.applied:
        log.info("%s/%s: %s", desired.owner.namespace, desired.owner.name, action.summary)
    if outcome.adopted:
        log.info("%s/%s: adopted repository %s", desired.owner.namespace, desired.owner.name, desired.repository_name)
    if observed_repository is None or observed_repository.owner == desired.owner or outcome.adopted:
        # Ours (existing, created now or adopted now). A repository only to be adopted (observe-only) is not
        # yet: its identifiers and images are nobody's business here (status, export).
        outcome.repository_uri = applied.resolve(repository_plan.uri)
        outcome.repository_arn = applied.resolve(repository_plan.arn)
        outcome.registry_id = applied.resolve(repository_plan.registry_id)
        if inventory:
            # A repository just created (or still to be created) holds nothing: no read.
            outcome.inventory = (
                _owned_inventory(clients, desired, observed_repository)
                if observed_repository
                else IMAGES.plan(desired, None, None).inventory
            )
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
    """Apply the plan; a key creation is recorded before CreateKey and, with its id, right after it. A CreateKey
    that AWS refused (an error answer) created nothing: its record is cleared, so later passes do not search every
    key of the account for it. Without an answer (timeout, lost connection) the key may exist: the record stays."""
    record = checkpoint or (lambda _: None)
    if actions[0].operation == "create_key":
        record(KeyCreation(token))

    def after(action: Action, done: Applied) -> None:
        if action.operation == "create_key":
            record(KeyCreation(token, done.values[NEW_KEY_ID]))

    try:
        apply(clients, actions, applied, after)
    except OperatorError as exc:
        failed = actions[len(applied.actions)] if len(applied.actions) < len(actions) else None
        if failed is not None and failed.operation == "create_key" and refused_by_aws(exc):
            _forget_creation(record, exc)
        created_key = NEW_KEY_ID in applied.values
        if exc.reason == Reason.ALREADY_EXISTS and created_key and not _did(applied, "kms", "create_alias"):
            # A failover race: another replica's key won the alias; ours was never used.
            apply(clients, key.plan_discard().actions, applied)
        if adopting and _wrote_repository_tags(applied.actions):
            raise AdoptedThenFailed(exc) from exc
        raise


def _forget_creation(record: Checkpoint, refusal: OperatorError) -> None:
    """Clear the record of a CreateKey AWS refused; if that fails too, the next pass searches once and finds no key
    (as before), so the refusal stays the error to report."""
    try:
        record(None)
    except OperatorError as exc:
        log.warning("could not clear the record of a refused key creation (%s): %s", refusal.reason, exc.message)


def _did(applied: Applied, service: str, operation: str) -> bool:
    return any(a.service == service and a.operation == operation for a in applied.actions)


def inventory(clients: AwsClients, desired: Desired) -> images.Inventory | None:
    """Only the images part (the ``inventory`` timer): None when the repository does not exist, or was deleted or
    re-created while its images were read (the next refresh reads it again).

    Raises RepositoryNotOwned, before any image is read, when the repository under the name is not this
    resource's (any more), and after reading them if it changed hands meanwhile (when they found an image):
    someone else's images, findings and cost never reach this resource's status.
    """
    observed_repository = REPOSITORY.observe(clients, desired, OWNERSHIP, None)
    if observed_repository is None:
        return None
    if observed_repository.owner != desired.owner:
        raise _not_owned(desired, observed_repository.owner, "its images are not read")
    return _owned_inventory(clients, desired, observed_repository)


def _owned_inventory(
    clients: AwsClients, desired: Desired, ours: repository.ObservedRepository
) -> images.Inventory | None:
    """The images and newest scan of ``ours`` (a repository found to be this resource's), then, when an image was
    read, its ownership once more: a repository that changed hands while they were read raises RepositoryNotOwned,
    and one deleted or re-created meanwhile (another creation time) gives None; what was read then is not shown.
    A read that found no image (or no repository) holds nothing of anyone's to hide: no second ownership read."""
    observed = IMAGES.observe(clients, desired, None, None)
    if observed is None or (observed.images and not _still_ours(clients, desired, ours)):
        log.info("%s: deleted or re-created while its images were read; not shown", desired.repository_name)
        return None
    return IMAGES.plan(desired, observed, None).inventory


def _still_ours(clients: AwsClients, desired: Desired, ours: repository.ObservedRepository) -> bool:
    """Whether the repository under the name is still ``ours`` (not deleted or re-created meanwhile); raises
    RepositoryNotOwned when it changed hands."""
    after = REPOSITORY.observe(clients, desired, OWNERSHIP, None)
    if after is not None and after.owner != desired.owner:
        raise _not_owned(desired, after.owner, "its images are not shown")
    return after is not None and after.instance == ours.instance


def _not_owned(desired: Desired, owner: Owner | None, consequence: str) -> OperatorError:
    return OperatorError(
        Reason.REPOSITORY_NOT_OWNED,
        f"repository {desired.repository_name} is "
        + (f"owned by {owner.describe()}" if owner else "not managed by ecr-operator")
        + f"; {consequence}",
    )


@dataclass
class DeleteOutcome:
    applied: list[Action] = field(default_factory=list)
    skipped: str | None = None
    """Why nothing was deleted (not ours, already gone), for the log."""
    key_kept: str | None = None
    """Why the managed key was kept although the resource is deleted (a Warning event)."""


def delete(clients: AwsClients, desired: Desired, creation: KeyCreation | None = None) -> DeleteOutcome:
    """Delete our repository (raises RepositoryNotEmpty when it has images and force is off), then our key.

    The key and its alias are this resource's whatever became of the repository name: a repository someone else
    now owns under it is left alone, but our key still goes (else its alias would block the name for good).
    ``creation`` (from status) finds a key whose creation was interrupted; a key that any repository of the
    region still uses is never scheduled for deletion, and a key or alias of someone else's is never touched.
    """
    outcome = DeleteOutcome()
    if desired.deletion_policy == "Retain":
        outcome.skipped = "deletionPolicy is Retain"
        return outcome
    applied = Applied()
    observed_repository = REPOSITORY.observe(clients, desired, OWNERSHIP, None)
    ours = observed_repository is not None and observed_repository.owner == desired.owner
    if observed_repository is not None and not ours:
        outcome.skipped = f"repository {desired.repository_name} is not owned by this resource; left untouched"
    try:
        apply(clients, repository.plan_delete(desired, observed_repository).actions, applied)
    except OperatorError as exc:
        if exc.reason == Reason.REPOSITORY_NOT_EMPTY:
            raise OperatorError(
                Reason.REPOSITORY_NOT_EMPTY,
                f"repository {desired.repository_name} still has images; set spec.forceDelete: true to delete "
                "them with it, or deletionPolicy: Retain to keep it",
            ) from exc
        raise
    if desired.manages_key:
        key_deps = key.KeyDeps(
            repository_exists=False,
            # Someone else's repository says nothing about our key: it is found by its alias (or creation).
            repository_key=observed_repository.kms_key if ours and observed_repository else None,
            token=creation.token if creation else "",
            creation=creation,
            rotation=False,
        )
        observed_key = KEY.observe(clients, desired, key_deps, None)
        owned_key = isinstance(observed_key, key.ObservedKey) and observed_key.owner == desired.owner
        users = _repositories_using(clients, observed_key.arn) if owned_key and observed_key else []
        if users and observed_key is not None:
            outcome.key_kept = (
                f"KMS key {observed_key.arn} is kept: repositories {', '.join(users)} are encrypted with it and "
                "would become unreadable; delete the key by hand once they are gone"
            )
        apply(clients, key.plan_delete(desired, observed_key, key_deps, keep_key=bool(users)).actions, applied)
    outcome.applied = applied.actions
    return outcome


def _repositories_using(clients: AwsClients, key_arn: str) -> list[str]:
    """Every repository in the region encrypted with ``key_arn`` (read fresh: never a resync's view)."""
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
