"""Builders for the pure unit tests: specs, desired state and hand-made observations (no AWS)."""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from ecr_operator.cli.main import build_parser
from ecr_operator.repository.parts.key import ObservedKey
from ecr_operator.repository.parts.repository import ObservedRepository
from ecr_operator.repository.render import Desired, Owner, render
from ecr_operator.repository.spec import EcrRepositorySpec

# The suites share a loaded machine (e2e control planes, moto): property tests judge outcomes, never speed, so
# Hypothesis's own timing checks (deadline, slow generation) would only make them flaky.
settings.register_profile("shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")

REGION = "eu-west-1"
ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OWNER = Owner("prod-cluster", "team-a", "web")
REQUIRED = {
    "owner": "team-a",
    "cost_center": "cc-42",
    "resource_lifecycle": "permanent",
    "data_class": "internal",
    "service": "web",
}


def spec_from(**fields: Any) -> EcrRepositorySpec:
    """A spec from camelCase fields, with the required tags filled in unless ``tags`` is given."""
    fields.setdefault("tags", dict(REQUIRED))
    return EcrRepositorySpec.model_validate(fields)


def desired_from(owner: Owner = OWNER, region: str = REGION, **fields: Any) -> Desired:
    return render(spec_from(**fields), owner, region)


def observed_repository_for(desired: Desired, key_arn: str | None = KEY_ARN, **changes: Any) -> ObservedRepository:
    """What AWS would report for a repository exactly in sync with ``desired``, then ``changes``."""
    in_sync = ObservedRepository(
        name=desired.repository_name,
        arn=f"arn:aws:ecr:{desired.region}:{ACCOUNT}:repository/{desired.repository_name}",
        uri=f"{ACCOUNT}.dkr.ecr.{desired.region}.amazonaws.com/{desired.repository_name}",
        registry_id=ACCOUNT,
        image_tag_mutability=desired.image_tag_mutability,
        exclusion_filters=desired.exclusion_filters,
        scan_on_push=desired.scan_on_push,
        encryption_type=desired.encryption_type,
        kms_key=key_arn if desired.encryption_type == "KMS" else None,
        tags=dict(desired.tags),
        lifecycle_policy=desired.lifecycle_policy,
        repository_policy=desired.repository_policy,
    )
    return dataclasses.replace(in_sync, **changes)


def observed_key_for(desired: Desired, **changes: Any) -> ObservedKey:
    """A managed key exactly in sync with ``desired``, then ``changes``."""
    in_sync = ObservedKey(
        key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
        arn=KEY_ARN,
        state="Enabled",
        rotation_enabled=desired.enable_key_rotation,
        tags=dict(desired.tags),
        has_alias=True,
    )
    return dataclasses.replace(in_sync, **changes)


@pytest.fixture(scope="session")
def make_spec() -> Callable[..., EcrRepositorySpec]:
    return spec_from


@pytest.fixture(scope="session")
def make_desired() -> Callable[..., Desired]:
    return desired_from


@pytest.fixture(scope="session")
def make_observed_repository() -> Callable[..., ObservedRepository]:
    return observed_repository_for


@pytest.fixture(scope="session")
def make_observed_key() -> Callable[..., ObservedKey]:
    return observed_key_for


@pytest.fixture(scope="session")
def run_options() -> dict[str, str | None]:
    """Each option of `ecr-operator run` (its long flag) -> the ECR_OPERATOR_* variable its --help names, or None."""
    [subparsers] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    parser: argparse.ArgumentParser = subparsers.choices["run"]
    options: dict[str, str | None] = {}
    for action in parser._actions:
        long_flag = next(f for f in action.option_strings if f.startswith("--"))
        found = re.search(r"\[env (ECR_OPERATOR_[A-Z_]+)\]", action.help or "")
        options[long_flag] = found.group(1) if found else None
    return options
