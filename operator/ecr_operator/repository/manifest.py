"""What an EcrRepository asks for, judged once: the handlers and `ecr-operator plan` call the same function.

Parsing, the operator's own checks (required tags, AWS tag rules, raw lifecycle policy) and the repository
name policy all raise :class:`SpecError` with the reason the operator reports in status. No other exception
leaves these functions for any spec (``tests/unit/test_spec_fuzz.py`` feeds them arbitrary JSON).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ecr_operator.core.api import OBSERVE_ONLY_ANNOTATION, annotation_flag
from ecr_operator.core.settings import Settings
from ecr_operator.core.spec_errors import judged, parse_spec_as
from ecr_operator.repository.render import Desired, Owner, render
from ecr_operator.repository.spec import ADOPT_ANNOTATION, EcrRepositorySpec
from ecr_operator.repository.validate import check_repository_name, validate


@dataclass(frozen=True)
class Request:
    """One resource's desired AWS state and the annotations that change how it is reconciled."""

    desired: Desired
    adopt: bool
    """The resource asks to adopt an existing repository nobody owns (``ecr.platform.dev/adopt``)."""
    observe_only: bool
    """Read and report, never write (``ecr.platform.dev/observe-only``)."""
    export: str | None = None
    """The ConfigMap (in the resource's namespace) that receives the repository's identifiers (``spec.export``)."""


def parse_spec(spec: Any) -> EcrRepositorySpec:
    return parse_spec_as(EcrRepositorySpec, spec)


def desired_for(spec: Mapping[str, Any], namespace: str, name: str, settings: Settings) -> Desired:
    """The desired state without the checks (the inventory timer's; a delete reads less: :func:`desired_for_delete`)."""
    return judged(lambda: render(parse_spec(spec), Owner(settings.cluster_id, namespace, name), settings.region))


DELETE_FIELDS = ("repositoryName", "region", "encryption", "deletionPolicy", "forceDelete")
"""What a delete reads from the spec: what to delete and how, never the documents (lifecycle, policies, tags)."""


def desired_for_delete(
    spec: Mapping[str, Any], status: Mapping[str, Any], namespace: str, name: str, settings: Settings
) -> Desired:
    """What a delete needs: the fields of :data:`DELETE_FIELDS` (a lifecycle policy that no longer parses must not
    keep the finalizer) and the region and repository name recorded in status, where the resource lives, whatever
    the operator's default region is now."""
    fields = {key: value for key, value in spec.items() if key in DELETE_FIELDS}
    desired = judged(lambda: render(parse_spec(fields), Owner(settings.cluster_id, namespace, name), settings.region))
    return replace(
        desired,
        region=str(status.get("region") or desired.region),
        repository_name=str(status.get("repositoryName") or desired.repository_name),
    )


def request_for(
    spec: Mapping[str, Any],
    namespace: str,
    name: str,
    annotations: Mapping[str, Any],
    settings: Settings,
    granted_prefixes: Iterable[str] = (),
) -> Request:
    """The whole judgement of a manifest; ``granted_prefixes`` come from its Namespace's annotation."""

    def judge() -> Request:
        model = parse_spec(spec)
        desired = render(model, Owner(settings.cluster_id, namespace, name), settings.region)
        validate(model, settings.required_tags, desired.repository_policy)
        check_repository_name(settings.repository_name_policy, desired.repository_name, namespace, granted_prefixes)
        return Request(
            desired,
            adopt=annotation_flag(annotations, ADOPT_ANNOTATION),
            observe_only=annotation_flag(annotations, OBSERVE_ONLY_ANNOTATION),
            export=model.export.config_map_name if model.export else None,
        )

    return judged(judge)
