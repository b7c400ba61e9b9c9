"""Identity pinned at creation: where a resource lives (account, role, region, name) is recorded in status before the
first AWS write, every later pass and the delete act there, and neither a changed mapping, a changed default region
nor a spec that no longer renders can fork the resource or wedge its delete.

Its own control plane, moto (multi-account through AssumeRole: moto answers with credentials of the role's account)
and a recording proxy; each test starts the operators it needs (two of them restart one with other settings).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pytest
from support import (
    ACCOUNT_B,
    ACCOUNT_C,
    ACCOUNT_D,
    OWN_ACCOUNT,
    REGION,
    ROLE_ANNOTATION,
    ROLE_B,
    ROLE_C,
    ROLE_D,
    Aws,
    Cluster,
    Registries,
    Registry,
    operator_process,
    private_cluster,
    tagged_spec,
    unique,
    wait_for,
)

from ecr_operator_dev import AwsProxy, ControlPlaneBinaries, MotoServer
from ecr_operator_dev.awsproxy import Fault

pytestmark = pytest.mark.e2e

ROLE_B_RENAMED = f"arn:aws:iam::{ACCOUNT_B}:role/ecr-operator-team-b-v2"
OTHER_REGION = "us-west-2"
NOT_JSON = (
    '{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", '
    '"countNumber": 3}, "action": {"type": "expire"}},]}'  # the trailing comma: not JSON
)


@dataclass
class Env:
    cluster: Cluster
    moto: MotoServer
    proxy: AwsProxy
    cluster_id: str
    workdir: Any
    aws_env: dict[str, str]

    def operator(self, log_name: str, *args: str, region: str = REGION) -> Any:
        """An operator of this cluster (not started: use it as a context manager)."""
        return operator_process(
            kubeconfig=self.cluster.controlplane.kubeconfig,
            aws_env=self.aws_env,
            log_path=self.workdir / log_name,
            cluster_id=self.cluster_id,
            region=region,
            resync_seconds=3,
            extra_args=args,
        )

    def aws(self, role_arn: str | None = None, region: str = REGION) -> Aws:
        """What AWS holds in the role's account (the operator's own account without a role), straight from moto."""
        if role_arn is None:
            return Aws(self.moto.endpoint_url, region, self.cluster_id)
        return Aws.assuming(self.moto.endpoint_url, role_arn, region, self.cluster_id)

    def watching(self, operator: Any) -> AbstractContextManager[Any]:
        """Run ``operator``, its log shown on a failed wait."""
        self.cluster.log_context = lambda: f"--- {operator.log_path.name} ---\n{operator.log_tail(8000)}"
        return operator  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def env(controlplane_binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("identity")
    with (
        private_cluster(controlplane_binaries, workdir / "cp") as cluster,
        MotoServer(workdir / "moto") as moto,
        AwsProxy(upstream=moto.endpoint_url) as proxy,
    ):
        aws_env = {**moto.aws_environment(REGION), "AWS_ENDPOINT_URL": proxy.endpoint_url}
        yield Env(cluster, moto, proxy, unique("identity"), workdir, aws_env)


def _stalled(obj: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Stalled")


def test_a_namespace_mapped_to_another_account_later_stalls_and_nothing_moves(env: Env) -> None:
    """(a) The role annotation changed after creation: AccountChanged, nothing in the new account, the old repository
    and the export ConfigMap untouched; another role of the same account is followed; the delete cleans account B."""
    cluster, aws_b, aws_c = env.cluster, env.aws(ROLE_B), env.aws(ROLE_C)
    namespace = cluster.namespace("ident-a", {ROLE_ANNOTATION: ROLE_B})
    name = unique("team-app")
    with env.watching(env.operator("operator-a.log", "--namespace", "ident-*", "--no-registries")):
        cluster.create(namespace, "app", tagged_spec(name, export={"configMapName": "app-ecr"}))
        status = cluster.wait_ready(namespace, "app")["status"]
        assert (status["account"], status["roleArn"], status["region"]) == (ACCOUNT_B, ROLE_B, REGION)
        assert status["repositoryName"] == name and f":{ACCOUNT_B}:key/" in status["kmsKeyArn"]
        before = aws_b.snapshot(name)
        exported = cluster.core.read_namespaced_config_map("app-ecr", namespace).data
        assert exported["repositoryUri"].startswith(f"{ACCOUNT_B}.dkr.ecr.")

        cluster.core.patch_namespace(namespace, {"metadata": {"annotations": {ROLE_ANNOTATION: ROLE_C}}})
        obj = cluster.wait_condition(namespace, "app", "False", "AccountChanged", timeout=60)
        message = cluster.ready_condition(obj)["message"]
        assert ACCOUNT_B in message and ACCOUNT_C in message, message
        assert _stalled(obj)["status"] == "True"
        cluster.wait_event(namespace, "app", "AccountChanged", "Warning")
        assert obj["status"]["account"] == ACCOUNT_B and obj["status"]["repositoryName"] == name

        # Three refused passes later: no ECR or KMS call at all (in any account), nothing in account C, account B's
        # repository and the ConfigMap as they were.
        since = time.monotonic()
        wait_for(
            lambda: cluster.events(namespace, "app", reason="AccountChanged")[0].count >= 3,
            "three refused passes",
            timeout=60,
            context=cluster.context,
        )
        assert [c for c in env.proxy.calls(since) if c.service in ("ecr", "kms")] == []
        assert aws_c.repository(name) is None
        assert aws_c.owned_keys(namespace, "app") == [], "no key made in account C"
        assert aws_b.snapshot(name) == before
        assert cluster.core.read_namespaced_config_map("app-ecr", namespace).data == exported

        # Back to account B, through another role of it: followed, and recorded for a later delete.
        cluster.core.patch_namespace(namespace, {"metadata": {"annotations": {ROLE_ANNOTATION: ROLE_B_RENAMED}}})
        wait_for(
            lambda: (
                cluster.must_get(namespace, "app")["status"].get("roleArn") == ROLE_B_RENAMED
                and cluster.ready_condition(cluster.must_get(namespace, "app"))["reason"] == "Synced"
            ),
            "the resource to be Ready with the renamed role recorded",
            timeout=60,
            context=cluster.context,
        )
        assert aws_b.snapshot(name) == before

        cluster.delete(namespace, "app")
        cluster.wait_gone(namespace, "app")
    aws_b.assert_deleted(namespace, "app", name)
    assert aws_c.repository(name) is None


def test_a_delete_with_a_spec_that_no_longer_renders_cleans_the_recorded_repository_and_key(env: Env) -> None:
    """(b) A lifecycle policyText that is not JSON (admitted: the CRD checks its shape, not its syntax) must not
    keep the finalizer: the delete reads only what it deletes."""
    cluster, own = env.cluster, env.aws()
    namespace = cluster.namespace("ident-b")
    name = unique("typo")
    with env.watching(env.operator("operator-b.log", "--namespace", "ident-*", "--no-registries")):
        cluster.create(namespace, "app", tagged_spec(name))
        status = cluster.wait_ready(namespace, "app")["status"]
        assert status["account"] == OWN_ACCOUNT and "roleArn" not in status
        own.assert_converged(namespace, "app", name)

        cluster.patch(namespace, "app", {"spec": {"lifecycle": {"maxImageCount": None, "policyText": NOT_JSON}}})
        cluster.delete(namespace, "app")
        cluster.wait_gone(namespace, "app", timeout=60)
    own.assert_deleted(namespace, "app", name)


def test_a_delete_after_the_mapping_is_gone_acts_with_the_recorded_role(env: Env) -> None:
    """(c) The role annotation removed under --require-account-mapping: the delete cleans the recorded account with
    the recorded role; while that role cannot be assumed it keeps the finalizer with a clear status."""
    cluster, aws_d = env.cluster, env.aws(ROLE_D)
    namespace = cluster.namespace("strict-c", {ROLE_ANNOTATION: ROLE_D})
    name = unique("strict-app")
    strict = ("--namespace", "strict-*", "--require-account-mapping", "--no-registries")
    with env.watching(env.operator("operator-c.log", *strict)):
        cluster.create(namespace, "app", tagged_spec(name))
        status = cluster.wait_ready(namespace, "app")["status"]
        assert (status["account"], status["roleArn"]) == (ACCOUNT_D, ROLE_D)
        aws_d.assert_converged(namespace, "app", name)
        cluster.core.patch_namespace(namespace, {"metadata": {"annotations": {ROLE_ANNOTATION: None}}})
        cluster.wait_condition(namespace, "app", "False", "AccountNotMapped", timeout=60)

    # A new process (no cached credentials) whose AssumeRole of the recorded role is refused: the delete waits.
    refused = env.proxy.add_fault(Fault("access_denied", operation="AssumeRole", times=None, body_contains=ACCOUNT_D))
    with env.watching(env.operator("operator-c2.log", *strict)):
        cluster.delete(namespace, "app")
        obj = cluster.wait_condition(namespace, "app", "False", "AccountRoleNotAssumable", timeout=60)
        assert ROLE_D in cluster.ready_condition(obj)["message"]
        cluster.wait_event(namespace, "app", "AccountRoleNotAssumable", "Warning")
        assert obj["metadata"].get("deletionTimestamp") and obj["metadata"]["finalizers"]
        assert refused.injected >= 1
        aws_d.assert_converged(namespace, "app", name)

        env.proxy.clear_faults()
        cluster.wait_gone(namespace, "app", timeout=120)
    aws_d.assert_deleted(namespace, "app", name)


def test_an_operator_restarted_with_another_region_stalls_existing_resources_and_deletes_where_they_are(
    env: Env,
) -> None:
    """(d) Resources that took the operator's default region stay there: another --region is RegionChanged for
    EcrRepository and EcrRegistry, nothing is created in it, and the deletes clean the recorded region."""
    cluster, here, there = env.cluster, env.aws(), env.aws(region=OTHER_REGION)
    registries = Registries(cluster.api, cluster.context)
    namespace = cluster.namespace("region-d")
    name, registry_name = unique("defaulted"), unique("registry")
    spec = {k: v for k, v in tagged_spec(name).items() if k != "region"}
    on_push = {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*"}]}
    scanning = {"scanType": "BASIC", "rules": [on_push]}
    with env.watching(env.operator("operator-d.log", "--namespace", "region-*")):
        cluster.create(namespace, "app", spec)
        assert cluster.wait_ready(namespace, "app")["status"]["region"] == REGION
        registries.create(registry_name, {"scanning": scanning, "deletionPolicy": "Delete"})
        assert registries.wait_ready(registry_name)["status"]["region"] == REGION
        before = here.snapshot(name)
    assert Registry(here).scanning()["rules"], "the registry's scanning rules are set"

    with env.watching(env.operator("operator-d2.log", "--namespace", "region-*", region=OTHER_REGION)):
        obj = cluster.wait_condition(namespace, "app", "False", "RegionChanged", timeout=60)
        assert f"--region {REGION}" in cluster.ready_condition(obj)["message"]
        assert _stalled(obj)["status"] == "True"
        cluster.wait_event(namespace, "app", "RegionChanged", "Warning")
        registries.wait_condition(registry_name, "False", "RegionChanged", timeout=60)
        registries.wait_event(registry_name, "RegionChanged")
        assert there.repository(name) is None and there.owned_keys(namespace, "app") == []
        assert Registry(there).scanning()["rules"] == [], "the other region's registry is not written"
        assert here.snapshot(name) == before

        cluster.delete(namespace, "app")
        registries.delete(registry_name)
        cluster.wait_gone(namespace, "app", timeout=60)
        registries.wait_gone(registry_name, timeout=60)
    here.assert_deleted(namespace, "app", name)
    assert Registry(here).scanning() == {"scanType": "BASIC", "rules": []}, "reset in the recorded region"
