"""The EcrRepository for the runtime: its controller (what one process remembers, and the pass, the inventory and
the delete of one object) and its Kind."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ecr_operator.core import metrics
from ecr_operator.core.api import OBSERVE_ONLY_ANNOTATION, annotation_flag
from ecr_operator.core.aws import AwsClients, ClientFactory
from ecr_operator.core.conditions import Event, Report, now
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.kind import EVENT, Deleted, Host, Kind, Passed, Subject, Timer
from ecr_operator.core.reasons import REPOSITORY_NOT_OURS, Reason
from ecr_operator.core.regions import refused_region_delete
from ecr_operator.core.settings import Settings
from ecr_operator.repository import export, placement
from ecr_operator.repository.adoption import Adoption
from ecr_operator.repository.crd import CRD
from ecr_operator.repository.manifest import desired_for, desired_for_delete, request_for
from ecr_operator.repository.namespaces import NamespacePolicies
from ecr_operator.repository.parts.key import KeyCreation
from ecr_operator.repository.placement import Placement
from ecr_operator.repository.reconcile import AdoptedThenFailed, Checkpoint, Outcome, delete, inventory, reconcile
from ecr_operator.repository.refresh import ViewRefresher
from ecr_operator.repository.render import Desired
from ecr_operator.repository.status import report, report_failure, report_inventory, report_not_ours
from ecr_operator.repository.view import RegionView, RegionViews

NOT_EMPTY_RETRY_SECONDS = 20.0
"""How soon a delete waiting for the repository's images to go looks again."""


def key_creation(status: Mapping[str, Any]) -> KeyCreation | None:
    """The key creation an earlier pass recorded in status, if any."""
    recorded = status.get("keyCreation") or {}
    token = recorded.get("token")
    return KeyCreation(str(token), recorded.get("keyId")) if token else None


class RepositoryController:
    """The EcrRepositories of one operator process: the resync's batched views, when each object last wrote to
    AWS (kept only while a view could be older), and the Namespace policies."""

    def __init__(self, settings: Settings, clients: ClientFactory) -> None:
        self.settings = settings
        self.clients = clients
        # A view serves every resync in a tenth of the interval (0.5-60 s); older views are re-read.
        self.views = RegionViews(settings.cluster_id, min(60.0, max(0.5, settings.shortest_resync_seconds / 10)))
        self.refresher = ViewRefresher(self.views)
        """Refreshes the views off the AWS pool, waited for in the event loop (refresh.py)."""
        self.last_write: dict[str, float] = {}
        """time.monotonic() after each object's last AWS write: batched views older than that are not used."""
        self.namespaces = NamespacePolicies(settings)

    async def reconcile(self, subject: Subject, host: Host, *, resync: bool) -> Passed:
        namespace = str(subject.namespace)
        # Images and findings change with pushes, not specs: read them on create and spec changes (and by the
        # inventory timer), not on resyncs and resumes, so those keep their read budget; but always while status
        # has no inventory yet (e.g. an object created as the operator started is first seen in its initial
        # listing, which kopf treats as a resume).
        with_inventory = (not resync and subject.cause in ("create", "update")) or not subject.status.get("images")
        granted_prefixes = self.namespaces.granted_prefixes(namespace)
        request = request_for(
            subject.spec, namespace, subject.name, subject.annotations, self.settings, granted_prefixes
        )
        adoption = self.namespaces.adoption(namespace, request.adopt)
        role_arn = self.namespaces.role_of(namespace)
        # Where the resource lives is pinned (placement.py): a pass that would act elsewhere is refused before any
        # AWS call, and the first pass that writes records the place before its first write.
        here = await self.place(host, request.desired, role_arn)
        self.refuse_if_moved(subject, here)
        clients = self.clients.for_region(request.desired.region, role_arn)

        def checkpoint(creation: KeyCreation | None) -> None:
            record = None if creation is None else {"token": creation.token, "keyId": creation.key_id}
            host.record({"keyCreation": record}, "the key creation in status before creating it")

        def pin() -> None:
            where = f"where the repository lives (account {here.account}, region {here.region}) before writing to AWS"
            host.record(here.status_fields(), where)

        def unpin() -> None:
            """AWS refused the first write of a resource pinned by this pass: nothing exists there, so a Namespace
            mapped elsewhere afterwards (the fix of that refusal, say) is no account change."""
            try:
                host.record(dict.fromkeys(here.status_fields()), "that nothing was written where it was to live")
            except OperatorError as exc:
                host.logger.warning("could not withdraw the place recorded before a refused write: %s", exc.message)

        try:
            # An AWS event's pass reads afresh: a batched view may be older than the change the event announces.
            view = await self.view(subject.uid, clients) if resync and subject.cause != EVENT else None
            outcome = await host.run(
                self.one_pass,
                subject.uid,
                clients,
                request.desired,
                adoption,
                view,
                request.observe_only,
                key_creation(subject.status),
                checkpoint,
                with_inventory,
                pin if placement.needs_pin(subject.status, here) else None,
                unpin if placement.recorded(subject.status) is None else None,
            )
        except OperatorError as error:
            if error.reason in REPOSITORY_NOT_OURS and request.export is not None:
                await self._withdraw_export(subject, host, request.export)
            raise
        outcome.account, outcome.role_arn = here.account, role_arn
        if request.export is not None and outcome.repository_uri is not None:
            await self._export(subject, host, request.export, outcome)
        written = report(
            outcome,
            subject.status,
            subject.generation,
            now(),
            observe_only=request.observe_only,
            resync=resync,
            prices=self.settings.prices,
        )
        return Passed(written, outcome.applied, outcome.planned, outcome.problems, request.observe_only)

    async def place(self, host: Host, desired: Desired, role_arn: str | None) -> Placement:
        """Where a pass for ``desired`` with ``role_arn`` acts; the operator's own account is asked of STS once per
        process, in a worker thread."""
        account = self.clients.known_account(role_arn)
        if account is None:
            account = await host.run(self.clients.account, role_arn)
        return Placement(account, desired.region, desired.repository_name, role_arn)

    @staticmethod
    def refuse_if_moved(subject: Subject, here: Placement) -> None:
        """AccountChanged / RegionChanged (or InvalidSpec for a spec.region or repositoryName that differs from the
        record) when ``here`` is not where status records the resource."""
        from_spec = bool(subject.spec.get("region"))
        refusal = placement.moved(placement.recorded(subject.status), here, region_from_spec=from_spec)
        if refusal is not None:
            raise refusal

    async def view(self, uid: str, clients: AwsClients) -> RegionView:
        """The batched view of the clients' (account, region) a resync of ``uid`` may use (never older than its
        last write), waited for without holding an AWS thread."""
        written = self.last_write.get(uid, 0.0)
        if written and time.monotonic() - written > self.views.max_age:
            del self.last_write[uid]  # every view it could be handed is newer: no need to keep it
        return await self.refresher.view(clients, written)

    def one_pass(
        self,
        uid: str,
        clients: AwsClients,
        desired: Desired,
        adoption: Adoption,
        view: RegionView | None,
        observe_only: bool = False,
        creation: KeyCreation | None = None,
        checkpoint: Checkpoint | None = None,
        with_inventory: bool = False,
        before_write: Callable[[], None] | None = None,
        nothing_written: Callable[[], None] | None = None,
    ) -> Outcome:
        """One pass for one object (in a worker thread) with the clients of its account; resyncs share the batched
        reads of the (account, region) in ``view``; a key creation is recorded by ``checkpoint`` before CreateKey,
        ``before_write`` records where the resource lives before the pass's first write, and ``nothing_written``
        withdraws that record when AWS refused the write."""
        outcome = reconcile(
            clients,
            desired,
            adoption=adoption,
            view=view,
            observe_only=observe_only,
            creation=creation,
            checkpoint=checkpoint,
            inventory=with_inventory,
            before_write=before_write,
            nothing_written=nothing_written,
        )
        if outcome.applied:
            self.last_write[uid] = time.monotonic()
        return outcome

    async def _export(self, subject: Subject, host: Host, config_map_name: str, outcome: Outcome) -> None:
        """spec.export: the identifiers into the ConfigMap; a refusal becomes one of the pass's problems."""
        assert outcome.repository_uri is not None
        data = export.export_data(
            outcome.repository_uri, outcome.repository_arn, outcome.registry_id, outcome.region, outcome.kms_key_arn
        )
        where = f"{subject.namespace}/{config_map_name}"
        try:
            existing = await host.read_configmap(config_map_name)
            decided = export.plan(existing, str(subject.namespace), config_map_name, subject.name, subject.uid, data)
            if decided.operation != "none":
                await host.write_configmap(config_map_name, decided.operation, decided.body)
                host.logger.info("export: %s ConfigMap %s", decided.operation, where)
        except OperatorError as problem:
            host.logger.warning("export: %s: %s", problem.reason, problem.message)
            outcome.problems.append(problem)

    async def _withdraw_export(self, subject: Subject, host: Host, config_map_name: str) -> None:
        """The repository is not this resource's: blank the exported identifiers (the next refused pass retries)."""
        try:
            existing = await host.read_configmap(config_map_name)
            decided = export.plan_withdrawal(existing, subject.uid)
            if decided.operation == "patch":
                await host.write_configmap(config_map_name, "patch", decided.body)
                host.logger.info("export: blanked ConfigMap %s: the repository is not ours", config_map_name)
        except OperatorError as problem:
            host.logger.warning("export: %s: %s", problem.reason, problem.message)

    def report_failure(self, error: OperatorError, subject: Subject, timestamp: str) -> Report:
        adopted = isinstance(error, AdoptedThenFailed)
        return report_failure(error, subject.status, subject.generation, timestamp, adopted=adopted)

    async def inventory(self, subject: Subject, host: Host) -> Report | None:
        """The inventory timer: only the images part, written to status.images / scan / estimatedMonthlyCostUSD.

        Runs for resources a pass has already found or created the repository of (status.repositoryUri). A
        failure is logged and left to the next interval: the conditions belong to the passes, and AWS errors
        there are retried.
        """
        if not subject.status.get("repositoryUri"):
            return None
        namespace = str(subject.namespace)
        try:
            desired = desired_for(subject.spec, namespace, subject.name, self.settings)
            role_arn = self.namespaces.role_of(namespace)
            self.refuse_if_moved(subject, await self.place(host, desired, role_arn))
            clients = self.clients.for_region(desired.region, role_arn)
            found = await host.run(inventory, clients, desired)
        except OperatorError as error:
            host.logger.warning("inventory not refreshed: %s: %s", error.reason, error.message)
            # A repository that is not this resource's any more is never read: what status showed of it goes.
            return report_not_ours() if error.reason in REPOSITORY_NOT_OURS else None
        if found is None:
            host.logger.info(
                "inventory: repository %s not found, or re-created while read; left to the next pass",
                desired.repository_name,
            )
            return None
        return report_inventory(found, subject.status, self.settings.prices)

    async def delete(self, subject: Subject, host: Host) -> Deleted:
        """The delete acts where status records the resource, reading only the deletion fields of the spec: neither a
        spec that no longer renders nor a Namespace mapping that changed or is gone keeps the finalizer or sends the
        delete elsewhere; where no identity reaches the recorded account, the finalizer stays (AccountChanged)."""
        if annotation_flag(subject.annotations, OBSERVE_ONLY_ANNOTATION):
            return Deleted(skipped="observe-only: the AWS side is left as it is")
        namespace = str(subject.namespace)
        desired = desired_for_delete(subject.spec, subject.status, namespace, subject.name, self.settings)
        recorded = [f"status.{f}" for f in ("repositoryArn", "kmsKeyArn", "keyCreation") if subject.status.get(f)]
        let_go = refused_region_delete(
            self.clients, desired.region, recorded, retain=desired.deletion_policy == "Retain"
        )
        if let_go is not None:
            return Deleted(skipped=let_go)
        if desired.deletion_policy == "Retain":
            return Deleted(skipped="deletionPolicy is Retain")
        current_role: str | OperatorError | None
        try:
            current_role = self.namespaces.role_of(namespace)
        except OperatorError as unmapped:
            current_role = unmapped
        pinned = placement.recorded(subject.status)
        if pinned is not None:
            role_arn = await host.run(placement.delete_role, pinned, current_role, self.clients.account)
        elif isinstance(current_role, OperatorError):
            if current_role.reason != Reason.ACCOUNT_NOT_MAPPED or recorded:
                raise current_role
            # No place recorded (it is pinned before any write) and refused at every pass: nothing was written.
            return Deleted(skipped="not mapped to an AWS account and no place recorded: it never wrote to AWS")
        else:
            role_arn = current_role
        clients = self.clients.for_region(desired.region, role_arn)
        outcome = await host.run(delete, clients, desired, key_creation(subject.status))
        events = [Event("Warning", Reason.KMS_KEY_IN_USE, outcome.key_kept)] if outcome.key_kept else []
        return Deleted(outcome.applied, outcome.skipped, events)

    def forget(self, subject: Subject) -> None:
        self.last_write.pop(subject.uid, None)

    def namespace(self, name: str, annotations: Mapping[str, str] | None) -> None:
        """Keep the Namespace annotations the policies read current: granted prefixes (namespace-prefix policy),
        allow-adoption (adoption mode annotated-namespaces), the AWS role of its account."""
        if annotations is None:
            self.namespaces.gone(name)
        else:
            self.namespaces.seen(name, annotations)


def _deletion_unblocked(spec: Mapping[str, Any]) -> bool:
    """Nothing in AWS can block this delete: the images go with the repository, or nothing is deleted."""
    return bool(spec.get("forceDelete")) or spec.get("deletionPolicy") == "Retain"


def _delete_retry_seconds(error: OperatorError) -> float | None:
    return NOT_EMPTY_RETRY_SECONDS if error.reason == Reason.REPOSITORY_NOT_EMPTY else None


KIND = Kind(
    crd=CRD,
    controller=RepositoryController,
    metrics=metrics.PassMetrics(metrics.PASSES, metrics.PASS_SECONDS, metrics.IN_SYNC_PASSES),
    resume_resyncs=True,
    events=True,
    deletion_unblocked=_deletion_unblocked,
    delete_retry_seconds=_delete_retry_seconds,
    timer=Timer("inventory", lambda settings: settings.inventory_seconds, RepositoryController.inventory),
    namespaces=lambda settings: settings.watches_namespaces,
    namespace=RepositoryController.namespace,
    forget=RepositoryController.forget,
)
