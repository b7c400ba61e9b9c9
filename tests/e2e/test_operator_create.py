"""The seed example converges: status, AWS state and the printer columns."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
import yaml
from operator_env import (
    CLUSTER_ID,
    SEED_EXAMPLE,
    Namespace,
)
from support import GROUP, PLURAL, REGION, VERSION, unique

pytestmark = pytest.mark.e2e


def test_seed_example_becomes_ready(ns: Namespace) -> None:
    manifest = yaml.safe_load(SEED_EXAMPLE.read_text())
    name = manifest["metadata"]["name"]
    repository_name = unique("my-application")
    spec = {**manifest["spec"], "repositoryName": repository_name}

    ns.create(name, spec)
    obj = ns.wait_ready(name)

    status = obj["status"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    ready = ns.ready_condition(obj)
    assert ready["message"] == f"repository {repository_name} is in sync"
    assert ready["lastTransitionTime"]
    assert status["repositoryName"] == repository_name
    assert status["region"] == REGION
    assert status["registryId"] == "123456789012"
    assert status["repositoryUri"] == f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{repository_name}"
    assert status["repositoryArn"] == f"arn:aws:ecr:{REGION}:123456789012:repository/{repository_name}"
    assert status["kmsKeyArn"].startswith(f"arn:aws:kms:{REGION}:123456789012:key/")
    assert status["lastSyncTime"]

    aws = ns.env.aws
    owner_tags = {
        "ecr.platform.dev/cluster": CLUSTER_ID,
        "ecr.platform.dev/namespace": ns.name,
        "ecr.platform.dev/name": name,
    }
    expected_tags = {**spec["tags"], **owner_tags}

    # The KMS key: enabled, rotating, aliased, tagged, and the only one owned by this resource.
    key_id = aws.alias_target(repository_name)
    assert key_id is not None, "alias alias/ecr/<name> is missing"
    key = aws.key(key_id)
    assert key["Arn"] == status["kmsKeyArn"]
    assert key["KeyState"] == "Enabled"
    assert key["KeyManager"] == "CUSTOMER"
    assert aws.rotation(key_id) is True
    assert aws.key_tags(key_id) == expected_tags
    assert [k["KeyId"] for k in aws.owned_keys(ns.name, name)] == [key_id]

    # The repository.
    repository = aws.repository(repository_name)
    assert repository is not None
    assert repository["repositoryUri"] == status["repositoryUri"]
    assert repository["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": status["kmsKeyArn"]}
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["imageTagMutability"] == "MUTABLE"
    assert aws.repository_tags(repository_name) == expected_tags
    lifecycle = aws.lifecycle(repository_name)
    assert lifecycle is not None
    [rule] = lifecycle["rules"]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30}
    assert rule["action"] == {"type": "expire"}
    # crossAccountPull is disabled in the seed even though it lists an account.
    assert aws.policy(repository_name) is None

    # An Updated event naming what was created, and no warnings on the way to Ready.
    [updated] = ns.wait_event(name, "Updated", "Normal")
    assert f"create repository {repository_name}" in updated.message
    assert ns.events(name, type_="Warning") == []

    # `kubectl get ecr`: the printer columns, through the Table API (what kubectl asks for).
    table = _table(ns)
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == ["Name", "URI", "Ready", "Reason", "Images", "Size", "Critical", "High", "Age"]
    [row] = table["rows"]
    assert row["cells"][:4] == [name, status["repositoryUri"], "True", "Synced"]

    kubectl = ns.env.controlplane.binaries.kubectl
    if kubectl is not None:
        out = subprocess.run(
            [str(kubectl), "get", "ecr", "-n", ns.name, "--no-headers"],
            env={**os.environ, "KUBECONFIG": str(ns.env.controlplane.kubeconfig)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
        assert out[:4] == [name, status["repositoryUri"], "True", "Synced"]


def _table(ns: Namespace) -> dict[str, Any]:
    response = ns.env.api.call_api(
        "GET",
        f"{ns.env.controlplane.server}/apis/{GROUP}/{VERSION}/namespaces/{ns.name}/{PLURAL}",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    )
    response.read()
    table: dict[str, Any] = json.loads(response.data)
    assert table["kind"] == "Table"
    return table
