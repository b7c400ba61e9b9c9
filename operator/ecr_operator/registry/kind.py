"""The EcrRegistry for the runtime: its controller (the pass and the delete of one object, with which EcrRegistry
manages the registry read fresh at each) and its Kind, served by one shard of a sharded installation."""

from __future__ import annotations

from prometheus_client import Counter

from ecr_operator.core.api import OBSERVE_ONLY_ANNOTATION, annotation_flag
from ecr_operator.core.aws import ClientFactory, account_of
from ecr_operator.core.conditions import Report, now
from ecr_operator.core.errors import OperatorError, SpecError
from ecr_operator.core.kind import Deleted, Host, Kind, Passed, Subject
from ecr_operator.core.metrics import PassMetrics
from ecr_operator.core.regions import refused_region_delete
from ecr_operator.core.settings import Settings
from ecr_operator.registry.crd import CRD
from ecr_operator.registry.items import Created, created_names
from ecr_operator.registry.manifest import desired_registry, desired_registry_for_delete
from ecr_operator.registry.parts.registry import RegistryDeps
from ecr_operator.registry.reconcile import (
    claim_of,
    delete_registry,
    managed_by,
    moved,
    reconcile_registry,
    recorded,
)
from ecr_operator.registry.status import report, report_failure

REGISTRY_PASSES = Counter(
    "ecr_operator_registry_passes_total",
    "EcrRegistry passes by trigger (change, resync) and result (in_sync, applied, problem, observe_only, refused,"
    " error).",
    ["trigger", "result"],
)


class RegistryController:
    """The EcrRegistries of one operator process (nothing is remembered between passes)."""

    def __init__(self, settings: Settings, clients: ClientFactory) -> None:
        self.settings = settings
        self.clients = clients

    async def _deps(self, subject: Subject, host: Host) -> RegistryDeps:
        """Which EcrRegistry manages this one's registry, from a fresh list (see ``registry/reconcile.py``), and
        what this one created (its status)."""
        region = self.settings.region
        me = {
            "metadata": {"name": subject.name, "creationTimestamp": subject.created},
            "spec": subject.spec,
            "status": subject.status,
        }
        claims = [claim_of(item, region) for item in await host.list_objects()]
        created = Created(
            rules=created_names(subject.status.get("pullThroughCacheRules")),
            templates=created_names(subject.status.get("creationTemplates")),
        )
        return RegistryDeps(managed_by(claim_of(me, region), claims), created)

    async def reconcile(self, subject: Subject, host: Host, *, resync: bool) -> Passed:
        observe_only = annotation_flag(subject.annotations, OBSERVE_ONLY_ANNOTATION)
        desired = desired_registry(subject.spec, subject.name, self.settings)
        # The registry and region are pinned at the first write: another --region (or account) is refused before
        # any AWS call when it is known without one (a role's ARN names its account), else after DescribeRegistry.
        pinned = recorded(subject.status)
        account = account_of(desired.role_arn) if desired.role_arn else None
        region_from_spec = bool(subject.spec.get("region"))
        refusal = moved(pinned, desired.region, account, region_from_spec=region_from_spec, role_arn=desired.role_arn)
        if refusal is not None:
            raise refusal
        deps = await self._deps(subject, host)
        clients = self.clients.for_region(desired.region, desired.role_arn)
        outcome = await host.run(
            reconcile_registry, clients, desired, deps, observe_only=observe_only, pinned=pinned, record=host.record
        )
        written = report(outcome, subject.status, subject.generation, now(), observe_only=observe_only, resync=resync)
        return Passed(written, outcome.applied, outcome.planned, outcome.problems, observe_only)

    def report_failure(self, error: OperatorError, subject: Subject, timestamp: str) -> Report:
        return report_failure(error, subject.status, subject.generation, timestamp)

    async def delete(self, subject: Subject, host: Host) -> Deleted:
        if annotation_flag(subject.annotations, OBSERVE_ONLY_ANNOTATION):
            return Deleted(skipped="observe-only: the registry settings are left as they are")
        try:
            desired = desired_registry_for_delete(subject.spec, subject.status, subject.name, self.settings)
        except SpecError as error:
            return Deleted(skipped=f"the registry settings are left as they are: the spec cannot be read: {error}")
        made = [
            f"status.{name}"
            for name in ("registryId", "pullThroughCacheRules", "creationTemplates")
            if subject.status.get(name)
        ]
        let_go = refused_region_delete(self.clients, desired.region, made, retain=desired.deletion_policy == "Retain")
        if let_go is not None:
            return Deleted(skipped=let_go)
        deps = await self._deps(subject, host)
        clients = self.clients.for_region(desired.region, desired.role_arn)
        applied = await host.run(delete_registry, clients, desired, deps, recorded(subject.status), host.record)
        return Deleted(applied, skipped=None if applied else f"deletionPolicy {desired.deletion_policy}")


KIND = Kind(
    crd=CRD,
    controller=RegistryController,
    metrics=PassMetrics(REGISTRY_PASSES, part="registry"),
    handler_prefix="registry-",
    served=lambda settings: settings.manage_registries,
)
