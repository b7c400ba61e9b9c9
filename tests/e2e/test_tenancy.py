"""Tenancy and ownership: a resource never takes over another's repository; adoption only where the platform
allows it; the repository name policy.

Three operators of this module's own run against a private control plane and moto, each on its own namespaces:
one with the default ``--repository-name-policy any`` and ``--adoption everywhere`` (a single-tenant cluster),
one with ``--repository-name-policy namespace-prefix`` and ``--adoption everywhere``, one with
``--adoption annotated-namespaces``. (The default ``--adoption disabled`` is tested with the session operator,
in test_operator_validation.py.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from support import (
    OWNER_TAGS,
    TAGS,
    Aws,
    Cluster,
    Operator,
    operator_process,
    private_cluster,
    unique,
    wait_for,
)

from ecr_operator_dev import ControlPlaneBinaries, MotoServer

pytestmark = pytest.mark.e2e

PREFIXES_ANNOTATION = "ecr.platform.dev/repository-prefixes"
ADOPT = {"ecr.platform.dev/adopt": "true"}
ALLOW_ADOPTION = "ecr.platform.dev/allow-adoption"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
REGION = "eu-central-1"


@dataclass
class Tenancy:
    cluster: Cluster
    aws: Aws
    cluster_id: str
    team_a: str
    team_b: str
    """Namespaces served by the operator with the default name policy (any name) and --adoption everywhere."""
    plain: str
    annotated: str
    late: str
    """Namespaces served by the operator with --repository-name-policy namespace-prefix (and --adoption everywhere)."""
    adoption_open: str
    adoption_closed: str
    """Namespaces served by the operator with --adoption annotated-namespaces; the first annotated to allow it."""


@pytest.fixture(scope="module")
def env(controlplane_binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenancy]:
    workdir = tmp_path_factory.mktemp("tenancy")
    with private_cluster(controlplane_binaries, workdir / "cp") as cluster, MotoServer(workdir / "moto") as moto:
        team_a, team_b = cluster.namespace("team-a"), cluster.namespace("team-b")
        plain = cluster.namespace("plain")
        annotated = cluster.namespace("annotated", {PREFIXES_ANNOTATION: " shared/, platform-,"})
        late = cluster.namespace("late")
        adoption_open = cluster.namespace("adopt-open", {ALLOW_ADOPTION: "true"})
        adoption_closed = cluster.namespace("adopt-closed")
        cluster_id = unique("tenancy")

        def operator(log_name: str, *args: str) -> Operator:
            return operator_process(
                kubeconfig=cluster.controlplane.kubeconfig,
                aws_env=moto.aws_environment(REGION),
                log_path=workdir / log_name,
                cluster_id=cluster_id,
                region=REGION,
                resync_seconds=3,
                # Fewer workers (kopf's per-watch worker limit 2 x 2 = 4) than Namespaces in the cluster (11): a kopf
                # index on Namespaces never finished filling this way and the operator stalled; the Namespace
                # event handler must not.
                workers=2,
                extra_args=args,
            )

        def watching(*namespaces: str) -> list[str]:
            return [arg for ns in namespaces for arg in ("--namespace", ns)]

        everywhere = ["--adoption", "everywhere"]
        prefix_args = ["--repository-name-policy", "namespace-prefix", *everywhere, *watching(plain, annotated, late)]
        annotated_args = ["--adoption", "annotated-namespaces", *watching(adoption_open, adoption_closed)]
        with (
            operator("operator-any.log", *everywhere, *watching(team_a, team_b)) as any_policy,
            operator("operator-prefix.log", *prefix_args) as prefix_policy,
            operator("operator-annotated-adoption.log", *annotated_args) as annotated_adoption,
        ):
            operators = (any_policy, prefix_policy, annotated_adoption)
            cluster.log_context = lambda: "\n".join(
                [f"--- {p.log_path.name} ---\n{p.log_tail(4000)}" for p in operators]
            )
            aws = Aws(moto.endpoint_url, REGION)
            yield Tenancy(
                cluster, aws, cluster_id, team_a, team_b, plain, annotated, late, adoption_open, adoption_closed
            )


def spec(repository_name: str | None, **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "imageTagMutability": "IMMUTABLE",
        "encryption": {"type": "AES256"},
        "lifecycle": {"maxImageCount": 10},
        "tags": dict(TAGS),
        "deletionPolicy": "Delete",
        **changes,
    }
    if repository_name is not None:
        out["repositoryName"] = repository_name
    return out


def intruder_spec(repository_name: str) -> dict[str, Any]:
    """Everything different from ``spec()``: if any of it reached AWS, the snapshot would show it."""
    return spec(
        repository_name,
        imageTagMutability="MUTABLE",
        scanOnPush=False,
        lifecycle={"maxImageCount": 99, "expireUntaggedAfterDays": 1},
        crossAccountPull={"enabled": True, "allowedAccountIds": ["999988887777"]},
        tags={**TAGS, "owner": "intruder", "extra": "intruder"},
    )


def warnings(env: Tenancy, namespace: str, name: str, reason: str) -> int:
    return sum(e.count or 1 for e in env.cluster.events(namespace, name, reason=reason, type_="Warning"))


def wait_refused_twice(env: Tenancy, namespace: str, name: str, reason: str) -> dict[str, Any]:
    """Ready=False ``reason``, and a second refusal (a resync after the first): AWS had time to be changed."""
    obj = env.cluster.wait_condition(namespace, name, "False", reason)
    wait_for(
        lambda: warnings(env, namespace, name, reason) >= 2,
        f"a second {reason} refusal of {namespace}/{name}",
        context=env.cluster.log_context,
    )
    return obj


# -- (1) a second resource naming an owned repository ---------------------------------------------------------


def test_a_second_resource_cannot_take_over_an_owned_repository(env: Tenancy) -> None:
    repository = unique("shared-name")
    env.cluster.create(env.team_a, "first", spec(repository))
    env.cluster.wait_condition(env.team_a, "first", "True", "Synced")
    before = env.aws.snapshot(repository)
    assert before["tags"][OWNER_TAGS[1]] == env.team_a

    env.cluster.create(env.team_b, "second", intruder_spec(repository))
    obj = wait_refused_twice(env, env.team_b, "second", "RepositoryNotOwned")
    message = env.cluster.ready_condition(obj)["message"]
    assert repository in message, message
    assert env.aws.snapshot(repository) == before
    assert not (obj.get("status") or {}).get("repositoryArn")

    # Asking to adopt it does not help: it has an owner.
    env.cluster.patch(env.team_b, "second", {"metadata": {"annotations": ADOPT}})
    refusals = warnings(env, env.team_b, "second", "RepositoryNotOwned")
    wait_for(
        lambda: warnings(env, env.team_b, "second", "RepositoryNotOwned") >= refusals + 2,
        "two more RepositoryNotOwned refusals with the adopt annotation",
        context=env.cluster.log_context,
    )
    assert env.cluster.ready_condition(env.cluster.must_get(env.team_b, "second"))["reason"] == "RepositoryNotOwned"
    assert env.aws.snapshot(repository) == before

    # Deleting the second resource (deletionPolicy Delete) deletes nothing of the first's.
    env.cluster.delete(env.team_b, "second")
    env.cluster.wait_gone(env.team_b, "second")
    assert env.aws.snapshot(repository) == before
    env.cluster.wait_condition(env.team_a, "first", "True", "Synced")


# -- (2) adoption ---------------------------------------------------------------------------------------------


def _create_outside(env: Tenancy, repository: str, owner: dict[str, str]) -> dict[str, Any]:
    env.aws.ecr.create_repository(
        repositoryName=repository,
        imageTagMutability="IMMUTABLE",
        encryptionConfiguration={"encryptionType": "AES256"},
        tags=[{"Key": k, "Value": v} for k, v in {**TAGS, **owner}.items()],
    )
    return env.aws.snapshot(repository)


@pytest.mark.parametrize(
    "owner",
    [
        pytest.param({"namespace": "someone-else", "name": "theirs"}, id="other-namespace"),
        pytest.param({"name": "theirs"}, id="same-namespace-other-name"),
        pytest.param({"cluster": "another-cluster"}, id="other-cluster"),
    ],
)
def test_adopting_a_repository_owned_by_someone_else_is_refused(env: Tenancy, owner: dict[str, str]) -> None:
    repository = unique("owned-elsewhere")
    name = unique("adopter")
    tags = {OWNER_TAGS[0]: env.cluster_id, OWNER_TAGS[1]: env.team_a, OWNER_TAGS[2]: name}
    tags.update({f"ecr.platform.dev/{key}": value for key, value in owner.items()})
    before = _create_outside(env, repository, tags)

    env.cluster.create(env.team_a, name, intruder_spec(repository), annotations=ADOPT)
    obj = wait_refused_twice(env, env.team_a, name, "RepositoryNotOwned")
    assert repository in env.cluster.ready_condition(obj)["message"]
    assert env.aws.snapshot(repository) == before


def assert_adopted(env: Tenancy, namespace: str, name: str, repository: str) -> dict[str, Any]:
    """Synced, recorded in status (adopted, adoptedAt) and our ownership tags on the repository."""
    obj = env.cluster.wait_condition(namespace, name, "True", "Synced")
    status = obj["status"]
    assert status.get("adopted") is True, status
    assert RFC3339.match(status.get("adoptedAt") or ""), status
    tags = env.aws.snapshot(repository)["tags"]
    assert (tags[OWNER_TAGS[0]], tags[OWNER_TAGS[1]], tags[OWNER_TAGS[2]]) == (env.cluster_id, namespace, name)
    assert {k: v for k, v in tags.items() if not k.startswith("ecr.platform.dev/")} == TAGS, "tags replaced"
    env.cluster.wait_event(namespace, name, "Adopted", "Normal")
    return obj


def wait_resynced(env: Tenancy, namespace: str, name: str, after: dict[str, Any]) -> dict[str, Any]:
    """The object once a later pass (a resync) has written its status."""
    last = after["status"]["lastSyncTime"]

    def resynced() -> dict[str, Any] | None:
        obj = env.cluster.must_get(namespace, name)
        return obj if obj["status"]["lastSyncTime"] != last else None

    return wait_for(resynced, f"a resync of {namespace}/{name}", context=env.cluster.log_context)


def test_adoption_everywhere_adopts_a_repository_nobody_owns(env: Tenancy) -> None:
    # The refusals above are about the owner tags: the same adoption of an unowned repository succeeds.
    repository = unique("unowned")
    _create_outside(env, repository, {"legacy": "yes"})
    env.cluster.create(env.team_a, "adopter", spec(repository), annotations=ADOPT)
    obj = assert_adopted(env, env.team_a, "adopter", repository)
    adopted_at = obj["status"]["adoptedAt"]
    # Settings and lifecycle converged to the spec.
    snapshot = env.aws.snapshot(repository)
    assert snapshot["scanOnPush"] is True
    assert [rule["selection"]["countNumber"] for rule in (snapshot["lifecycle"] or {})["rules"]] == [10]
    # Kept by later passes, which adopt nothing.
    later = wait_resynced(env, env.team_a, "adopter", obj)["status"]
    assert (later["adopted"], later["adoptedAt"]) == (True, adopted_at)


def test_created_repositories_are_not_adopted(env: Tenancy) -> None:
    repository = unique("created")
    env.cluster.create(env.team_b, "created", spec(repository), annotations=ADOPT)
    obj = env.cluster.wait_condition(env.team_b, "created", "True", "Synced")
    assert "adopted" not in obj["status"] and "adoptedAt" not in obj["status"]


# -- (3) --adoption annotated-namespaces -----------------------------------------------------------------------


def test_annotated_namespaces_adopt_only_where_a_cluster_admin_allowed_it(env: Tenancy) -> None:
    open_repository, closed_repository = unique("adopt-open"), unique("adopt-closed")
    _create_outside(env, open_repository, {})
    before = _create_outside(env, closed_repository, {})

    env.cluster.create(env.adoption_open, "app", spec(open_repository), annotations=ADOPT)
    env.cluster.create(env.adoption_closed, "app", spec(closed_repository), annotations=ADOPT)
    assert_adopted(env, env.adoption_open, "app", open_repository)
    obj = wait_refused_twice(env, env.adoption_closed, "app", "AdoptionNotAllowed")
    message = env.cluster.ready_condition(obj)["message"]
    assert env.adoption_closed in message and ALLOW_ADOPTION in message, message
    assert env.aws.snapshot(closed_repository) == before

    # A cluster admin allows it later: the next resync adopts.
    env.cluster.core.patch_namespace(env.adoption_closed, {"metadata": {"annotations": {ALLOW_ADOPTION: "true"}}})
    assert_adopted(env, env.adoption_closed, "app", closed_repository)


def test_annotated_namespace_alone_adopts_nothing_unasked(env: Tenancy) -> None:
    repository = unique("unasked")
    before = _create_outside(env, repository, {})
    env.cluster.create(env.adoption_open, "unasked", spec(repository))
    obj = wait_refused_twice(env, env.adoption_open, "unasked", "RepositoryNotOwned")
    message = env.cluster.ready_condition(obj)["message"]
    assert "ecr.platform.dev/adopt" in message and "allowed by the platform" not in message, message
    assert env.aws.snapshot(repository) == before


# -- (4) --repository-name-policy namespace-prefix ------------------------------------------------------------


def assert_nothing_in_aws(env: Tenancy, repository: str) -> None:
    assert env.aws.repository(repository) is None
    aliases = [a["AliasName"] for a in env.aws.kms.list_aliases()["Aliases"]]
    assert f"alias/ecr/{repository}" not in aliases


@pytest.mark.parametrize(
    ("namespace_attr", "repository_name", "allowed"),
    [
        pytest.param("plain", "{ns}/app-{uid}", True, id="own-namespace-prefix"),
        pytest.param("plain", "{ns}/deep/app-{uid}", True, id="own-namespace-nested"),
        pytest.param("plain", "other/app-{uid}", False, id="other-prefix"),
        pytest.param("plain", "{ns}-app-{uid}", False, id="namespace-without-slash"),
        pytest.param("plain", None, False, id="default-name-from-metadata"),
        pytest.param("annotated", "shared/app-{uid}", True, id="annotated-prefix"),
        pytest.param("annotated", "platform-tools-{uid}", True, id="annotated-non-slash-prefix"),
        pytest.param("annotated", "{ns}/app-{uid}", True, id="annotated-own-namespace"),
        pytest.param("annotated", "sharedx/app-{uid}", False, id="annotated-near-miss"),
        pytest.param("annotated", "{plain}/app-{uid}", False, id="another-namespaces-prefix"),
    ],
)
def test_repository_name_policy(env: Tenancy, namespace_attr: str, repository_name: str | None, allowed: bool) -> None:
    namespace = getattr(env, namespace_attr)
    uid = unique("x")[2:]
    name = f"app-{uid}"
    wanted = (repository_name or name).format(ns=namespace, plain=env.plain, uid=uid)
    env.cluster.create(namespace, name, spec(wanted if repository_name else None))
    if allowed:
        env.cluster.wait_condition(namespace, name, "True", "Synced")
        assert env.aws.repository(wanted) is not None
        return
    obj = wait_refused_twice(env, namespace, name, "RepositoryNameNotAllowed")
    message = env.cluster.ready_condition(obj)["message"]
    assert repr(wanted) in message, message
    assert repr(f"{namespace}/") in message, message
    if namespace_attr == "annotated":
        assert "'shared/'" in message and "'platform-'" in message, message
    assert_nothing_in_aws(env, wanted)


def test_a_prefix_added_to_the_namespace_later_is_honoured(env: Tenancy) -> None:
    repository = unique("late") + "/app"
    env.cluster.create(env.late, "app", spec(repository))
    env.cluster.wait_condition(env.late, "app", "False", "RepositoryNameNotAllowed")
    assert_nothing_in_aws(env, repository)

    env.cluster.core.patch_namespace(
        env.late, {"metadata": {"annotations": {PREFIXES_ANNOTATION: repository.split("/")[0] + "/"}}}
    )
    # The next resync sees the namespace's new annotation (kopf keeps the index up to date).
    env.cluster.wait_condition(env.late, "app", "True", "Synced")
    assert env.aws.repository(repository) is not None


def test_the_name_policy_applies_to_adoption(env: Tenancy) -> None:
    # The prefix operator allows adoption everywhere, yet only of names the policy allows in the namespace.
    repository = unique("other") + "/app"
    before = _create_outside(env, repository, {})
    env.cluster.create(env.plain, "adopt-elsewhere", spec(repository), annotations=ADOPT)
    wait_refused_twice(env, env.plain, "adopt-elsewhere", "RepositoryNameNotAllowed")
    assert env.aws.snapshot(repository) == before

    allowed = f"{env.plain}/{unique('adoptable')}"
    _create_outside(env, allowed, {})
    env.cluster.create(env.plain, "adopt-own", spec(allowed), annotations=ADOPT)
    assert_adopted(env, env.plain, "adopt-own", allowed)


def test_the_default_policy_allows_any_name(env: Tenancy) -> None:
    repository = unique("anywhere") + "/app"
    env.cluster.create(env.team_b, "anywhere", spec(repository))
    env.cluster.wait_condition(env.team_b, "anywhere", "True", "Synced")
