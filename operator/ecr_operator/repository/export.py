"""spec.export: the repository's identifiers in a ConfigMap of the resource's namespace, for workloads (pure).

The ConfigMap carries an owner reference to the EcrRepository (controller, so the garbage collector deletes it
with the resource), and the operator writes only a ConfigMap that carries this reference: one that exists without
it belongs to someone else and is left as it is (``ExportConfigMapNotOwned``). Once the repository under the
resource's name is not the resource's any more, its identifiers are blanked (``plan_withdrawal``). The controller
(``kind.py``) reads and writes it through the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ecr_operator.core.api import GROUP, VERSION
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.reasons import Reason
from ecr_operator.repository.spec import KIND

KEYS = ("repositoryUri", "repositoryArn", "registryId", "region", "kmsKeyArn")
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "ecr-operator"


def export_data(
    repository_uri: str, repository_arn: str | None, registry_id: str | None, region: str, kms_key_arn: str | None
) -> dict[str, str]:
    """The ConfigMap's data; ``kmsKeyArn`` is empty for AES256 (every key is always present)."""
    values = (repository_uri, repository_arn, registry_id, region, kms_key_arn)
    return {key: value or "" for key, value in zip(KEYS, values, strict=True)}


def owner_reference(name: str, uid: str) -> dict[str, Any]:
    """The EcrRepository as the ConfigMap's controller. ``blockOwnerDeletion`` is off: a foreground deletion of
    the resource need not wait for it (and setting it would need update on the resource's finalizers)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }


def owned_by(configmap: Mapping[str, Any], uid: str) -> bool:
    references = (configmap.get("metadata") or {}).get("ownerReferences") or []
    return any(reference.get("uid") == uid for reference in references)


@dataclass(frozen=True)
class ExportPlan:
    operation: Literal["create", "patch", "none"]
    body: dict[str, Any]
    """The ConfigMap to create, or the merge patch to apply."""


def plan(
    existing: Mapping[str, Any] | None,
    namespace: str,
    config_map_name: str,
    owner_name: str,
    owner_uid: str,
    data: Mapping[str, str],
) -> ExportPlan:
    """Create the ConfigMap, patch our data into it, or nothing; raises ExportConfigMapNotOwned for a foreign one."""
    if existing is None:
        return ExportPlan(
            "create",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": config_map_name,
                    "namespace": namespace,
                    "labels": {MANAGED_BY_LABEL: MANAGED_BY},
                    "ownerReferences": [owner_reference(owner_name, owner_uid)],
                },
                "data": dict(data),
            },
        )
    if not owned_by(existing, owner_uid):
        raise OperatorError(
            Reason.EXPORT_CONFIG_MAP_NOT_OWNED,
            f"ConfigMap {namespace}/{config_map_name} exists and is not owned by this EcrRepository; it is left as "
            "it is: choose another spec.export.configMapName or delete that ConfigMap",
        )
    current = existing.get("data") or {}
    changed = {key: value for key, value in data.items() if current.get(key) != value}
    return ExportPlan("patch", {"data": changed}) if changed else ExportPlan("none", {})


def plan_withdrawal(existing: Mapping[str, Any] | None, owner_uid: str) -> ExportPlan:
    """The repository under the resource's name is not the resource's (any more): blank the identifiers in our
    ConfigMap, so that no workload pulls from someone else's repository. Creates nothing, and a ConfigMap of
    someone else's is left as it is."""
    if existing is None or not owned_by(existing, owner_uid):
        return ExportPlan("none", {})
    current = existing.get("data") or {}
    blanked = {key: "" for key in KEYS if current.get(key)}
    return ExportPlan("patch", {"data": blanked}) if blanked else ExportPlan("none", {})
