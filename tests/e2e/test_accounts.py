"""Many AWS accounts from one cluster: a Namespace annotated ecr.platform.dev/aws-role-arn by a cluster admin has its
resources in that role's account (sts:AssumeRole with the operator's own identity).

Its own control plane, moto and a recording proxy; two operators: one with the defaults (unmapped Namespaces use
the operator's own account, moto's 123456789012), one with ``--require-account-mapping``. moto's STS answers
AssumeRole with credentials of the account in the role ARN (it does not check trust policies), so resources made
with them land in that account; a refused AssumeRole is injected at the proxy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from support import (
    ACCOUNT_B,
    ACCOUNT_C,
    ACCOUNT_D,
    CLUSTER_TAG,
    NAMESPACE_TAG,
    OWN_ACCOUNT,
    REGION,
    ROLE_ANNOTATION,
    ROLE_B,
    ROLE_C,
    ROLE_D,
    TAGS,
    Aws,
    Cluster,
    operator_process,
    private_cluster,
    tagged_spec,
    unique,
    wait_for,
)

from ecr_operator_dev import AwsProxy, ControlPlaneBinaries, MotoServer
from ecr_operator_dev.awsproxy import Fault

pytestmark = pytest.mark.e2e


@dataclass
class Accounts:
    cluster: Cluster
    moto: MotoServer
    proxy: AwsProxy
    cluster_id: str
    own: Aws
    """The operator's own account."""
    team_a: str
    """Not mapped: the operator's own account."""
    team_b: str
    """Mapped to ROLE_B."""
    required: str
    """Served by the operator with --require-account-mapping; not mapped at first."""

    def aws(self, role_arn: str) -> Aws:
        return Aws.assuming(self.moto.endpoint_url, role_arn, cluster_id=self.cluster_id)


@pytest.fixture(scope="module")
def env(controlplane_binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Accounts]:
    workdir = tmp_path_factory.mktemp("accounts")
    with (
        private_cluster(controlplane_binaries, workdir / "cp") as cluster,
        MotoServer(workdir / "moto") as moto,
        AwsProxy(upstream=moto.endpoint_url) as proxy,
    ):
        team_a, team_b = cluster.namespace("acct-a"), cluster.namespace("acct-b", {ROLE_ANNOTATION: ROLE_B})
        required = cluster.namespace("strict")
        cluster_id = unique("accounts")
        aws_env = {**moto.aws_environment(REGION), "AWS_ENDPOINT_URL": proxy.endpoint_url}

        def operator(log_name: str, *args: str) -> Any:
            return operator_process(
                kubeconfig=cluster.controlplane.kubeconfig,
                aws_env=aws_env,
                log_path=workdir / log_name,
                cluster_id=cluster_id,
                resync_seconds=3,
                extra_args=args,
            )

        strict = ["--namespace", "strict-*", "--require-account-mapping"]
        with (
            operator("operator.log", "--namespace", "acct-*") as default,
            operator("operator-strict.log", *strict) as strict_op,
        ):
            cluster.log_context = lambda: "\n".join(
                f"--- {p.log_path.name} ---\n{p.log_tail(5000)}" for p in (default, strict_op)
            )
            yield Accounts(cluster, moto, proxy, cluster_id, Aws(moto.endpoint_url, REGION), team_a, team_b, required)


def test_a_mapped_namespaces_repository_lives_converges_and_is_deleted_in_its_account(env: Accounts) -> None:
    cluster, aws_b = env.cluster, env.aws(ROLE_B)
    name = unique("team-b-app")
    # The same name in the operator's own account, owned by nobody: in another account it is another repository,
    # so it must neither block (RepositoryNotOwned) nor be touched.
    env.own.ecr.create_repository(repositoryName=name, imageScanningConfiguration={"scanOnPush": False})
    own_before = env.own.snapshot(name)
    # A resource of the operator's own account resyncing in the same region at the same time: batched resync views
    # are per (account, region); a per-region view would show team-b's resyncs the unowned repository above.
    cluster.create(env.team_a, "own", tagged_spec(unique("team-a-app"), encryption={"type": "AES256"}))

    cluster.create(env.team_b, "app", tagged_spec(name))
    obj = cluster.wait_ready(env.team_b, "app")
    status = obj["status"]
    assert status["registryId"] == ACCOUNT_B
    assert status["repositoryUri"] == f"{ACCOUNT_B}.dkr.ecr.{REGION}.amazonaws.com/{name}"
    assert f":{ACCOUNT_B}:key/" in status["kmsKeyArn"]
    repository = aws_b.repository(name)
    assert repository is not None and repository["encryptionConfiguration"]["kmsKey"] == status["kmsKeyArn"]
    tags = aws_b.repository_tags(name)
    assert (tags[CLUSTER_TAG], tags[NAMESPACE_TAG]) == (env.cluster_id, env.team_b)
    assert aws_b.key_tags(status["kmsKeyArn"])[NAMESPACE_TAG] == env.team_b
    assert aws_b.rotation(status["kmsKeyArn"])
    assert cluster.wait_ready(env.team_a, "own")["status"]["registryId"] == OWN_ACCOUNT

    # Update: one lifecycle write, in account B.
    cluster.patch(env.team_b, "app", {"spec": {"lifecycle": {"maxImageCount": 5}}})
    cluster.wait_ready(env.team_b, "app")
    lifecycle = aws_b.lifecycle(name)
    assert lifecycle is not None and lifecycle["rules"][0]["selection"]["countNumber"] == 5

    # Drift made in account B is corrected by a resync (batched view of account B).
    aws_b.ecr.put_image_scanning_configuration(repositoryName=name, imageScanningConfiguration={"scanOnPush": False})
    wait_for(
        lambda: aws_b.snapshot(name)["scanOnPush"] is True,
        "the drift in account B to be corrected",
        timeout=60,
        context=cluster.context,
    )
    # Several resyncs of both resources later, both are still Synced and the own account's namesake untouched.
    cluster.wait_event(env.team_b, "app", "DriftCorrected", "Normal")
    assert cluster.ready_condition(cluster.must_get(env.team_b, "app"))["reason"] == "Synced"
    assert env.own.snapshot(name) == own_before

    # Delete: the repository and key of account B go; the own account's namesake stays.
    cluster.delete(env.team_b, "app")
    cluster.wait_gone(env.team_b, "app")
    assert aws_b.repository(name) is None
    assert aws_b.key(status["kmsKeyArn"])["KeyState"] == "PendingDeletion"
    assert env.own.snapshot(name) == own_before

    # Every AWS call for account B was made with credentials assumed for the operator's cluster.
    assume = [c for c in env.proxy.calls() if c.operation == "AssumeRole"]
    assert assume and all(c.status == 200 for c in assume)


def test_a_role_that_cannot_be_assumed_is_reported_without_a_hot_loop(env: Accounts) -> None:
    cluster = env.cluster
    team_c = cluster.namespace("acct-c", {ROLE_ANNOTATION: ROLE_C})
    fault = env.proxy.add_fault(Fault("access_denied", operation="AssumeRole", times=None, body_contains=ACCOUNT_C))
    name = unique("team-c-app")
    cluster.create(team_c, "app", tagged_spec(name, encryption={"type": "AES256"}))
    obj = cluster.wait_condition(team_c, "app", "False", "AccountRoleNotAssumable")
    message = cluster.ready_condition(obj)["message"]
    assert ROLE_C in message and "AccessDenied" in message, message
    stalled = next(c for c in obj["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True", "waits for a change of the mapping or the role: not retried at once"

    # No hot loop: one AssumeRole per pass, and passes come from the resync timer (every 3 s here).
    counted_from, started = fault.injected, time.monotonic()
    time.sleep(9)
    calls, elapsed = fault.injected - counted_from, time.monotonic() - started
    assert calls <= elapsed / 3 + 2, f"{calls} AssumeRole calls in {elapsed:.0f} s"
    assert env.aws(ROLE_C).repository(name) is None

    # Once the role can be assumed (the target account's trust policy fixed), the next resync converges.
    env.proxy.clear_faults()
    obj = cluster.wait_ready(team_c, "app", timeout=60)
    assert obj["status"]["registryId"] == ACCOUNT_C
    assert env.aws(ROLE_C).repository(name) is not None
    cluster.delete(team_c, "app")
    cluster.wait_gone(team_c, "app")
    assert env.aws(ROLE_C).repository(name) is None


def test_require_account_mapping_refuses_unmapped_namespaces_until_an_admin_maps_them(env: Accounts) -> None:
    cluster = env.cluster
    name = unique("strict-app")
    cluster.create(env.required, "app", tagged_spec(name, encryption={"type": "AES256"}, tags=dict(TAGS)))
    obj = cluster.wait_condition(env.required, "app", "False", "AccountNotMapped")
    assert ROLE_ANNOTATION in cluster.ready_condition(obj)["message"]
    assert env.own.repository(name) is None, "nothing in the operator's own account"

    # A cluster admin maps the Namespace: the next resync creates the repository in that account.
    cluster.core.patch_namespace(env.required, {"metadata": {"annotations": {ROLE_ANNOTATION: ROLE_D}}})
    obj = cluster.wait_ready(env.required, "app", timeout=60)
    assert obj["status"]["registryId"] == ACCOUNT_D
    assert env.aws(ROLE_D).repository(name) is not None
    assert env.own.repository(name) is None
    cluster.delete(env.required, "app")
    cluster.wait_gone(env.required, "app")
    assert env.aws(ROLE_D).repository(name) is None

    # A resource refused for want of a mapping is deleted without touching AWS.
    unmapped = cluster.namespace("strict")
    cluster.create(unmapped, "refused", tagged_spec(unique("refused"), encryption={"type": "AES256"}))
    cluster.wait_condition(unmapped, "refused", "False", "AccountNotMapped")
    cluster.delete(unmapped, "refused")
    cluster.wait_gone(unmapped, "refused")
