"""What an EcrRegistry asks for, judged once: the handlers call this function (``repository/manifest.py``'s twin).

Parsing and rendering raise :class:`SpecError` (InvalidSpec, naming the field) and nothing else, for any spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecr_operator.core.settings import Settings
from ecr_operator.core.spec_errors import judged, parse_spec_as
from ecr_operator.registry.render import DEFAULT_SCANNING, DesiredRegistry, render_registry
from ecr_operator.registry.spec import EcrRegistrySpec, RegistryPolicy, Replication


def parse_registry_spec(spec: Any) -> EcrRegistrySpec:
    return parse_spec_as(EcrRegistrySpec, spec)


def desired_registry(spec: Any, name: str, settings: Settings) -> DesiredRegistry:
    return judged(lambda: render_registry(parse_registry_spec(spec), name, settings.region, settings.required_tags))


DELETE_FIELDS = ("region", "deletionPolicy", "awsRoleArn")
"""What a registry delete reads from the spec besides which sections are present (never their contents)."""


def desired_registry_for_delete(
    spec: Mapping[str, Any], status: Mapping[str, Any], name: str, settings: Settings
) -> DesiredRegistry:
    """What a delete needs: which sections are managed (present in the spec; their contents are never read, so a
    registry policy or a rule that no longer parses does not keep the settings: a delete removes only the rules and
    templates status records as created), the deletion policy, the role (spec.awsRoleArn, immutable) and the region
    recorded in status."""
    model = parse_registry_spec({k: v for k, v in spec.items() if k in DELETE_FIELDS})
    return DesiredRegistry(
        name=name,
        region=str(status.get("region") or model.region or settings.region),
        replication=Replication.model_validate({}) if spec.get("replication") is not None else None,
        scanning=dict(DEFAULT_SCANNING) if spec.get("scanning") is not None else None,
        registry_policy=RegistryPolicy.model_validate({}) if spec.get("registryPolicy") is not None else None,
        deletion_policy=model.deletion_policy,
        role_arn=model.aws_role_arn,
        pull_through_cache_rules=() if spec.get("pullThroughCacheRules") is not None else None,
        creation_templates=() if spec.get("creationTemplates") is not None else None,
    )
