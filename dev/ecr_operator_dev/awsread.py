"""What AWS (moto) really holds, read with clients of the test's own (never the operator's, so nothing is counted
or faulted): the one reader the AWS-part tests, the end-to-end tests and the benchmarks share."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["AwsReader", "image_manifest"]


class AwsReader:
    def __init__(self, ecr: Any, kms: Any) -> None:
        self.ecr = ecr
        self.kms = kms

    # -- ECR

    def repository(self, name: str) -> dict[str, Any] | None:
        try:
            repositories: list[dict[str, Any]] = self.ecr.describe_repositories(repositoryNames=[name])["repositories"]
        except self.ecr.exceptions.RepositoryNotFoundException:
            return None
        return repositories[0] if repositories else None

    def repository_names(self) -> list[str]:
        names = [
            r["repositoryName"]
            for page in self.ecr.get_paginator("describe_repositories").paginate()
            for r in page["repositories"]
        ]
        return sorted(names)

    def repository_tags(self, name: str) -> dict[str, str]:
        repository = self.repository(name)
        assert repository is not None, f"repository {name} does not exist"
        tags = self.ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
        return {t["Key"]: t["Value"] for t in tags}

    def lifecycle(self, name: str) -> dict[str, Any] | None:
        try:
            text = self.ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]
        except self.ecr.exceptions.LifecyclePolicyNotFoundException:
            return None
        document: dict[str, Any] = json.loads(text)
        return document

    def policy(self, name: str) -> dict[str, Any] | None:
        try:
            text = self.ecr.get_repository_policy(repositoryName=name)["policyText"]
        except self.ecr.exceptions.RepositoryPolicyNotFoundException:
            return None
        document: dict[str, Any] = json.loads(text)
        return document

    # -- KMS

    def alias_target_of(self, alias: str) -> str | None:
        """The key id an alias points at, or None when the alias does not exist."""
        for page in self.kms.get_paginator("list_aliases").paginate():
            for entry in page["Aliases"]:
                if entry["AliasName"] == alias:
                    target: str | None = entry.get("TargetKeyId")
                    return target
        return None

    def key(self, key_id: str) -> dict[str, Any]:
        metadata: dict[str, Any] = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]
        return metadata

    def key_tags(self, key_id: str) -> dict[str, str]:
        return {t["TagKey"]: t["TagValue"] for t in self.kms.list_resource_tags(KeyId=key_id)["Tags"]}

    def rotation(self, key_id: str) -> bool:
        return bool(self.kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"])

    def key_ids(self) -> set[str]:
        return {k["KeyId"] for page in self.kms.get_paginator("list_keys").paginate() for k in page["Keys"]}


def image_manifest(size: int) -> str:
    """A Docker v2 image manifest whose image moto reports as ``size`` bytes (it takes the config's size) and
    whose digest is distinct per size (moto hashes the layer digests). No blobs: moto does not check them."""
    digest = "sha256:" + f"{size:064x}"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": size, "digest": digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": digest}],
        }
    )
