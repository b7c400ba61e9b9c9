"""What the platform decides per Namespace, from the annotations cluster admins set (read from a Namespace watch):
the repository prefixes a namespace may use (namespace-prefix policy) and whether it allows adoption
(adoption mode annotated-namespaces)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .adoption import Adoption, decide_adoption, is_true
from .errors import OperatorError
from .reasons import Reason
from .settings import Settings
from .spec import ALLOW_ADOPTION_ANNOTATION, REPOSITORY_PREFIXES_ANNOTATION
from .validate import parse_prefixes


@dataclass
class NamespacePolicies:
    settings: Settings
    prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Namespace -> the repository prefixes its annotation grants."""
    allows_adoption: dict[str, bool] = field(default_factory=dict)
    """Namespace -> whether a cluster admin annotated it to allow adoption."""

    def seen(self, name: str, annotations: Mapping[str, str]) -> None:
        self.prefixes[name] = parse_prefixes(annotations.get(REPOSITORY_PREFIXES_ANNOTATION))
        self.allows_adoption[name] = is_true(annotations.get(ALLOW_ADOPTION_ANNOTATION))

    def gone(self, name: str) -> None:
        self.prefixes.pop(name, None)
        self.allows_adoption.pop(name, None)

    def prefixes_of(self, namespace: str) -> tuple[str, ...]:
        """The prefixes a namespace's annotation grants; retried until its Namespace has been seen."""
        if self.settings.repository_name_policy == "any":
            return ()
        prefixes = self.prefixes.get(namespace)
        if prefixes is None:
            raise _not_seen(namespace)
        return prefixes

    def adoption(self, namespace: str, requested: bool) -> Adoption:
        """May a resource in ``namespace`` adopt? Asked with its Namespace seen first, when that decides it."""
        mode = self.settings.adoption
        allows = self.allows_adoption.get(namespace)
        if requested and mode == "annotated-namespaces" and allows is None:
            raise _not_seen(namespace)
        return decide_adoption(mode, namespace, requested=requested, namespace_allows=bool(allows))


def _not_seen(namespace: str) -> OperatorError:
    return OperatorError(
        Reason.NAMESPACE_NOT_SEEN, f"waiting for the operator to see Namespace {namespace}", retryable=True
    )
