"""A replica put on standby while its restart pass is under way stops it (runtime/peering.py).

Replica "low" starts alone over existing resources; their resume passes are deferred (runtime/resume.py), slowed
at the proxy (each one's GetLifecyclePolicy read takes a while) and read AWS afresh. Replica "high", of a higher
priority, starts meanwhile: kopf pauses "low". A spec edited after that is applied by "high"; "low" never sees the
change (its watch is paused), so had it run on through its deferred resumes it would apply the body it listed over
the edit (its own call, which no event corrects) until a resync.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import pytest
from support import (
    DEPLOY,
    REGION,
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

from ecr_operator_dev import AwsProxy, ControlPlaneBinaries, Fault, MotoServer

pytestmark = pytest.mark.e2e

PEERING = "ecr-operator"
N = 10


@dataclass
class Setup:
    cluster: Cluster
    proxy: AwsProxy
    aws: Aws
    low: Operator
    high: Operator

    def context(self) -> str:
        return "\n".join(f"--- {o.log_path.name} ---\n{o.log_tail(4000)}" for o in (self.low, self.high))


@pytest.fixture
def setup(controlplane_binaries: ControlPlaneBinaries, moto_server: MotoServer, tmp_path: Path) -> Iterator[Setup]:
    with private_cluster(controlplane_binaries, tmp_path / "controlplane") as cluster:
        cluster.apply(DEPLOY / "base" / "rbac.yaml")
        cluster.apply(DEPLOY / "kopf-peering" / "kopf-peerings.yaml")
        cluster.apply(DEPLOY / "base" / "peering-rbac.yaml")
        wait_established(cluster.api, "clusterkopfpeerings.kopf.dev")
        kubernetes.client.CustomObjectsApi(cluster.api).create_cluster_custom_object(
            "kopf.dev",
            "v1",
            "clusterkopfpeerings",
            {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": PEERING}},
        )
        kubeconfig = cluster.controlplane.token_kubeconfig("ecr-operator", "ecr-operator")
        cluster_id = unique("standby")
        with AwsProxy(upstream=moto_server.endpoint_url) as proxy:
            aws_env = {**moto_server.aws_environment(REGION), "AWS_ENDPOINT_URL": proxy.endpoint_url}

            def replica(name: str, priority: int, resync_seconds: float) -> Operator:
                return operator_process(
                    kubeconfig=kubeconfig,
                    aws_env=aws_env,
                    log_path=tmp_path / f"operator-{name}.log",
                    cluster_id=cluster_id,
                    resync_seconds=resync_seconds,
                    workers=1,
                    extra_args=["--peering", PEERING, "--peering-priority", str(priority), "-v"],
                )

            # Low's resumes read AWS afresh (its batched views live a tenth of its resync interval): one that runs
            # after the edit sees it. High's resync is far off: it would correct a revert only then.
            low, high = replica("low", 10, 20.0), replica("high", 1000, 3600.0)
            try:
                yield Setup(cluster, proxy, Aws(moto_server.endpoint_url, REGION, cluster_id), low, high)
            finally:
                high.stop()
                low.stop()


def _paused(operator: Operator) -> bool:
    states = re.findall(r"(Pausing|Resuming) the watch-stream for ecrrepositories", operator.log_path.read_text())
    return bool(states) and states[-1] == "Pausing"


def test_a_replica_put_on_standby_does_not_apply_the_bodies_it_listed(setup: Setup) -> None:
    cluster, ns = setup.cluster, setup.cluster.namespace("standby")
    names = [f"app-{index:02d}" for index in range(N)]  # listed in this order; the edited one is the last
    repositories = {name: unique(name) for name in names}
    setup.low.start()
    for name in names:
        cluster.create(ns, name, tagged_spec(repositories[name], encryption={"type": "AES256"}))
    for name in names:
        cluster.wait_ready(ns, name, context=setup.context)
    setup.low.stop()

    slow = setup.proxy.add_fault(Fault("delay", "GetLifecyclePolicy", times=None, delay_seconds=8.0))
    setup.low.start()
    wait_for(lambda: slow.injected >= 1, "low's resumes to start", timeout=60, context=setup.context)
    setup.high.start()
    wait_for(lambda: _paused(setup.low), "low to stand by", timeout=90, context=setup.context)

    target = names[-1]
    cluster.patch_spec(ns, target, {"imageTagMutability": "IMMUTABLE"})
    edited = cluster.must_get(ns, target)["metadata"]["generation"]

    def applied() -> bool:
        status = cluster.must_get(ns, target).get("status") or {}
        assert status.get("observedGeneration") == edited, status
        return True

    wait_for(applied, "high to apply the edit", timeout=120, context=setup.context)
    setup.proxy.clear_faults()
    # Low's queue: dropped at its pause (it says how many), or run on (its pass over the edited resource reverts
    # it). Either way it ends; then what AWS holds is the edit.
    wait_for(
        lambda: (
            "deferred resume passes dropped" in setup.low.log_path.read_text()
            or setup.aws.repository(repositories[target])["imageTagMutability"] == "MUTABLE"
        ),
        "low's deferred resumes to be dropped or to reach the edited resource",
        timeout=120,
        context=setup.context,
    )
    assert setup.aws.repository(repositories[target])["imageTagMutability"] == "IMMUTABLE", setup.context()
