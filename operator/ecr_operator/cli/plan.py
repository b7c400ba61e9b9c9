"""`ecr-operator plan`: what the operator would do for manifests, judged exactly as the API server and the operator
judge them.

Reads files, directories (``*.yaml``, ``*.yml``, ``*.json``) and ``-`` (standard input), multi-document YAML
and ``kind: List``; objects of other APIs are skipped with a note on stderr. Each EcrRepository and EcrRegistry is
judged first as the API server would admit it (the CRD's schema with its defaults, and its CEL rules), then by the
operator's own checks (the function the operator calls), then, unless ``--offline``, against AWS (read only).

Exits like ``kubectl diff``: 0 when AWS is in sync with every resource (``--offline``: every resource is valid),
1 when changes are planned, 2 when a resource would be refused (by the API server or the operator) or reported
(``Ready=False``), when a document cannot be read (one line naming the document and the field), or when the
input holds no EcrRepository or EcrRegistry at all.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from ecr_operator.cli import cel
from ecr_operator.cli.admission import Admission, Crd, Policy, admit
from ecr_operator.cli.manifests import OUR_KINDS, Document, read
from ecr_operator.cli.policies import ClusterState, PolicyJudge, Target
from ecr_operator.core.api import AWS_ROLE_ARN_ANNOTATION, GROUP, VERSION, is_true
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.settings import Settings
from ecr_operator.registry.spec import REGISTRY_KIND
from ecr_operator.repository.spec import ALLOW_ADOPTION_ANNOTATION, KIND, REPOSITORY_PREFIXES_ANNOTATION
from ecr_operator.repository.validate import parse_prefixes

EXIT_IN_SYNC, EXIT_CHANGES, EXIT_ERROR = 0, 1, 2
INVALID = "Invalid"
"""The API server's reason for a refused create (metav1.StatusReasonInvalid): the object never reaches the
operator, so it is not one of the operator's condition reasons."""

Verdict = Literal["in-sync", "changes", "valid", "invalid", "refused", "problems", "error"]
"""valid: --offline found nothing against it; invalid: the API server would refuse it; refused: the operator would
not act on it (InvalidSpec, RepositoryNotOwned...); problems: it would act but report Ready=False
(EncryptionMismatch...); error: AWS could not be asked (throttled, unreachable)."""
FAILED: frozenset[Verdict] = frozenset({"invalid", "refused", "problems", "error"})


@dataclass
class ResourcePlan:
    kind: str
    namespace: str | None
    name: str
    source: str
    verdict: Verdict = "in-sync"
    repository_name: str | None = None
    region: str | None = None
    actions: list[dict[str, str]] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    """The refusal, or what the operator would report with Ready=False."""
    warnings: list[str] = field(default_factory=list)
    """What admission policies bound with validationActions Warn say."""

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}" if self.kind == KIND else f"{self.kind}/{self.name}"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "source": self.source,
            "verdict": self.verdict,
            "repositoryName": self.repository_name,
            "region": self.region,
            "actions": self.actions,
            "problems": self.problems,
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class Judge:
    """Everything a manifest is judged with: the operator's settings and what the cluster would tell it."""

    settings: Settings
    default_namespace: str
    granted_prefixes: tuple[str, ...] = ()
    namespace_allows_adoption: bool = False
    offline: bool = False
    evaluator: cel.Evaluator | None = None
    """None: CEL is not installed, and an online plan leaves the rules to the API server."""
    policies: PolicyJudge | None = None
    """The admission policies of ``--admission``, if any."""

    def namespace_grants(self, namespace: str) -> tuple[tuple[str, ...], bool]:
        """The repository prefixes and the adoption a Namespace grants: read from its annotations as the operator
        reads them when ``--admission`` gives the Namespace, else ``--allowed-prefixes`` and
        ``--namespace-allows-adoption``."""
        given = self.policies.state.given_namespace(namespace) if self.policies is not None else None
        if given is None:
            return self.granted_prefixes, self.namespace_allows_adoption
        annotations = (given.get("metadata") or {}).get("annotations") or {}
        return (
            parse_prefixes(annotations.get(REPOSITORY_PREFIXES_ANNOTATION)),
            is_true(annotations.get(ALLOW_ADOPTION_ANNOTATION)),
        )

    def role_of(self, namespace: str) -> str | None:
        """The AWS role a Namespace given with ``--admission`` maps to (its annotation), else the CLI's own
        credentials."""
        given = self.policies.state.given_namespace(namespace) if self.policies is not None else None
        annotations = ((given or {}).get("metadata") or {}).get("annotations") or {}
        return (annotations.get(AWS_ROLE_ARN_ANNOTATION) or "").strip() or None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "manifests", nargs="+", help="EcrRepository and EcrRegistry manifests: files, directories, or - for stdin"
    )
    parser.add_argument(
        "-n", "--namespace", default="default", help="namespace for manifests without metadata.namespace"
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.add_argument(
        "--admission",
        action="append",
        default=[],
        metavar="PATH",
        help="ValidatingAdmissionPolicies, their bindings, parameter objects and Namespaces (files or directories;"
        " repeatable): judged after the CRD as the API server's admission would (e.g. deploy/policies/); a"
        " Namespace given here also grants its annotations' repository prefixes and adoption to the operator's checks",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="judge without AWS (no credentials needed): the CRD's schema and CEL rules and the operator's own"
        " checks; exit 0 when every resource is valid (needs the extra ecr-operator[offline])",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    stdout, stderr = sys.stdout, sys.stderr
    evaluator = _evaluator(args.offline, stderr)
    if args.offline and evaluator is None:
        print(f"ecr-operator plan: error: {cel.INSTALL_HINT}", file=stderr)
        return EXIT_ERROR
    reading = read(args.manifests, sys.stdin)
    for error in reading.errors:
        print(f"ecr-operator plan: error: {error}", file=stderr)
    policies = None
    if args.admission:
        if evaluator is None:
            print(f"ecr-operator plan: error: --admission: {cel.INSTALL_HINT}", file=stderr)
            return EXIT_ERROR
        state = read(args.admission, sys.stdin)
        for error in state.errors:
            print(f"ecr-operator plan: error: --admission: {error}", file=stderr)
        if state.errors:
            return EXIT_ERROR
        policies = PolicyJudge(ClusterState.of(state.documents), evaluator)
    judge = Judge(
        settings,
        args.namespace,
        parse_prefixes(getattr(args, "allowed_prefixes", "") or ""),
        bool(getattr(args, "namespace_allows_adoption", False)),
        args.offline,
        evaluator,
        policies,
    )
    plans = []
    for document in reading.documents:
        if document.kind not in OUR_KINDS or not document.ours:
            print(f"note: {document.where}: skipping {document.kind} (not an {KIND} or {REGISTRY_KIND})", file=stderr)
            continue
        plans.append(plan_document(document, judge))
    if not plans and not reading.errors:
        print(
            f"ecr-operator plan: error: no {KIND} or {REGISTRY_KIND} in {', '.join(args.manifests)}: nothing to judge",
            file=stderr,
        )
        return EXIT_ERROR
    _print(plans, args.output, stdout)
    return EXIT_ERROR if reading.errors else exit_code(plans)


def _evaluator(offline: bool, stderr: TextIO) -> cel.Evaluator | None:
    if not cel.available():
        if not offline:
            print(f"note: the CRDs' CEL rules are left to the API server ({cel.INSTALL_HINT})", file=stderr)
        return None
    return cel.Evaluator()


@functools.cache
def crd_of(kind: str) -> Crd:
    """The CRD this operator generates for ``kind`` (built once)."""
    from ecr_operator.core.crd import build_crd
    from ecr_operator.runtime.kinds import KINDS

    [description] = [k.crd for k in KINDS if k.crd.kind == kind]
    return Crd.of(build_crd(description))


def plan_document(document: Document, judge: Judge) -> ResourcePlan:
    namespace = (document.namespace or judge.default_namespace) if document.kind == KIND else None
    result = ResourcePlan(document.kind, namespace, document.name, document.where)
    body = {**document.body, "metadata": {**document.metadata, "namespace": namespace}}
    crd = crd_of(document.kind)
    policies: list[Policy] = []
    if judge.policies is not None:
        target = Target(GROUP, VERSION, document.kind, crd.plural, crd.namespaced)
        policies.append(functools.partial(judge.policies.judge, target=target))
    admission = admit(body, crd, judge.evaluator, policies)
    result.warnings = [str(w) for w in admission.warnings]
    if admission.violations:
        result.verdict = "invalid"
        result.problems = [{"reason": INVALID, "field": v.field, "message": str(v)} for v in admission.violations]
        return result
    try:
        if document.kind == KIND:
            _plan_repository(result, admission, judge)
        else:
            _plan_registry(result, admission, judge)
    except OperatorError as error:
        result.verdict = "error" if error.retryable else "refused"
        result.problems = [{"reason": error.reason, "message": error.message}]
    return result


def _plan_repository(result: ResourcePlan, admission: Admission, judge: Judge) -> None:
    from ecr_operator.repository.adoption import decide_adoption
    from ecr_operator.repository.manifest import request_for

    assert result.namespace is not None
    metadata = admission.stored.get("metadata") or {}
    settings = judge.settings
    granted_prefixes, allows_adoption = judge.namespace_grants(result.namespace)
    request = request_for(
        admission.stored.get("spec") or {},
        result.namespace,
        result.name,
        metadata.get("annotations") or {},
        settings,
        granted_prefixes,
    )
    desired = request.desired
    result.repository_name, result.region = desired.repository_name, desired.region
    if judge.offline:
        result.verdict = "valid"
        return
    from ecr_operator.repository.reconcile import reconcile

    adoption = decide_adoption(
        settings.adoption, result.namespace, requested=request.adopt, namespace_allows=allows_adoption
    )
    outcome = reconcile(
        _clients(settings.allowed_regions).for_region(desired.region, judge.role_of(result.namespace)),
        desired,
        adoption=adoption,
        observe_only=True,
    )
    _outcome(result, outcome.planned, outcome.problems)


def _plan_registry(result: ResourcePlan, admission: Admission, judge: Judge) -> None:
    from ecr_operator.registry.manifest import desired_registry

    desired = desired_registry(admission.stored.get("spec") or {}, result.name, judge.settings)
    result.region = desired.region
    if judge.offline:
        result.verdict = "valid"
        return
    from ecr_operator.registry.items import Created, created_names
    from ecr_operator.registry.parts.registry import RegistryDeps
    from ecr_operator.registry.reconcile import reconcile_registry

    # What the live object's status records as created is what a removal from the spec would delete.
    status = admission.stored.get("status") or {}
    created = Created(
        rules=created_names(status.get("pullThroughCacheRules")),
        templates=created_names(status.get("creationTemplates")),
    )
    clients = _clients(judge.settings.allowed_regions).for_region(desired.region, desired.role_arn)
    outcome = reconcile_registry(clients, desired, RegistryDeps(created=created), observe_only=True)
    _outcome(result, outcome.planned, outcome.problems)


@functools.cache
def _clients(allowed_regions: tuple[str, ...]) -> Any:
    """One client factory per process (boto3 clients are costly to make)."""
    from ecr_operator.core.aws import ClientFactory
    from ecr_operator.core.regions import RegionPolicy

    return ClientFactory(regions=RegionPolicy.of(allowed_regions))


def _outcome(result: ResourcePlan, planned: Sequence[Any], problems: Sequence[OperatorError]) -> None:
    result.actions = [{"service": a.service, "operation": a.operation, "summary": a.summary} for a in planned]
    result.problems = [{"reason": p.reason, "message": p.message} for p in problems]
    result.verdict = "problems" if result.problems else "changes" if result.actions else "in-sync"


def exit_code(plans: Sequence[ResourcePlan]) -> int:
    if any(p.verdict in FAILED for p in plans):
        return EXIT_ERROR
    return EXIT_CHANGES if any(p.verdict == "changes" for p in plans) else EXIT_IN_SYNC


def _print(plans: Sequence[ResourcePlan], output: str, stdout: TextIO) -> None:
    if output == "json":
        json.dump([p.as_json() for p in plans], stdout, indent=2)
        stdout.write("\n")
        return
    for p in plans:
        if p.repository_name:
            where = f" (repository {p.repository_name} in {p.region})"
        elif p.region:
            where = f" (registry in {p.region})"
        else:
            where = ""
        print(f"{p.label}{where}: {p.verdict}", file=stdout)
        for warning in p.warnings:
            print(f"  warning: {warning}", file=stdout)
        for action in p.actions:
            print(f"  {action['service']}:{action['operation']}  {action['summary']}", file=stdout)
        for problem in p.problems:
            label = "problem" if p.verdict == "problems" else p.verdict
            if p.verdict == "invalid":  # the API server's refusal: where it is, the field is in the message
                print(f"  invalid: {p.source}: {problem['message']}", file=stdout)
            else:
                print(f"  {label}: {problem['reason']}: {problem['message']}", file=stdout)
