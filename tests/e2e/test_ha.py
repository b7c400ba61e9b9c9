"""Two replicas with kopf peering (deploy/kopf-peering/kopf-peerings.yaml, deploy/base/peering-rbac.yaml): one serves,
the other stands by; after a SIGKILL of the active one the standby takes over and converges a new resource."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import (
    DEPLOY,
    REGION,
    Cluster,
    Operator,
    forbidden_lines,
    operator_process,
    private_cluster,
    tagged_spec,
    unique,
    wait_established,
    wait_for,
)

from ecr_operator_dev import ControlPlaneBinaries, MotoServer

pytestmark = pytest.mark.e2e

PEERING = "ecr-operator"
LIFETIME_SECONDS = 10


@dataclass
class Replica:
    name: str
    process: Operator

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace") if self.process.log_path.exists() else ""

    def watch_state(self) -> str | None:
        """The last pause/resume of the EcrRepository watch-stream (debug lines: the replicas run with -v)."""
        states = re.findall(r"(Pausing|Resuming) the watch-stream for ecrrepositories", self.log())
        return states[-1] if states else None

    def handled(self, namespace: str, name: str) -> bool:
        """Whether this replica changed AWS for namespace/name (the reconciler logs "<ns>/<name>: <change>")."""
        pattern = rf"ecr_operator\S* +\[INFO +\] {re.escape(namespace)}/{re.escape(name)}: "
        return re.search(pattern, self.log()) is not None


@dataclass
class Pair:
    cluster: Cluster
    replicas: list[Replica]

    def context(self) -> str:
        return "\n".join(f"--- {r.name} ---\n{r.process.log_tail(4000)}" for r in self.replicas)


@pytest.fixture(scope="module")
def pair(
    controlplane_binaries: ControlPlaneBinaries, moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp("ha")
    with private_cluster(controlplane_binaries, workdir / "controlplane") as cluster:
        cluster.apply(DEPLOY / "base" / "rbac.yaml")
        cluster.apply(DEPLOY / "kopf-peering" / "kopf-peerings.yaml")
        cluster.apply(DEPLOY / "base" / "peering-rbac.yaml")
        # In a cluster the Deployment's init container creates it (tests/e2e/test_packaging.py).
        wait_established(cluster.api, "clusterkopfpeerings.kopf.dev")
        kubernetes.client.CustomObjectsApi(cluster.api).create_cluster_custom_object(
            "kopf.dev",
            "v1",
            "clusterkopfpeerings",
            {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": PEERING}},
        )
        # The replicas run as the operator's ServiceAccount: the peering RBAC is proven too.
        kubeconfig = cluster.controlplane.token_kubeconfig("ecr-operator", "ecr-operator")
        cluster_id = unique("ha")
        replicas = [
            Replica(
                name,
                operator_process(
                    kubeconfig=kubeconfig,
                    aws_env=moto_server.aws_environment(REGION),
                    log_path=Path(workdir) / f"operator-{name}.log",
                    cluster_id=cluster_id,
                    extra_args=["--peering", PEERING, "--peering-lifetime", str(LIFETIME_SECONDS), "-v"],
                ),
            )
            for name in ("one", "two")
        ]
        try:
            for replica in replicas:
                replica.process.start()
            yield Pair(cluster, replicas)
        finally:
            for replica in replicas:
                replica.process.stop()
        for replica in replicas:
            assert forbidden_lines(replica.log()) == [], f"{replica.name}: " + "\n".join(forbidden_lines(replica.log()))


def test_one_serves_the_other_stands_by_and_takes_over_after_a_kill(
    pair: Pair, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster, ns = pair.cluster, pair.cluster.namespace("ha")

    # Both replicas are in the peering object with different priorities (random per process by default), and
    # exactly one has its watch-stream paused. The stream's own state is what counts: kopf does not interrupt a
    # LIST in flight when the pause arrives (e.g. one retried after a 429 from a just-started API server) and
    # still dispatches the objects it returns, so replicas starting together may both handle the objects that
    # exist at that moment (see README, HA).
    def standby() -> Replica:
        peering = cluster.custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", PEERING)
        peers = peering.get("status") or {}
        priorities = {peer["priority"] for peer in peers.values() if peer}
        assert len(peers) == 2 and len(priorities) == 2, f"peers: {peers}"
        paused = [r for r in pair.replicas if r.watch_state() == "Pausing"]
        assert len(paused) == 1, f"watch-streams: {[(r.name, r.watch_state()) for r in pair.replicas]}"
        return paused[0]

    passive = wait_for(standby, "one replica to stand by", timeout=60, context=pair.context)
    active = next(r for r in pair.replicas if r is not passive)

    cluster.create(ns, "first", tagged_spec(unique("ha-first")))
    cluster.wait_ready(ns, "first", context=pair.context)
    assert active.handled(ns, "first")
    assert not passive.handled(ns, "first"), "the standby must not reconcile while the active replica lives"
    assert standby() is passive, "still exactly one standby"

    active.process.kill()  # SIGKILL: no goodbye in the peering object; its record has to expire
    killed_at = time.monotonic()
    cluster.create(ns, "second", tagged_spec(unique("ha-second")))
    cluster.wait_ready(ns, "second", timeout=LIFETIME_SECONDS * 6 + 60, context=pair.context)
    takeover = time.monotonic() - killed_at
    with capsys.disabled():
        print(f"\ntakeover: {takeover:.1f}s from the SIGKILL to a new resource Ready (lifetime {LIFETIME_SECONDS}s)")
    assert passive.handled(ns, "second")

    # The survivor's gauges count both resources, the one the killed replica made Ready included: from their status,
    # at the listing that started its serving (ecr_operator_resources by kind and Ready reason).
    def counted() -> bool:
        with urllib.request.urlopen(f"{passive.process.metrics_url}/metrics", timeout=10) as response:
            text = response.read().decode()
        ready = sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "ecr_operator_resources"
            and sample.labels == {"kind": "EcrRepository", "ready": "True", "reason": "Synced"}
        )
        assert ready >= 2, f"{ready} EcrRepository resources Ready on the survivor"
        return True

    wait_for(counted, "the survivor to count both resources", timeout=30, context=pair.context)

    # The survivor serves deletes too.
    for name in ("first", "second"):
        cluster.delete(ns, name)
    for name in ("first", "second"):
        cluster.wait_gone(ns, name, context=pair.context)
