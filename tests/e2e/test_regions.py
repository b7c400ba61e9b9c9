"""A region the operator must not act in (invented, or outside --allowed-regions) is refused before any client is
built: Ready=False RegionNotAllowed (Stalled) naming the region, a Warning event, not one AWS request signed for
that region, and the resource can be deleted (the finalizer comes off). The same for an EcrRegistry.

A private control plane (the operator serves the cluster-scoped EcrRegistry too), moto behind a recording proxy that
notes the region each request was signed for, and one operator with ``--allowed-regions``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from support import REGION, Cluster, Operator, Registries, operator_process, private_cluster, tagged_spec, unique

from ecr_operator_dev import AwsProxy, ControlPlaneBinaries, MotoServer

pytestmark = pytest.mark.e2e

ALLOWED = (REGION, "eu-west-1")
INVENTED = "aa-fake-1"
NOT_ALLOWED = "us-east-1"
"""A real region, but not one of ALLOWED."""


@dataclass
class Env:
    cluster: Cluster
    proxy: AwsProxy
    operator: Operator
    registries: Registries

    def signed_for(self, region: str) -> list[str]:
        return [f"{c.service}:{c.operation}" for c in self.proxy.calls() if c.region == region]


@pytest.fixture(scope="module")
def env(controlplane_binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("regions")
    with (
        private_cluster(controlplane_binaries, workdir / "cp") as cluster,
        MotoServer(workdir / "moto") as moto,
        AwsProxy(upstream=moto.endpoint_url) as proxy,
    ):
        operator = operator_process(
            kubeconfig=cluster.controlplane.kubeconfig,
            aws_env={**moto.aws_environment(REGION), "AWS_ENDPOINT_URL": proxy.endpoint_url},
            log_path=workdir / "operator.log",
            cluster_id=unique("regions"),
            resync_seconds=3,
            extra_args=["--allowed-regions", ",".join(ALLOWED)],
        )
        with operator:
            cluster.log_context = lambda: operator.log_tail(8000)
            yield Env(cluster, proxy, operator, Registries(cluster.api, lambda: operator.log_tail(8000)))


@pytest.mark.parametrize(
    ("region", "says"),
    [(INVENTED, "not an AWS region that offers both ECR and KMS"), (NOT_ALLOWED, "--allowed-regions")],
    ids=["invented", "not-allowed"],
)
def test_a_refused_region_is_stalled_without_any_aws_call_and_the_resource_can_be_deleted(
    env: Env, region: str, says: str
) -> None:
    cluster = env.cluster
    namespace = cluster.namespace("region")
    cluster.create(namespace, "allowed", tagged_spec(unique("allowed")))
    cluster.create(namespace, "refused", tagged_spec(unique("refused"), region=region))

    obj = cluster.wait_condition(namespace, "refused", "False", "RegionNotAllowed")
    conditions = {c["type"]: c for c in obj["status"]["conditions"]}
    assert region in conditions["Ready"]["message"] and says in conditions["Ready"]["message"]
    assert conditions["Stalled"]["status"] == "True" and conditions["Stalled"]["reason"] == "RegionNotAllowed"
    [event] = cluster.wait_event(namespace, "refused", "RegionNotAllowed", "Warning")
    assert region in event.message
    cluster.wait_ready(namespace, "allowed")  # the operator works, and the proxy sees the regions it signs for

    assert env.signed_for(REGION), "the proxy records the region each request was signed for"
    assert env.signed_for(region) == [], f"requests signed for {region}"

    cluster.delete(namespace, "refused")
    cluster.wait_gone(namespace, "refused")
    assert env.signed_for(region) == []


def test_an_ecr_registry_in_an_invented_region_is_refused_and_can_be_deleted(env: Env) -> None:
    name = unique("fake-registry")
    env.registries.create(name, {"region": INVENTED, "deletionPolicy": "Delete"})
    env.registries.wait_condition(name, "False", "RegionNotAllowed")
    assert INVENTED in env.registries.condition(name, "Ready")["message"]
    env.registries.wait_event(name, "RegionNotAllowed")
    env.registries.delete(name)
    env.registries.wait_gone(name)
    assert env.signed_for(INVENTED) == []
