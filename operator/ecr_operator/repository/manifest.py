"""What an EcrRepository asks for, judged once: the handlers and `ecr-operator plan` call the same function.

Parsing, the operator's own checks (required tags, AWS tag rules, raw lifecycle policy) and the repository
name policy all raise :class:`SpecError` with the reason the operator reports in status. No other exception
leaves these functions for any spec (``tests/unit/test_spec_fuzz.py`` feeds them arbitrary JSON).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    """The desired state without the checks: what a delete needs (it must go on whatever the settings say)."""
    return judged(lambda: render(parse_spec(spec), Owner(settings.cluster_id, namespace, name), settings.region))


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
        validate(model, settings.required_tags)
        check_repository_name(settings.repository_name_policy, desired.repository_name, namespace, granted_prefixes)
        return Request(
            desired,
            adopt=annotation_flag(annotations, ADOPT_ANNOTATION),
            observe_only=annotation_flag(annotations, OBSERVE_ONLY_ANNOTATION),
            export=model.export.config_map_name if model.export else None,
        )

    return judged(judge)
