"""deploy/policies on a real kube-apiserver: every case of the guardrails corpus (tests/guardrails/) is sent to
the API server with the policies, their bindings and the ConfigMap ecr-guardrails installed, and must be allowed
or refused with its message, by the policy the case is about. Plus what a corpus case cannot show: the policies
type-check against the CRDs, a metadata-only update of a repository that predates a rule goes through, and a
missing parameter ConfigMap refuses (the rules fail closed).

The cluster is private: the policies would judge every other module's objects on the session control plane.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from support import DEPLOY, GROUP, PLURAL, REGISTRY_PLURAL, REPO_ROOT, VERSION, Cluster, private_cluster, wait_for

from ecr_operator_dev import ControlPlaneBinaries
from ecr_operator_dev.policycorpus import (
    PARAMETERS_CONFIGMAP,
    Case,
    load_cases,
    load_namespaces,
    policies_dir,
    policy_documents,
    shipped_parameters,
)

pytestmark = pytest.mark.e2e

CASES = load_cases()
NAMESPACES = load_namespaces()
SHIPPED = shipped_parameters()
OPERATOR_NAMESPACE = "ecr-operator"
PROBE_NAMESPACE = "guardrails-probe"
REVISION_KEY = "x-test-revision"
"""A key the test adds to the parameters so it can tell when the API server has read a change."""
POLICY_TIMEOUT = 30.0

# Test-only: a policy on ConfigMaps in the probe namespace that reads the same parameters, so that after a
# change the test waits until the API server judges with the new data (parameters are read through a watch).
PROBE_POLICY = f"""
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: test-parameters-probe}}
spec:
  paramKind: {{apiVersion: v1, kind: ConfigMap}}
  matchConstraints:
    resourceRules:
      - {{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}}
  validations:
    - expression: >-
        has(params.data) && '{REVISION_KEY}' in params.data && object.data.revision == params.data['{REVISION_KEY}']
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: test-parameters-probe}}
spec:
  policyName: test-parameters-probe
  validationActions: [Deny]
  paramRef: {{name: {PARAMETERS_CONFIGMAP}, namespace: {OPERATOR_NAMESPACE}, parameterNotFoundAction: Deny}}
  matchResources:
    namespaceSelector:
      matchLabels: {{kubernetes.io/metadata.name: {PROBE_NAMESPACE}}}
"""


@dataclass(frozen=True)
class Answer:
    allowed: bool
    message: str = ""

    @property
    def by_policy(self) -> bool:
        return "ValidatingAdmissionPolicy" in self.message


@dataclass
class Guardrails:
    cluster: Cluster
    custom: kubernetes.client.CustomObjectsApi
    core: kubernetes.client.CoreV1Api
    parameters: dict[str, str] = field(default_factory=dict)
    revision: int = 0

    # -- parameters ------------------------------------------------------------------------------------------

    def set_parameters(self, data: Mapping[str, str], *, force: bool = False) -> None:
        """Replace the ConfigMap's data and wait until the API server judges with it."""
        if dict(data) == self.parameters and not force:
            return
        self.revision += 1
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": PARAMETERS_CONFIGMAP, "namespace": OPERATOR_NAMESPACE},
            "data": {**data, REVISION_KEY: str(self.revision)},
        }
        try:
            self.core.replace_namespaced_config_map(PARAMETERS_CONFIGMAP, OPERATOR_NAMESPACE, body)
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise
            self.core.create_namespaced_config_map(OPERATOR_NAMESPACE, body)
        self.parameters = dict(data)
        probe = {"metadata": {"name": "revision"}, "data": {"revision": str(self.revision)}}
        wait_for(
            lambda: (
                self._answer(
                    lambda: self.core.create_namespaced_config_map(PROBE_NAMESPACE, probe, dry_run="All")
                ).allowed
            ),
            f"the API server to read parameters revision {self.revision}",
            timeout=POLICY_TIMEOUT,
        )

    # -- objects ---------------------------------------------------------------------------------------------

    @staticmethod
    def _answer(call: Any) -> Answer:
        try:
            call()
        except kubernetes.client.ApiException as exc:
            if exc.status in (400, 403, 422):
                try:
                    message = json.loads(exc.body or "{}").get("message", "")
                except json.JSONDecodeError:
                    message = str(exc.body)
                return Answer(False, message)
            raise
        return Answer(True)

    def create(self, manifest: Mapping[str, Any], *, dry_run: bool) -> Answer:
        kwargs = {"dry_run": "All"} if dry_run else {}
        namespace = manifest["metadata"].get("namespace")
        if namespace is None:
            return self._answer(
                lambda: self.custom.create_cluster_custom_object(GROUP, VERSION, _plural(manifest), manifest, **kwargs)
            )
        return self._answer(
            lambda: self.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, _plural(manifest), manifest, **kwargs
            )
        )

    def get(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        name, namespace = manifest["metadata"]["name"], manifest["metadata"].get("namespace")
        if namespace is None:
            found: dict[str, Any] = self.custom.get_cluster_custom_object(GROUP, VERSION, _plural(manifest), name)
        else:
            found = self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, _plural(manifest), name)
        return found

    def replace(self, manifest: Mapping[str, Any], *, dry_run: bool) -> Answer:
        current = self.get(manifest)["metadata"]["resourceVersion"]
        body = {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": current}}
        kwargs = {"dry_run": "All"} if dry_run else {}
        name, namespace = body["metadata"]["name"], body["metadata"].get("namespace")
        if namespace is None:
            return self._answer(
                lambda: self.custom.replace_cluster_custom_object(GROUP, VERSION, _plural(body), name, body, **kwargs)
            )
        return self._answer(
            lambda: self.custom.replace_namespaced_custom_object(
                GROUP, VERSION, namespace, _plural(body), name, body, **kwargs
            )
        )

    def patch(self, manifest: Mapping[str, Any], patch: Mapping[str, Any], *, dry_run: bool = False) -> Answer:
        name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        kwargs = {"dry_run": "All"} if dry_run else {}
        return self._answer(
            lambda: self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, dict(patch), **kwargs
            )
        )

    def delete(self, manifest: Mapping[str, Any]) -> None:
        name, namespace = manifest["metadata"]["name"], manifest["metadata"].get("namespace")
        try:
            if namespace is None:
                self.custom.delete_cluster_custom_object(GROUP, VERSION, _plural(manifest), name)
            else:
                self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, _plural(manifest), name)
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise

    def judge(self, case: Case) -> Answer:
        """Send the case: a dry-run create, or (with ``old``) a create of the old object and a dry-run update."""
        self.set_parameters(case.parameters(SHIPPED))
        if case.old is None:
            return self.create(case.manifest(), dry_run=True)
        old = case.manifest("old")
        created = self.create(old, dry_run=False)
        assert created.allowed, f"{case.id}: the old object must be allowed: {created.message}"
        try:
            return self.replace(case.manifest(), dry_run=True)
        finally:
            self.delete(old)


def _plural(manifest: Mapping[str, Any]) -> str:
    return REGISTRY_PLURAL if manifest["kind"] == "EcrRegistry" else PLURAL


def install_component(cluster: Cluster, workdir: Path) -> None:
    """``kubectl apply -k`` of a kustomization that uses deploy/policies as its component, as a platform would
    (kustomize takes only a relative path)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "kustomization.yaml").write_text(
        textwrap.dedent(
            f"""\
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            components:
              - {os.path.relpath(policies_dir(), workdir)}
            """
        )
    )
    cluster.kubectl("apply", "--server-side", "-k", str(workdir))


@pytest.fixture(scope="module")
def guardrails(
    controlplane_binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Guardrails]:
    workdir = tmp_path_factory.mktemp("guardrails")
    with private_cluster(controlplane_binaries, workdir / "controlplane") as cluster:
        core = kubernetes.client.CoreV1Api(cluster.api)
        for namespace in [OPERATOR_NAMESPACE, PROBE_NAMESPACE]:
            core.create_namespace({"metadata": {"name": namespace}})
        for namespace in NAMESPACES.values():
            core.create_namespace(namespace.manifest())
        install_component(cluster, workdir / "install")
        probe = workdir / "probe.yaml"
        probe.write_text(PROBE_POLICY)
        cluster.kubectl("apply", "-f", str(probe))
        env = Guardrails(cluster, kubernetes.client.CustomObjectsApi(cluster.api), core)
        env.set_parameters(SHIPPED, force=True)
        # Every policy is in force (and sees the Namespaces) once each refuses its corpus's first plain denial.
        for policy in sorted({case.policy for case in CASES}):
            first = next(c for c in CASES if c.policy == policy and c.expect == "denied" and not c.old and not c.future)
            env.set_parameters(first.parameters(SHIPPED))
            wait_for(
                lambda first=first: not env.create(first.manifest(), dry_run=True).allowed,
                f"policy {policy} to refuse {first.id!r}",
                timeout=POLICY_TIMEOUT,
            )
        yield env


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_api_server_judges_each_case(guardrails: Guardrails, case: Case) -> None:
    answer = guardrails.judge(case)
    if case.future and not answer.allowed and not answer.by_policy:
        pytest.skip(f"{case.future}: the CRD refuses it ({answer.message})")
    if case.expect == "allowed":
        assert answer.allowed, f"{case.id}: refused: {answer.message}"
        return
    assert not answer.allowed, f"{case.id}: allowed"
    assert f"ValidatingAdmissionPolicy '{case.policy}'" in answer.message, answer.message
    assert case.message is not None and case.message in answer.message, answer.message


def test_the_corpus_covers_each_policy_with_both_outcomes_updates_and_parameter_changes() -> None:
    documents = [d for d in policy_documents() if d["kind"] == "ValidatingAdmissionPolicy"]
    policies = {d["metadata"]["name"] for d in documents}
    parameterised = {d["metadata"]["name"] for d in documents if "paramKind" in d["spec"]}
    for policy in policies:
        mine = [c for c in CASES if c.policy == policy]
        assert {c.expect for c in mine} == {"allowed", "denied"}, policy
    assert {c.policy for c in CASES if c.old is not None} >= policies - {"ecr-repository-names"}  # names: create only
    assert {c.policy for c in CASES if c.params} == parameterised
    unlabelled = [n.name for n in NAMESPACES.values() if "ecr.platform.dev/environment" not in n.labels]
    assert any(c.namespace in unlabelled for c in CASES if c.policy == "ecr-production-repositories")


def test_the_policies_type_check_against_the_crds(guardrails: Guardrails) -> None:
    """kube-controller-manager's ValidatingAdmissionPolicy status controller type-checks each expression against
    the CRD's schema: a misspelt field would show as a warning here long before it misjudges an object."""
    admission = kubernetes.client.AdmissionregistrationV1Api(guardrails.cluster.api)
    shipped = [d["metadata"]["name"] for d in policy_documents() if d["kind"] == "ValidatingAdmissionPolicy"]

    def checked() -> dict[str, Any]:
        found = {}
        for name in shipped:
            policy = admission.read_validating_admission_policy(name)
            status = policy.status
            assert status is not None and status.type_checking is not None, f"{name} not type-checked yet"
            assert status.observed_generation == policy.metadata.generation, name
            found[name] = status.type_checking.expression_warnings or []
        return found

    warnings = wait_for(checked, "the policies' type checking", timeout=POLICY_TIMEOUT)
    assert {name: [w.warning for w in found] for name, found in warnings.items() if found} == {}


def test_a_metadata_update_of_a_repository_older_than_the_rule_goes_through(guardrails: Guardrails) -> None:
    """A Namespace labelled production after its repositories were made: their spec must comply when next
    changed, but a metadata-only update (the operator's finalizer and annotations) is never refused, so a
    deletion can always finish."""
    guardrails.set_parameters(SHIPPED)
    namespace = "legacy"
    guardrails.core.create_namespace({"metadata": {"name": namespace}})
    tags = {"owner": "a", "cost_center": "b", "resource_lifecycle": "c", "data_class": "internal", "service": "d"}
    manifest = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrRepository",
        "metadata": {"name": "api", "namespace": namespace},
        "spec": {"repositoryName": "legacy/api", "imageTagMutability": "MUTABLE", "tags": tags},
    }
    assert guardrails.create(manifest, dry_run=False).allowed
    guardrails.core.patch_namespace(namespace, {"metadata": {"labels": {"ecr.platform.dev/environment": "production"}}})

    def spec_change_refused() -> str | None:
        answer = guardrails.patch(manifest, {"spec": {"tags": {**tags, "service": "e"}}}, dry_run=True)
        return None if answer.allowed else answer.message

    message = wait_for(spec_change_refused, "a spec change to be refused in the now-production namespace")
    assert "spec.imageTagMutability must be IMMUTABLE" in message
    finalizer = {"metadata": {"finalizers": ["ecr.platform.dev/finalizer"], "annotations": {"note": "x"}}}
    assert guardrails.patch(manifest, finalizer).allowed
    assert guardrails.patch(manifest, {"metadata": {"finalizers": None}}).allowed
    guardrails.delete(manifest)


def test_without_the_parameter_configmap_the_rules_refuse(guardrails: Guardrails) -> None:
    case = next(c for c in CASES if c.rule == "required-tags" and c.expect == "allowed" and not c.params)
    guardrails.set_parameters(SHIPPED)
    guardrails.core.delete_namespaced_config_map(PARAMETERS_CONFIGMAP, OPERATOR_NAMESPACE)

    def refused() -> Answer | None:
        answer = guardrails.create(case.manifest(), dry_run=True)
        return None if answer.allowed else answer

    try:
        answer = wait_for(refused, "a create to be refused without the parameters", timeout=POLICY_TIMEOUT)
        assert "ecr-repository-tags" in answer.message or "ecr-cross-account-pull" in answer.message, answer.message
        assert "no params found" in answer.message, answer.message
    finally:
        guardrails.set_parameters(SHIPPED, force=True)


# -- the chart -----------------------------------------------------------------------------------------------


def _run(*argv: str | Path) -> str:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{result.stderr}"
    return result.stdout


def _objects(text: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(text) if d}


def test_the_chart_option_renders_the_components(controlplane_binaries: ControlPlaneBinaries, tmp_path: Path) -> None:
    """``selfService.teamRoles`` and ``selfService.guardrails.enabled`` render deploy/team-roles and deploy/policies
    (the parameters in the release's namespace); off by default."""
    helm = _run(REPO_ROOT / "hack" / "helm" / "build.sh").strip().splitlines()[-1]
    chart = REPO_ROOT / "charts" / "ecr-operator"
    assert controlplane_binaries.kubectl is not None
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncomponents:\n"
        + "".join(f"  - {os.path.relpath(DEPLOY / c, tmp_path)}\n" for c in ("policies", "team-roles"))
    )
    ours = _objects(_run(controlplane_binaries.kubectl, "kustomize", tmp_path))
    template = [helm, "template", "ecr-operator", chart, "--namespace", OPERATOR_NAMESPACE]
    default = _objects(_run(*template))
    assert not {key for key in default if key in ours}, "the chart renders self-service objects by default"

    rendered = _objects(
        _run(*template, "--set", "selfService.guardrails.enabled=true", "--set", "selfService.teamRoles=true")
    )
    theirs = {key: obj for key, obj in rendered.items() if key not in default}
    assert set(theirs) == set(ours)
    for key, obj in ours.items():
        fields = [f for f in ("spec", "rules", "data") if f in obj]
        assert [obj[f] for f in fields] == [theirs[key][f] for f in fields], key
        assert obj["metadata"].get("namespace") == theirs[key]["metadata"].get("namespace"), key

    elsewhere = _objects(_run(*template[:-1], "team-x", "--set", "selfService.guardrails.enabled=true"))
    refs = [o["spec"]["paramRef"] for o in elsewhere.values() if "paramRef" in o.get("spec", {})]
    assert refs and all(ref["namespace"] == "team-x" for ref in refs)
    assert elsewhere["ConfigMap", PARAMETERS_CONFIGMAP]["metadata"]["namespace"] == "team-x"
