"""What an EcrRepository asks for, judged once: the handlers and `ecr-operator plan` call the same function.

Parsing, the operator's own checks (required tags, AWS tag rules, raw lifecycle policy) and the repository
name policy all raise :class:`SpecError` with the reason the operator reports in status. No other exception
leaves these functions for any spec (``tests/unit/test_spec_fuzz.py`` feeds them arbitrary JSON).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from .adoption import is_true
from .errors import SpecError
from .reasons import Reason
from .render import Desired, Owner, render
from .settings import Settings
from .spec import ADOPT_ANNOTATION, OBSERVE_ONLY_ANNOTATION, EcrRepositorySpec
from .validate import check_repository_name, validate


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


T = TypeVar("T")


def judged(judge: Callable[[], T]) -> T:
    """``judge()``, with any error of spec processing reported as InvalidSpec.

    Every known bad input is refused by name where it is read (the model, ``documents``, ``validate``). This is
    the net under them: a ValueError, TypeError or RecursionError that still escapes is a spec the operator cannot
    process, and must end as Ready=False with a Warning event and no hot retry, like any refused spec. Left to
    propagate, kopf would retry a traceback for ever while status kept its old Ready=True.
    """
    try:
        return judge()
    except (ValueError, TypeError, RecursionError) as exc:
        raise SpecError(Reason.INVALID_SPEC, f"spec: cannot be processed: {type(exc).__name__}: {exc}") from exc


def annotation_flag(annotations: Mapping[str, Any], annotation: str) -> bool:
    return is_true(annotations.get(annotation))


def validation_problems(exc: ValidationError) -> str:
    """pydantic's errors, each naming its field (``spec.lifecycle.maxImageCount: ...``)."""
    return "; ".join(f"{'.'.join(['spec', *(str(p) for p in e['loc'])])}: {e['msg']}" for e in exc.errors())


def parse_spec(spec: Any) -> EcrRepositorySpec:
    if not isinstance(spec, Mapping):
        raise SpecError(Reason.INVALID_SPEC, f"spec: must be an object, not {type(spec).__name__}")
    try:
        return EcrRepositorySpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise SpecError(Reason.INVALID_SPEC, validation_problems(exc)) from exc


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
