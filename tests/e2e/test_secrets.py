"""No credential, token or key ever reaches the operator's log (even with -v) or an Event.

The operator runs with recognisable, unique AWS credentials (access key id, secret key, session token),
first with a ServiceAccount bearer-token kubeconfig, then with the admin client-certificate kubeconfig;
it goes through create, update, two failures (a spec error and an AWS error) and delete. Then every
secret value, and the parts of them long enough to be recognised, is searched for in the log file, in
every Event of the namespace and in the objects themselves.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from support import TAGS, Aws, Cluster, Operator, operator_process, private_cluster, unique

from ecr_operator_dev import ControlPlaneBinaries, MotoServer

pytestmark = pytest.mark.e2e

REGION = "eu-central-1"
MISSING_KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-4000-8000-000000000000"


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class Secrets:
    access_key_id: str
    secret_access_key: str
    session_token: str
    bearer_token: str
    client_key_pem: str

    def values(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
            "bearer token": self.bearer_token,
            "client key PEM": self.client_key_pem,
        }

    def needles(self) -> dict[str, str]:
        """Each secret, and recognisable pieces of it (a truncated or wrapped copy is a leak too)."""
        found: dict[str, str] = {}
        for label, value in self.values().items():
            found[label] = value
            found[f"{label} (base64)"] = base64.b64encode(value.encode()).decode()
            if label == "client key PEM":
                body = [line for line in value.splitlines() if line and not line.startswith("-----")]
                found.update({f"{label} line {i}": line for i, line in enumerate(body)})
            elif len(value) > 60:
                found.update({f"{label} [{i}:{i + 32}]": value[i : i + 32] for i in range(0, len(value) - 32, 32)})
        return found


@dataclass
class SecretsEnv:
    cluster: Cluster
    aws: Aws
    namespace: str
    secrets: Secrets
    operator: Operator
    token_kubeconfig: Path


@pytest.fixture(scope="module")
def env(controlplane_binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretsEnv]:
    workdir = tmp_path_factory.mktemp("secrets")
    with private_cluster(controlplane_binaries, workdir / "cp") as cluster, MotoServer(workdir / "moto") as moto:
        namespace = cluster.namespace("secrets")
        identity = cluster.namespace("operator-identity")
        token_kubeconfig = cluster.controlplane.token_kubeconfig(identity, "ecr-operator")
        rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api)
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": unique("ecr-operator-secrets")},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "ecr-operator", "namespace": identity}],
            }
        )
        bearer = json.loads(token_kubeconfig.read_text())["users"][0]["user"]["token"]
        values = Secrets(
            access_key_id="AKIA" + _random(string.ascii_uppercase + string.digits, 16),
            secret_access_key=_random(string.ascii_letters + string.digits + "+/", 40),
            session_token="IQoJb3JpZ2luX2Vj" + _random(string.ascii_letters + string.digits + "+/", 300),
            bearer_token=bearer,
            client_key_pem=cluster.controlplane.pki.admin_key.read_text(),
        )
        aws_env = {
            **moto.aws_environment(REGION),
            "AWS_ACCESS_KEY_ID": values.access_key_id,
            "AWS_SECRET_ACCESS_KEY": values.secret_access_key,
            "AWS_SESSION_TOKEN": values.session_token,
        }
        operator = operator_process(
            kubeconfig=token_kubeconfig,
            aws_env=aws_env,
            log_path=workdir / "operator.log",
            cluster_id=unique("secrets"),
            region=REGION,
            resync_seconds=3,
            workers=None,
            extra_args=["-v", "--namespace", namespace],
        )
        operator.start()
        cluster.log_context = operator.log_tail
        try:
            yield SecretsEnv(cluster, Aws(moto.endpoint_url, REGION), namespace, values, operator, token_kubeconfig)
        finally:
            operator.stop()


def spec(repository_name: str, **changes: Any) -> dict[str, Any]:
    return {
        "repositoryName": repository_name,
        "lifecycle": {"maxImageCount": 10, "expireUntaggedAfterDays": 3},
        "crossAccountPull": {"enabled": True, "allowedAccountIds": ["111122223333"]},
        "tags": dict(TAGS),
        **changes,
    }


def test_no_secret_in_logs_or_events(env: SecretsEnv) -> None:
    cluster, ns = env.cluster, env.namespace
    repository = unique("secret-app")

    # create, update (with the bearer-token kubeconfig)
    cluster.create(ns, "app", spec(repository))
    cluster.wait_condition(ns, "app", "True", "Synced")
    cluster.patch_spec(ns, "app", {"lifecycle": {"maxImageCount": 20}, "imageTagMutability": "IMMUTABLE"})
    cluster.wait_condition(ns, "app", "True", "Synced")
    assert env.aws.repository(repository)["imageTagMutability"] == "IMMUTABLE"  # type: ignore[index]

    # two failures: one the operator finds in the spec, one AWS reports (a key that does not exist)
    cluster.create(ns, "untagged", spec(unique("untagged"), tags={"owner": "me"}))
    cluster.wait_condition(ns, "untagged", "False", "MissingRequiredTags")
    cluster.create(ns, "byok", spec(unique("byok"), encryption={"type": "KMS", "kmsKeyArn": MISSING_KEY_ARN}))
    byok = cluster.wait_condition(ns, "byok", "False", "KmsKeyNotFound")
    assert MISSING_KEY_ARN in cluster.ready_condition(byok)["message"]

    objects = json.dumps([cluster.must_get(ns, name) for name in ("app", "untagged", "byok")])

    # delete, after a restart with the admin (client certificate) kubeconfig
    env.operator.stop()
    env.operator.env["KUBECONFIG"] = str(cluster.controlplane.kubeconfig)
    env.operator.start()
    cluster.delete(ns, "app")
    cluster.wait_gone(ns, "app")
    assert env.aws.repository(repository) is None
    for name in ("untagged", "byok"):
        cluster.delete(ns, name)
        cluster.wait_gone(ns, name)
    env.operator.stop()

    log = env.operator.log_path.read_text(errors="replace")
    # The log really covers what happened, debug lines included (else "nothing leaked" proves nothing).
    assert "DEBUG" in log, log[-3000:]
    assert "KmsKeyNotFound" in log and "MissingRequiredTags" in log, log[-3000:]
    assert log.count("Activity 'login' succeeded") >= 2, "both logins (token, then client certificate) are logged"

    events = cluster.core.list_namespaced_event(ns).items
    assert {"MissingRequiredTags", "KmsKeyNotFound"} <= {e.reason for e in events}
    event_text = "\n".join(f"{e.reason}: {e.message}" for e in events)

    leaks = [
        f"{label} in {where}"
        for label, needle in env.secrets.needles().items()
        for where, text in (("the operator log", log), ("an Event", event_text), ("an object", objects))
        if needle in text
    ]
    assert not leaks, "\n".join(leaks)
