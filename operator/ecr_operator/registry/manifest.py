"""What an EcrRegistry asks for, judged once: the handlers call this function (``repository/manifest.py``'s twin).

Parsing and rendering raise :class:`SpecError` (InvalidSpec, naming the field) and nothing else, for any spec.
"""

from __future__ import annotations

from typing import Any

from ecr_operator.core.settings import Settings
from ecr_operator.core.spec_errors import judged, parse_spec_as
from ecr_operator.registry.render import DesiredRegistry, render_registry
from ecr_operator.registry.spec import EcrRegistrySpec


def parse_registry_spec(spec: Any) -> EcrRegistrySpec:
    return parse_spec_as(EcrRegistrySpec, spec)


def desired_registry(spec: Any, name: str, settings: Settings) -> DesiredRegistry:
    return judged(lambda: render_registry(parse_registry_spec(spec), name, settings.region))
