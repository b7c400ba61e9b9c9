"""Where the emulated registry settings live: on moto's ECR backend of each account and Region.

They sit in the backend object's ``__dict__``, so moto's reset (``/moto-api/reset``), which empties that
``__dict__`` and re-runs ``__init__``, forgets them together with the repositories.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from moto.ecr.models import ecr_backends

_ATTRIBUTE = "_ecr_operator_dev_registry_extras"


@dataclass
class RegistryExtras:
    """One registry's pull through cache rules and repository creation templates, by normalised prefix."""

    account: str
    region: str
    rules: dict[str, Any] = field(default_factory=dict)
    templates: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def registry(account: str, region: str) -> RegistryExtras:
    backend = ecr_backends[account][region]
    extras: RegistryExtras = backend.__dict__.setdefault(_ATTRIBUTE, RegistryExtras(account, region))
    return extras


def prefix_key(prefix: str) -> str:
    """ECR always assumes a '/' after a prefix: ``team`` and ``team/`` are one prefix."""
    return prefix.rstrip("/") or prefix
