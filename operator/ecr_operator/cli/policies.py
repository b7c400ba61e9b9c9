"""ValidatingAdmissionPolicies judged offline (`plan --offline --admission PATH`), as the API server's admission
chain runs them on a create after the CRD's own validation.

The cluster state the policies read is given as Kubernetes objects: the policies, their bindings, the parameter
objects the bindings name (e.g. a ConfigMap) and the Namespaces (whose labels ``namespaceSelector`` and
``namespaceObject`` read; a Namespace not given is taken to exist without labels). Implemented: matchConstraints and
a binding's matchResources (resourceRules, excludeResourceRules, namespaceSelector, objectSelector), paramKind with
paramRef (name, namespace, selector, parameterNotFoundAction), matchConditions, variables, validations (message,
messageExpression, reason), failurePolicy and the binding's validationActions (Deny refuses, Warn warns, Audit is
ignored). Not implemented: ``authorizer`` (an expression using it cannot be evaluated and follows failurePolicy),
auditAnnotations (they never refuse).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecr_operator.cli.admission import Violation
from ecr_operator.cli.cel import CelError, Evaluator, is_true, to_cel
from ecr_operator.cli.manifests import Document

POLICY_KIND = "ValidatingAdmissionPolicy"
BINDING_KIND = "ValidatingAdmissionPolicyBinding"
ADMISSION_GROUP = "admissionregistration.k8s.io"


@dataclass(frozen=True)
class Target:
    """What is being created, as admission sees it."""

    group: str
    version: str
    kind: str
    resource: str
    """The plural, e.g. ecrrepositories."""
    namespaced: bool


@dataclass
class ClusterState:
    """The policies, bindings, parameter objects and Namespaces offline admission reads."""

    policies: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    bindings: list[Mapping[str, Any]] = field(default_factory=list)
    objects: list[Mapping[str, Any]] = field(default_factory=list)
    """Every other object given: parameters (paramKind) and Namespaces."""

    @classmethod
    def of(cls, documents: Iterable[Document]) -> ClusterState:
        state = cls()
        for document in documents:
            group = document.api_version.split("/")[0] if "/" in document.api_version else ""
            if group == ADMISSION_GROUP and document.kind == POLICY_KIND:
                state.policies[document.name] = document.body
            elif group == ADMISSION_GROUP and document.kind == BINDING_KIND:
                state.bindings.append(document.body)
            else:
                state.objects.append(document.body)
        return state

    def namespace(self, name: str) -> Mapping[str, Any]:
        return self.given_namespace(name) or {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}

    def given_namespace(self, name: str) -> Mapping[str, Any] | None:
        """The Namespace object given, if any."""
        for obj in self.objects:
            if obj.get("kind") == "Namespace" and (obj.get("metadata") or {}).get("name") == name:
                return obj
        return None

    def find(self, api_version: str, kind: str) -> list[Mapping[str, Any]]:
        return [o for o in self.objects if o.get("apiVersion") == api_version and o.get("kind") == kind]


def _in(values: Sequence[str] | None, value: str) -> bool:
    return bool(values) and ("*" in values or value in values)  # type: ignore[operator]


def _rule_matches(rule: Mapping[str, Any], target: Target, operation: str) -> bool:
    resources = [str(r).split("/")[0] for r in rule.get("resources") or ()]
    return (
        _in(rule.get("apiGroups"), target.group)
        and _in(rule.get("apiVersions"), target.version)
        and _in(rule.get("operations"), operation)
        and _in(resources, target.resource)
        and rule.get("scope", "*") in ("*", "Namespaced" if target.namespaced else "Cluster")
    )


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions); empty or absent selects everything."""
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _resources_match(
    match: Mapping[str, Any] | None, target: Target, operation: str, obj: Mapping[str, Any], namespace: Any
) -> bool:
    """matchConstraints / matchResources: absent matches everything (a binding's), rules otherwise."""
    if match is None:
        return True
    rules = match.get("resourceRules")
    if rules is not None and not any(_rule_matches(r, target, operation) for r in rules):
        return False
    if any(_rule_matches(r, target, operation) for r in match.get("excludeResourceRules") or ()):
        return False
    if namespace is not None and not selector_matches(match.get("namespaceSelector"), _labels(namespace)):
        return False
    return selector_matches(match.get("objectSelector"), _labels(obj))


class PolicyJudge:
    """Every binding in ``state`` whose policy matches a create of ``target``, judged on the defaulted object."""

    def __init__(self, state: ClusterState, cel: Evaluator) -> None:
        self.state, self.cel = state, cel

    def judge(self, obj: Mapping[str, Any], target: Target) -> list[Violation]:
        namespace_name = (obj.get("metadata") or {}).get("namespace") if target.namespaced else None
        namespace = self.state.namespace(str(namespace_name)) if namespace_name else None
        found: list[Violation] = []
        for binding in self.state.bindings:
            spec = binding.get("spec") or {}
            policy = self.state.policies.get(str(spec.get("policyName")))
            if policy is None:
                continue  # a binding to a policy that does not exist does nothing
            policy_spec = policy.get("spec") or {}
            if not _resources_match(policy_spec.get("matchConstraints") or {}, target, "CREATE", obj, namespace):
                continue
            if not _resources_match(spec.get("matchResources"), target, "CREATE", obj, namespace):
                continue
            actions = spec.get("validationActions") or ["Deny"]
            if "Deny" not in actions and "Warn" not in actions:
                continue
            for params in self._params(policy_spec, spec, namespace_name):
                found += self._evaluate(policy, binding, obj, target, namespace, params, warn="Deny" not in actions)
        return found

    def _params(
        self, policy_spec: Mapping[str, Any], binding_spec: Mapping[str, Any], namespace: str | None
    ) -> list[Mapping[str, Any] | Violation | None]:
        kind = policy_spec.get("paramKind")
        if not kind:
            return [None]
        ref = binding_spec.get("paramRef") or {}
        candidates = self.state.find(str(kind.get("apiVersion")), str(kind.get("kind")))
        where = ref.get("namespace") or namespace
        if where is not None:
            candidates = [c for c in candidates if (c.get("metadata") or {}).get("namespace") in (where, None)]
        if ref.get("name"):
            candidates = [c for c in candidates if (c.get("metadata") or {}).get("name") == ref["name"]]
        elif ref.get("selector") is not None:
            candidates = [c for c in candidates if selector_matches(ref["selector"], _labels(c))]
        if candidates:
            return list(candidates)
        if ref.get("parameterNotFoundAction") == "Allow":
            return []
        wanted = f"{kind.get('kind')} {ref.get('name') or ref.get('selector')}" + (f" in {where}" if where else "")
        return [Violation("", f"no params found for policy binding with Deny parameterNotFoundAction: {wanted}")]

    def _evaluate(
        self,
        policy: Mapping[str, Any],
        binding: Mapping[str, Any],
        obj: Mapping[str, Any],
        target: Target,
        namespace: Mapping[str, Any] | None,
        params: Mapping[str, Any] | Violation | None,
        warn: bool,
    ) -> list[Violation]:
        name, binding_name = policy["metadata"]["name"], binding["metadata"]["name"]
        prefix = f"ValidatingAdmissionPolicy '{name}' with binding '{binding_name}' denied request: "
        if isinstance(params, Violation):
            return [Violation("", prefix + params.message, warn)]
        spec = policy.get("spec") or {}
        fail = spec.get("failurePolicy", "Fail") == "Fail"
        metadata = obj.get("metadata") or {}
        bindings: dict[str, Any] = {
            "object": to_cel(dict(obj)),
            "oldObject": None,
            "params": to_cel(dict(params)) if params is not None else None,
            "namespaceObject": to_cel(dict(namespace)) if namespace is not None else None,
            "request": to_cel(
                {
                    "operation": "CREATE",
                    "name": metadata.get("name", ""),
                    "namespace": metadata.get("namespace", "") if target.namespaced else "",
                    "kind": {"group": target.group, "version": target.version, "kind": target.kind},
                    "resource": {"group": target.group, "version": target.version, "resource": target.resource},
                    "dryRun": False,
                    "userInfo": {"username": "", "groups": []},
                }
            ),
        }
        bindings["variables"] = self.cel.lazy_map(
            {
                v["name"]: functools.partial(self.cel.evaluate_bound, v["expression"], bindings)
                for v in spec.get("variables") or ()
            }
        )
        try:
            for condition in spec.get("matchConditions") or ():
                if not is_true(self.cel.evaluate_bound(condition["expression"], bindings)):
                    return []
        except CelError as error:
            return [Violation("", f"{prefix}{error}", warn)] if fail else []
        found = []
        for validation in spec.get("validations") or ():
            try:
                passed = is_true(self.cel.evaluate_bound(validation["expression"], bindings))
            except CelError as error:
                if fail:
                    found.append(Violation("", f"{prefix}expression {validation['expression']!r} {error}", warn))
                continue
            if not passed:
                found.append(Violation("", prefix + self._message(validation, bindings), warn))
        return found

    def _message(self, validation: Mapping[str, Any], bindings: Mapping[str, Any]) -> str:
        if validation.get("messageExpression"):
            try:
                message = str(self.cel.evaluate_bound(validation["messageExpression"], bindings)).strip()
                if message:
                    return message
            except CelError:
                pass  # the API server falls back to message
        return str(validation.get("message") or f"failed expression: {validation['expression']}")
