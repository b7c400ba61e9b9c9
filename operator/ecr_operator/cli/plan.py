"""`ecr-operator plan`: what the operator would do for manifests, judged exactly as the operator judges them.

Reads files, directories (``*.yaml``, ``*.yml``, ``*.json``) and ``-`` (standard input), multi-document YAML
and ``kind: List``; other kinds are skipped with a note on stderr. Exits like ``kubectl diff``: 0 when AWS is
in sync with every resource, 1 when changes are planned, 2 when a resource would be refused or reported
(``Ready=False``), or when something could not be read or planned.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import yaml

from ecr_operator.core.api import GROUP
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.settings import Settings
from ecr_operator.repository.adoption import decide_adoption
from ecr_operator.repository.manifest import request_for
from ecr_operator.repository.spec import KIND
from ecr_operator.repository.validate import parse_prefixes

EXIT_IN_SYNC, EXIT_CHANGES, EXIT_ERROR = 0, 1, 2
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

Verdict = Literal["in-sync", "changes", "refused", "problems", "error"]
"""refused: the operator would not act on it (InvalidSpec, RepositoryNotOwned...); problems: it would act but
report Ready=False (EncryptionMismatch...); error: AWS could not be asked (throttled, unreachable)."""


@dataclass
class ResourcePlan:
    namespace: str
    name: str
    verdict: Verdict = "in-sync"
    repository_name: str | None = None
    region: str | None = None
    actions: list[dict[str, str]] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    """The refusal, or what the operator would report with Ready=False."""

    def as_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "verdict": self.verdict,
            "repositoryName": self.repository_name,
            "region": self.region,
            "actions": self.actions,
            "problems": self.problems,
        }


class ManifestError(Exception):
    """A file that cannot be read or parsed."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="+", help="EcrRepository manifests: files, directories, or - for stdin")
    parser.add_argument(
        "-n", "--namespace", default="default", help="namespace for manifests without metadata.namespace"
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ecr_operator.core.aws import ClientFactory
    from ecr_operator.core.regions import RegionPolicy

    stdout, stderr = sys.stdout, sys.stderr
    try:
        documents = list(_documents(args.manifests, sys.stdin))
    except ManifestError as exc:
        print(f"error: {exc}", file=stderr)
        return EXIT_ERROR
    clients = ClientFactory(regions=RegionPolicy.of(settings.allowed_regions))
    granted_prefixes = parse_prefixes(getattr(args, "allowed_prefixes", "") or "")
    plans = []
    for source, document in documents:
        if not _is_ecr_repository(document):
            kind = document.get("kind", "?") if isinstance(document, dict) else type(document).__name__
            print(f"note: {source}: skipping {kind} (not an {KIND})", file=stderr)
            continue
        plans.append(
            plan_one(document, args.namespace, settings, clients, granted_prefixes, args.namespace_allows_adoption)
        )
    _print(plans, args.output, stdout)
    return exit_code(plans)


def plan_one(
    document: dict[str, Any],
    default_namespace: str,
    settings: Settings,
    clients: Any,
    granted_prefixes: tuple[str, ...],
    namespace_allows_adoption: bool,
) -> ResourcePlan:
    from ecr_operator.repository.reconcile import reconcile

    metadata = document.get("metadata") or {}
    namespace = str(metadata.get("namespace") or default_namespace)
    result = ResourcePlan(namespace, str(metadata.get("name", "")))
    try:
        request = request_for(
            document.get("spec") or {},
            namespace,
            result.name,
            metadata.get("annotations") or {},
            settings,
            granted_prefixes,
        )
        desired = request.desired
        result.repository_name, result.region = desired.repository_name, desired.region
        adoption = decide_adoption(
            settings.adoption, namespace, requested=request.adopt, namespace_allows=namespace_allows_adoption
        )
        outcome = reconcile(clients.for_region(desired.region), desired, adoption=adoption, observe_only=True)
    except OperatorError as error:
        result.verdict = "error" if error.retryable else "refused"
        result.problems = [{"reason": error.reason, "message": error.message}]
        return result
    result.actions = [{"service": a.service, "operation": a.operation, "summary": a.summary} for a in outcome.planned]
    result.problems = [{"reason": p.reason, "message": p.message} for p in outcome.problems]
    result.verdict = "problems" if result.problems else "changes" if result.actions else "in-sync"
    return result


def exit_code(plans: Sequence[ResourcePlan]) -> int:
    if any(p.verdict in ("refused", "problems", "error") for p in plans):
        return EXIT_ERROR
    return EXIT_CHANGES if any(p.verdict == "changes" for p in plans) else EXIT_IN_SYNC


def _print(plans: Sequence[ResourcePlan], output: str, stdout: TextIO) -> None:
    if output == "json":
        json.dump([p.as_json() for p in plans], stdout, indent=2)
        stdout.write("\n")
        return
    for p in plans:
        where = f" (repository {p.repository_name} in {p.region})" if p.repository_name else ""
        print(f"{p.namespace}/{p.name}{where}: {p.verdict}", file=stdout)
        for action in p.actions:
            print(f"  {action['service']}:{action['operation']}  {action['summary']}", file=stdout)
        for problem in p.problems:
            label = "problem" if p.verdict == "problems" else p.verdict
            print(f"  {label}: {problem['reason']}: {problem['message']}", file=stdout)


def _is_ecr_repository(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and document.get("kind") == KIND
        and str(document.get("apiVersion", "")).split("/")[0] == GROUP
    )


def _documents(sources: Sequence[str], stdin: TextIO) -> Iterator[tuple[str, Any]]:
    """(source, document) for every document of every source; ``kind: List`` is unpacked."""
    for source in sources:
        for path_name, text in _texts(source, stdin):
            try:
                loaded = list(yaml.safe_load_all(text))
            except yaml.YAMLError as exc:
                raise ManifestError(f"{path_name}: not valid YAML: {exc}") from exc
            for document in loaded:
                if document is None:
                    continue
                if isinstance(document, dict) and document.get("kind") == "List":
                    yield from ((path_name, item) for item in document.get("items") or [])
                else:
                    yield path_name, document


def _texts(source: str, stdin: TextIO) -> Iterator[tuple[str, str]]:
    if source == "-":
        yield "<stdin>", stdin.read()
        return
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
    elif path.exists():
        files = [path]
    else:
        raise ManifestError(f"{source}: no such file or directory")
    for file in files:
        yield str(file), file.read_text()
