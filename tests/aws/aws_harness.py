"""The harness of the tests of the reconciler and its parts against moto's server mode, reached over HTTP.

One moto server per test session; every test starts from an empty AWS (``reset``). The operator's clients
come from :class:`ecr_operator.core.aws.ClientFactory` with the standard AWS environment pointing at moto, exactly
as in production. Every API call the operator makes is recorded through botocore's ``before-call`` event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ecr_operator.core.aws import AwsClients
from ecr_operator.registry.render import DesiredRegistry, render_registry
from ecr_operator.registry.spec import EcrRegistrySpec
from ecr_operator.repository.parts.key import KeyCreation
from ecr_operator.repository.reconcile import DeleteOutcome, Outcome, delete, reconcile
from ecr_operator.repository.render import Desired, Owner, render
from ecr_operator.repository.spec import EcrRepositorySpec
from ecr_operator_dev.awsproxy import READ_PREFIXES
from ecr_operator_dev.awsread import AwsReader

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
CLUSTER = "test-cluster"
NAME = "my-application"
ALIAS = "alias/ecr/my-application"

SEED_TAGS = {
    "owner": "platform-team",
    "cost_center": "engineering",
    "resource_lifecycle": "permanent",
    "data_class": "confidential",
    "service": "container-registry",
    "environment": "dev",
}
SEED_SPEC: dict[str, Any] = {
    "repositoryName": NAME,
    "region": REGION,
    "imageTagMutability": "MUTABLE",
    "scanOnPush": True,
    "encryption": {"type": "KMS", "enableKeyRotation": True, "deletionWindowInDays": 30},
    "lifecycle": {"maxImageCount": 30, "expireUntaggedAfterDays": 7},
    "tags": SEED_TAGS,
    "deletionPolicy": "Delete",
    "forceDelete": False,
}

# A minimal Docker image manifest that moto's PutImage accepts.
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": "sha256:0"},
        "layers": [],
    }
)

QUAY = {"ecrRepositoryPrefix": "quay", "upstreamRegistryUrl": "quay.io"}
"""A pull through cache rule needing no credentials."""


def desired_registry(**spec: Any) -> DesiredRegistry:
    """An EcrRegistry spec (camelCase keys) rendered for the account's ``main`` registry in :data:`REGION`."""
    return render_registry(EcrRegistrySpec.model_validate(spec), "main", REGION)


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge; an override of None removes the key."""
    result = dict(base)
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


@dataclass
class ApiCalls:
    """Every API call made through the clients it is registered on, as ``service:Operation``."""

    operations: list[str] = field(default_factory=list)

    def __call__(self, model: Any, **_: Any) -> None:
        self.operations.append(f"{model.service_model.service_name}:{model.name}")

    @staticmethod
    def is_read(operation: str) -> bool:
        return operation.split(":", 1)[1].startswith(READ_PREFIXES)

    @property
    def writes(self) -> list[str]:
        return [op for op in self.operations if not self.is_read(op)]

    @property
    def reads(self) -> list[str]:
        return [op for op in self.operations if self.is_read(op)]

    def clear(self) -> None:
        self.operations.clear()


class Crash(Exception):
    """The operator 'dies' here: raised in place of a write call."""


@dataclass
class CrashAfter:
    """Lets ``allowed`` write calls through, then raises :class:`Crash` instead of the next write."""

    allowed: int
    writes: int = 0

    def __call__(self, model: Any, **_: Any) -> None:
        if model.name.startswith(READ_PREFIXES):
            return
        if self.writes >= self.allowed:
            raise Crash(f"crash before {model.name}")
        self.writes += 1


class PartsHarness(AwsReader):
    """The operator's clients (recorded) plus separate 'out of band' clients that are not recorded."""

    def __init__(self, clients: AwsClients, raw: boto3.session.Session) -> None:
        self.clients = clients
        self.calls = ApiCalls()
        for client in (clients.ecr, clients.kms, clients.tagging, clients.sts):  # every client the operator has
            client.meta.events.register("before-call", self.calls)
        super().__init__(raw.client("ecr", region_name=REGION), raw.client("kms", region_name=REGION))
        self.recorded: KeyCreation | None = None
        """The key creation the resource's status would hold (see :meth:`record`)."""

    # --- driving the operator -------------------------------------------------------------------------

    def desired(self, *overrides: Mapping[str, Any], namespace: str = "default", name: str = NAME) -> Desired:
        """The seed spec with ``overrides`` deep-merged into it, one after the other."""
        spec_dict: dict[str, Any] = dict(SEED_SPEC)
        for override in overrides:
            spec_dict = merged(spec_dict, override)
        spec = EcrRepositorySpec.model_validate(spec_dict)
        return render(spec, Owner(CLUSTER, namespace, name), "us-east-1")

    def record(self, creation: KeyCreation | None) -> None:
        """What the handlers' checkpoint does: the key creation goes into the resource's status."""
        self.recorded = creation

    def reconcile(self, desired: Desired, **kwargs: Any) -> Outcome:
        """One pass as the handlers run it: the recorded key creation in, cleared after a completed pass."""
        self.calls.clear()
        kwargs.setdefault("creation", self.recorded)
        kwargs.setdefault("checkpoint", self.record)
        outcome = reconcile(self.clients, desired, **kwargs)
        if not kwargs.get("observe_only"):
            self.recorded = None
        return outcome

    def delete(self, desired: Desired) -> DeleteOutcome:
        self.calls.clear()
        return delete(self.clients, desired, creation=self.recorded)

    def assert_in_sync(self, desired: Desired) -> Outcome:
        outcome = self.reconcile(desired)
        assert self.calls.writes == [], f"in sync, yet wrote {self.calls.writes}"
        assert outcome.applied == [] and outcome.planned == [] and outcome.problems == []
        return outcome

    def crash_after(self, allowed: int) -> Callable[[], None]:
        """Make the operator's writes fail after ``allowed`` of them; returns the undo."""
        hook = CrashAfter(allowed)
        clients = (self.clients.ecr, self.clients.kms)
        for client in clients:
            client.meta.events.register("before-call", hook)

        def undo() -> None:
            for client in clients:
                client.meta.events.unregister("before-call", hook)

        return undo

    # --- looking at AWS (unrecorded: AwsReader's clients), the seed repository by default -------------------

    def repository(self, name: str = NAME) -> dict[str, Any] | None:
        return super().repository(name)

    def existing_repository(self, name: str = NAME) -> dict[str, Any]:
        repo = self.repository(name)
        assert repo is not None, f"repository {name} does not exist"
        return repo

    def repository_tags(self, name: str = NAME) -> dict[str, str]:
        return super().repository_tags(name)

    def lifecycle(self, name: str = NAME) -> dict[str, Any] | None:
        return super().lifecycle(name)

    def policy(self, name: str = NAME) -> dict[str, Any] | None:
        return super().policy(name)

    def alias_target(self, alias: str = ALIAS) -> str | None:
        return self.alias_target_of(alias)

    def all_keys(self) -> list[str]:
        return sorted(self.key_ids())

    def owned_keys(self, owner: Owner, *, live_only: bool = True) -> list[str]:
        """Keys carrying ``owner``'s ownership tags (by default only those not pending deletion)."""
        found = []
        for key_id in self.all_keys():
            tags = self.key_tags(key_id)
            if all(tags.get(k) == v for k, v in owner.tags().items()):
                if live_only and self.key(key_id)["KeyState"] == "PendingDeletion":
                    continue
                found.append(key_id)
        return found

    def put_image(self, tag: str = "v1", name: str = NAME) -> None:
        self.ecr.put_image(repositoryName=name, imageManifest=MANIFEST, imageTag=tag)


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    """The code and message of the 400 that ``call(**kwargs)`` must be answered with."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return response["Error"]["Code"], response["Error"]["Message"]
