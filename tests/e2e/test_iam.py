"""deploy/iam-policy.json proven on the wire: the operator runs behind a recording proxy through every code
path we can reach (the inventory's image and scan reads too, and an events queue: deploy/aws/'s consumer policy),
and the AWS operations it sent are exactly the actions the policies allow."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from support import (
    DEPLOY,
    OWNER_TAGS,
    REGION,
    TAGS,
    Aws,
    Cluster,
    Operator,
    Registries,
    Registry,
    operator_process,
    private_cluster,
    tagged_spec,
    unique,
    wait_for,
)

from ecr_operator_dev import AwsProxy, ControlPlaneBinaries, MotoServer, deploy_events_stack

pytestmark = pytest.mark.e2e

PREFIXES = {"ecr": "ecr", "kms": "kms", "tagging": "tag", "sts": "sts", "sqs": "sqs"}
MAPPED_ROLE = "arn:aws:iam::222233334444:role/ecr-operator-iam"
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}  # every identity may call it: the readiness probe
INDIRECT = {
    # Sent by ECR itself with the operator's identity (kms:ViaService) when it creates / deletes a
    # KMS-encrypted repository: never visible on the operator's own connection (and moto does not model it).
    "kms:CreateGrant",
    "kms:RetireGrant",
}


def policy_actions() -> set[str]:
    statements = json.loads((DEPLOY / "iam-policy.json").read_text())["Statement"]
    statements += json.loads((DEPLOY / "aws" / "iam-events-queue-policy.json").read_text())["Statement"]
    actions: set[str] = set()
    for statement in statements:
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


@pytest.fixture(scope="module")
def cluster(controlplane_binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with private_cluster(controlplane_binaries, tmp_path_factory.mktemp("iam")) as cluster:
        yield cluster


def test_recorded_calls_match_the_policy_exactly(
    cluster: Cluster, moto_server: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = Aws(moto_server.endpoint_url, REGION)
    cluster_id, ns = unique("iam"), cluster.namespace("iam")
    # A Namespace mapped to another account: the operator assumes its role (sts:AssumeRole).
    mapped = cluster.namespace("iam-mapped", {"ecr.platform.dev/aws-role-arn": MAPPED_ROLE})
    names = {app: unique(f"iam-{app}") for app in ("kms", "aes", "byok", "orphan", "adopt")}
    queue = deploy_events_stack(moto_server.endpoint_url, REGION, stack_name=cluster_id, queue_name=cluster_id)
    sqs = boto3.client(
        "sqs",
        endpoint_url=moto_server.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    with AwsProxy(upstream=moto_server.endpoint_url) as proxy:
        operator: Operator = operator_process(
            kubeconfig=cluster.controlplane.kubeconfig,
            aws_env={**moto_server.aws_environment(REGION), "AWS_ENDPOINT_URL": proxy.endpoint_url},
            log_path=tmp_path / "operator.log",
            cluster_id=cluster_id,
            resync_seconds=3,
            # The adoption path needs EcrAdoptUnownedRepositories; the events queue the consumer policy.
            extra_args=("--adoption", "everywhere", "--events-queue-url", queue.queue_url),
        )

        def log() -> str:
            return operator.log_tail(12000)

        def ready(name: str, status: str = "True", reason: str = "Synced") -> dict[str, Any]:
            return cluster.wait_condition(ns, name, status, reason, context=log)

        # Situations made by hand (directly in moto, not recorded): a key left by a crash between CreateKey and
        # CreateAlias (ownership tags, no alias), a key the user brings, a repository nobody owns.
        # The crashed operator had recorded the creation in status; the tagging index does not show the key yet,
        # so it is found by its token (ListKeys + DescribeKey).
        orphan_tags = {**TAGS, OWNER_TAGS[0]: cluster_id, OWNER_TAGS[1]: ns, OWNER_TAGS[2]: "orphan"}
        orphan_key = aws.kms.create_key(
            Description="ecr-operator creation tok-orphan",
            Tags=[{"TagKey": k, "TagValue": v} for k, v in orphan_tags.items()],
        )
        orphan_key_id = orphan_key["KeyMetadata"]["KeyId"]
        proxy.hide_from_tag_index(orphan_key["KeyMetadata"]["Arn"], 3600)
        cluster.create(ns, "orphan", tagged_spec(names["orphan"]))
        cluster.patch_status(ns, "orphan", {"keyCreation": {"token": "tok-orphan"}})
        user_key_arn = aws.kms.create_key(Description="brought by the user")["KeyMetadata"]["Arn"]
        aws.ecr.create_repository(repositoryName=names["adopt"], imageScanningConfiguration={"scanOnPush": False})

        with operator:
            # Create: KMS with rotation + lifecycle + cross-account policy; AES256; a user key (Retain);
            # the orphan key found by its tags; adoption.
            cross = {"enabled": True, "allowedAccountIds": ["111122223333"]}
            cluster.create(
                ns, "kms", tagged_spec(names["kms"], crossAccountPull=cross, tags={**TAGS, "environment": "dev"})
            )
            cluster.create(ns, "aes", tagged_spec(names["aes"], encryption={"type": "AES256"}, lifecycle=None))
            byok = {"type": "KMS", "kmsKeyArn": user_key_arn}
            cluster.create(ns, "byok", tagged_spec(names["byok"], encryption=byok, deletionPolicy="Retain"))
            adopt = tagged_spec(names["adopt"], encryption={"type": "AES256"}, lifecycle=None)
            cluster.create(ns, "adopt", adopt, annotations={"ecr.platform.dev/adopt": "true"})
            cluster.create(mapped, "mapped", tagged_spec(unique("iam-mapped"), encryption={"type": "AES256"}))
            for name in ("kms", "aes", "byok", "orphan", "adopt"):
                ready(name)
            assert cluster.wait_ready(mapped, "mapped", context=log)["status"]["registryId"] == "222233334444"
            cluster.delete(mapped, "mapped")
            cluster.wait_gone(mapped, "mapped", context=log)
            # Registry settings (EcrRegistry): replication, scanning, the registry policy, a pull through cache
            # rule and a creation template (created, updated in place); removed on delete.
            registries, registry_name = Registries(cluster.api, log), unique("iam-registry")
            account = aws.ecr.describe_registry()["registryId"]
            mirror = {
                "ecrRepositoryPrefix": "mirror",
                "upstreamRegistryUrl": f"{account}.dkr.ecr.eu-west-1.amazonaws.com",
                "customRoleArn": f"arn:aws:iam::{account}:role/ecr-pull-through-a",
            }
            template = {"prefix": "mirror", "appliedFor": ["PULL_THROUGH_CACHE"], "resourceTags": TAGS}
            registries.create(
                registry_name,
                {
                    "replication": {"rules": [{"destinations": [{"region": "eu-west-1"}]}]},
                    "scanning": {"rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*"}]}]},
                    "registryPolicy": {"allowReplicationFromAccounts": ["111122223333"]},
                    "pullThroughCacheRules": [mirror],
                    "creationTemplates": [template],
                    "deletionPolicy": "Delete",
                },
            )
            registries.wait_ready(registry_name)
            role_b = {**mirror, "customRoleArn": mirror["customRoleArn"].replace("-a", "-b")}
            registries.patch(
                registry_name,
                {"spec": {"pullThroughCacheRules": [role_b], "creationTemplates": [{**template, "description": "b"}]}},
            )
            registries.wait_ready(registry_name)
            registries.delete(registry_name)
            registries.wait_gone(registry_name)
            assert Registry(aws).policy() is None and Registry(aws).replication() == []
            assert aws.ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []
            assert aws.ecr.describe_repository_creation_templates()["repositoryCreationTemplates"] == []
            assert aws.alias_target(names["orphan"]) == orphan_key_id, "the orphan key was reused"

            # Images and a scan: the spec change below refreshes the inventory (DescribeImages and the newest
            # image's DescribeImageScanFindings); forceDelete then lets the repository go with its image.
            digest = aws.put_image(names["kms"])
            aws.ecr.start_image_scan(repositoryName=names["kms"], imageId={"imageDigest": digest})

            # Update everything that can change in place.
            cluster.patch(
                ns,
                "kms",
                {
                    "spec": {
                        "imageTagMutability": "IMMUTABLE",
                        "scanOnPush": False,
                        "encryption": {"enableKeyRotation": False},
                        "lifecycle": None,
                        "crossAccountPull": {"enabled": False},
                        "tags": {"environment": None, "team": "a"},
                        "forceDelete": True,
                    }
                },
            )
            obj = ready("kms")
            assert obj["status"]["images"]["count"] == 1 and obj["status"]["scan"]["imageDigest"] == digest
            key_arn = obj["status"]["kmsKeyArn"]
            assert not aws.kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"]
            repository = aws.repository(names["kms"])
            assert repository is not None and repository["imageTagMutability"] == "IMMUTABLE"

            # Drift: the key scheduled for deletion outside Kubernetes is cancelled and re-enabled by a resync.
            key_id = key_arn.rsplit("/", 1)[-1]
            aws.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
            wait_for(
                lambda: aws.key(key_arn)["KeyState"] == "Enabled", "the key to be re-enabled", timeout=60, context=log
            )

            # Delete: empty (+ key deletion), blocked by images then forced, Retain, and the adopted one.
            aws.put_image(names["aes"])
            for name in ("kms", "aes", "byok", "orphan", "adopt"):
                cluster.delete(ns, name)
            ready("aes", "False", "RepositoryNotEmpty")
            cluster.patch(ns, "aes", {"spec": {"forceDelete": True}})
            for name in ("kms", "aes", "byok", "orphan", "adopt"):
                cluster.wait_gone(ns, name, context=log)
            assert aws.repository(names["byok"]) is not None, "Retain keeps the repository"
            assert [aws.repository(names[n]) for n in ("kms", "aes", "orphan", "adopt")] == [None] * 4
            assert aws.key(key_arn)["KeyState"] == "PendingDeletion"

            # The events queue: a message received and deleted (GetQueueAttributes and ReceiveMessage run anyway).
            sqs.send_message(QueueUrl=queue.queue_url, MessageBody="not an event")

            def drained() -> bool:
                attributes = sqs.get_queue_attributes(
                    QueueUrl=queue.queue_url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
                return all(int(v) == 0 for v in attributes.values())

            wait_for(drained, "the operator to delete the message", timeout=60, context=log)

        calls = proxy.calls()

    recorded = Counter(f"{PREFIXES.get(c.service, c.service)}:{c.operation}" for c in calls)
    allowed = policy_actions()
    with capsys.disabled():
        print(f"\nAWS operations the operator sent ({len(calls)} calls, {len(recorded)} distinct):")
        for action, count in sorted(recorded.items()):
            print(f"  {action:40} {count:4}")
    assert sorted(set(recorded) - allowed - NO_PERMISSION_NEEDED) == [], "sent but not allowed by the policy"
    assert recorded["sts:GetCallerIdentity"] >= 1, "the readiness probe (needs no permission)"
    assert sorted(allowed - set(recorded) - INDIRECT) == [], "allowed but never sent: an unused permission"
    assert recorded["kms:CreateKey"] == 1, "one key for the KMS resource; the orphan key was found, not recreated"
