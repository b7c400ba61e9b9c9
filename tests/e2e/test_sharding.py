"""Sharding: two operator processes with disjoint ``--namespace`` sets and their own peering names, one API server,
one AWS. Each handles only its own namespaces: its AWS calls (each shard has its own counting proxy) and its log
concern only them; a shard's resources converge while the other shard is stopped, and the stopped shard's
resources stay untouched (no finalizer, no status, nothing in AWS) until it starts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import (
    Aws,
    Cluster,
    Operator,
    operator_process,
    private_cluster,
    tagged_spec,
    unique,
    wait_established,
    wait_for,
)

from ecr_operator_dev import AwsProxy, ControlPlaneBinaries, MotoServer

pytestmark = pytest.mark.e2e

REGION = "ca-central-1"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RESYNC_SECONDS = 2.0


@dataclass
class Shard:
    name: str
    namespaces: list[str]
    proxy: AwsProxy
    process: Operator

    def creates(self) -> int:
        return sum(1 for c in self.proxy.calls() if c.operation == "CreateRepository")

    def log(self) -> str:
        return self.process.log_tail(10**8)


@dataclass
class Shards:
    cluster: Cluster
    aws: Aws
    a: Shard
    b: Shard


@pytest.fixture(scope="module")
def shards(
    controlplane_binaries: ControlPlaneBinaries, moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shards]:
    workdir = tmp_path_factory.mktemp("sharding")
    with (
        private_cluster(controlplane_binaries, workdir / "controlplane") as cluster,
        AwsProxy(upstream=moto_server.endpoint_url) as proxy_a,
        AwsProxy(upstream=moto_server.endpoint_url) as proxy_b,
    ):
        cluster.apply(DEPLOY / "kopf-peering" / "kopf-peerings.yaml")
        for crd in ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"):
            wait_established(cluster.api, crd)
        cluster_id = unique("shards")  # one cluster, so one cluster id for every shard

        def shard(name: str, proxy: AwsProxy, namespaces: list[str]) -> Shard:
            peering = f"ecr-operator-{name}"
            for namespace in namespaces:  # a namespaced operator peers through a KopfPeering in each namespace
                cluster.custom.create_namespaced_custom_object(
                    "kopf.dev",
                    "v1",
                    namespace,
                    "kopfpeerings",
                    {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": peering}},
                )
            process = operator_process(
                kubeconfig=cluster.controlplane.kubeconfig,
                aws_env={**moto_server.aws_environment(REGION), "AWS_ENDPOINT_URL": proxy.endpoint_url},
                log_path=workdir / f"operator-{name}.log",
                cluster_id=cluster_id,
                region=REGION,
                resync_seconds=RESYNC_SECONDS,
                extra_args=[*(arg for ns in namespaces for arg in ("--namespace", ns)), "--peering", peering],
            )
            return Shard(name, namespaces, proxy, process)

        a = shard("shard-a", proxy_a, [cluster.namespace("shard-a"), cluster.namespace("shard-a")])
        b = shard("shard-b", proxy_b, [cluster.namespace("shard-b")])
        cluster.log_context = lambda: "\n".join(
            f"--- {s.name} ---\n{s.process.log_tail(4000)}" for s in (a, b) if s.process.log_path.exists()
        )
        try:
            yield Shards(cluster, Aws(moto_server.endpoint_url, REGION, cluster_id), a, b)
        finally:
            a.process.stop()
            b.process.stop()


def untouched(shards: Shards, namespace: str, name: str, repository: str) -> None:
    """No finalizer, no status, no repository: no operator has handled namespace/name."""
    obj = shards.cluster.must_get(namespace, name)
    assert not obj["metadata"].get("finalizers"), obj["metadata"]
    assert not obj.get("status"), obj.get("status")
    assert shards.aws.repository(repository) is None


def test_shards_handle_only_their_own_namespaces(shards: Shards) -> None:
    cluster, a, b = shards.cluster, shards.a, shards.b
    suffix = unique("r")
    a_resources = [(ns, f"a{index}-{suffix}") for index, ns in enumerate(a.namespaces)]
    b_resource = (b.namespaces[0], f"b0-{suffix}")

    # Only shard A runs: its resources converge, shard B's resource is not touched.
    a.process.start()
    for namespace, name in [*a_resources, b_resource]:
        cluster.create(namespace, name, tagged_spec(name, region=REGION))
    for namespace, name in a_resources:
        cluster.wait_ready(namespace, name)
    first_pass_done = time.monotonic()
    # A's resources resync every RESYNC_SECONDS: wait until A has had time for several passes over its namespaces.
    wait_for(lambda: time.monotonic() - first_pass_done > 3 * RESYNC_SECONDS, "a few resync intervals")
    untouched(shards, *b_resource, b_resource[1])
    assert a.creates() == len(a_resources)
    assert b.proxy.calls() == []

    # Shard B starts: its resource converges, through its own proxy only.
    b.process.start()
    cluster.wait_ready(*b_resource)
    assert b.creates() == 1
    assert a.creates() == len(a_resources)

    # Shard A stops: B's resources still converge, a new resource in A's namespace waits for A.
    a.process.stop()
    late = (a.namespaces[1], f"late-{suffix}")
    cluster.create(*late, tagged_spec(late[1], region=REGION))
    generation = cluster.patch_spec(*b_resource, {"lifecycle": {"maxImageCount": 12}})["metadata"]["generation"]
    cluster.wait_condition(*b_resource, "True", "Synced", generation=generation)
    lifecycle = shards.aws.lifecycle(b_resource[1])
    assert lifecycle is not None and "12" in str(lifecycle)
    untouched(shards, *late, late[1])

    # Shard A is back: it picks up its late resource; B never created anything in A's namespaces.
    a.process.start()
    cluster.wait_ready(*late)
    assert a.creates() == len(a_resources) + 1
    assert b.creates() == 1

    # Each shard's log names only its own namespaces.
    for shard, other in ((a, b), (b, a)):
        log = shard.log()
        for namespace in other.namespaces:
            assert namespace not in log, f"{shard.name} mentions {namespace}:\n{log[-3000:]}"
        for namespace in shard.namespaces:
            assert namespace in log, f"{shard.name} never mentions its own {namespace}"
