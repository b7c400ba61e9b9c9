"""Out-of-band changes in AWS are put back by the periodic resync (every 3 s here)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from operator_env import (
    RESYNC_SECONDS,
    Namespace,
    seed_spec,
)
from support import unique, wait_for

pytestmark = pytest.mark.e2e

DRIFT_TIMEOUT = RESYNC_SECONDS * 5


def _foreign_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Sneaky",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                    "Action": ["ecr:BatchGetImage"],
                }
            ],
        }
    )


def _max_count(aws: Any, repository: str) -> int | None:
    lifecycle = aws.lifecycle(repository)
    if lifecycle is None:
        return None
    counts = [r["selection"]["countNumber"] for r in lifecycle["rules"]]
    return counts[0] if len(counts) == 1 else None


def test_drift_is_corrected(ns: Namespace) -> None:
    name, repository = "drifty", unique("drift")
    spec = seed_spec(repository)
    spec["crossAccountPull"] = {"enabled": True, "allowedAccountIds": ["111111111111"]}
    ns.create(name, spec)
    obj = ns.wait_ready(name)
    aws, ecr, kms = ns.env.aws, ns.env.aws.ecr, ns.env.aws.kms
    key_id = obj["status"]["kmsKeyArn"].rsplit("/", 1)[1]
    arn = obj["status"]["repositoryArn"]
    expected_tags = aws.repository_tags(repository)
    assert aws.policy(repository) is not None
    assert aws.rotation(key_id)

    # Everything at once, behind the operator's back.
    ecr.put_image_scanning_configuration(repositoryName=repository, imageScanningConfiguration={"scanOnPush": False})
    ecr.put_image_tag_mutability(repositoryName=repository, imageTagMutability="IMMUTABLE")
    ecr.put_lifecycle_policy(
        repositoryName=repository,
        lifecyclePolicyText=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": "someone else's idea of a lifecycle policy",
                        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 999},
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
    )
    ecr.delete_repository_policy(repositoryName=repository)
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "environment", "Value": "hacked"}, {"Key": "extra", "Value": "x"}])
    kms.disable_key_rotation(KeyId=key_id)
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "owner", "TagValue": "mallory"}])

    def corrected() -> bool:
        repo = aws.repository(repository)
        assert repo is not None
        state = {
            "scanOnPush": repo["imageScanningConfiguration"]["scanOnPush"],
            "mutability": repo["imageTagMutability"],
            "maxImageCount": _max_count(aws, repository),
            "policy": aws.policy(repository) is not None,
            "repository tags": aws.repository_tags(repository) == expected_tags,
            "rotation": aws.rotation(key_id),
            "key tags": aws.key_tags(key_id) == expected_tags,
        }
        wanted = {
            "scanOnPush": True,
            "mutability": "MUTABLE",
            "maxImageCount": 30,
            "policy": True,
            "repository tags": True,
            "rotation": True,
            "key tags": True,
        }
        assert state == wanted, state
        return True

    wait_for(corrected, "the drift to be corrected", timeout=DRIFT_TIMEOUT, context=ns.context)
    events = ns.wait_event(name, "DriftCorrected", "Normal")
    messages = " ".join(e.message for e in events)
    for change in ("scan on push", "tag mutability", "lifecycle policy", "cross-account pull policy", "rotation"):
        assert change in messages, f"{change!r} not in the DriftCorrected events: {messages}"
    obj = ns.must_get(name)
    assert ns.ready_condition(obj)["status"] == "True"
    assert ns.events(name, type_="Warning") == []

    # Now without cross-account pull: a policy added out of band is removed again.
    generation = ns.patch_spec(name, {"crossAccountPull": {"enabled": False}})["metadata"]["generation"]
    ns.wait_condition(name, "True", "Synced", generation=generation)
    assert aws.policy(repository) is None
    ecr.set_repository_policy(repositoryName=repository, policyText=_foreign_policy())
    wait_for(
        lambda: aws.policy(repository) is None,
        "the foreign repository policy to be removed",
        timeout=DRIFT_TIMEOUT,
        context=ns.context,
    )
    assert [k["KeyId"] for k in aws.owned_keys(ns.name, name)] == [key_id]
