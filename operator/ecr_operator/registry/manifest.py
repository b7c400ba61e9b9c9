"""What an EcrRegistry asks for, judged once: the handlers call this function (``repository/manifest.py``'s twin).

Parsing and rendering raise :class:`SpecError` (InvalidSpec, naming the field) and nothing else, for any spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ecr_operator.core.errors import SpecError
from ecr_operator.core.reasons import Reason
from ecr_operator.core.settings import Settings
from ecr_operator.core.spec_errors import judged, validation_problems
from ecr_operator.registry.render import DesiredRegistry, render_registry
from ecr_operator.registry.spec import EcrRegistrySpec


def parse_registry_spec(spec: Any) -> EcrRegistrySpec:
    if not isinstance(spec, Mapping):
        raise SpecError(Reason.INVALID_SPEC, f"spec: must be an object, not {type(spec).__name__}")
    try:
        return EcrRegistrySpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise SpecError(Reason.INVALID_SPEC, validation_problems(exc)) from exc


def desired_registry(spec: Any, name: str, settings: Settings) -> DesiredRegistry:
    return judged(lambda: render_registry(parse_registry_spec(spec), name, settings.region))
