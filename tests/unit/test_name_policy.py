"""The repository name policy (--repository-name-policy): pure prefix checks, the flag and the environment."""

from __future__ import annotations

import pytest

from ecr_operator.cli.main import build_parser
from ecr_operator.core.errors import OperatorError, SpecError
from ecr_operator.core.settings import Settings
from ecr_operator.repository.kind import KIND as ECR_REPOSITORY
from ecr_operator.repository.namespaces import NamespacePolicies
from ecr_operator.repository.validate import allowed_prefixes, check_repository_name, parse_prefixes
from ecr_operator.runtime.handlers import build_kopf_registry
from ecr_operator.runtime.passes import namespace_event
from ecr_operator.runtime.process import Runtime


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (None, ()),
        ("", ()),
        (" , ,", ()),
        ("shared/", ("shared/",)),
        (" shared/ , platform-,shared/ ", ("shared/", "platform-")),
        ("a/,b/,c/", ("a/", "b/", "c/")),
    ],
)
def test_parse_prefixes(annotation: str | None, expected: tuple[str, ...]) -> None:
    assert parse_prefixes(annotation) == expected


def test_allowed_prefixes_start_with_the_namespace_and_drop_repeats() -> None:
    assert allowed_prefixes("team-a", ()) == ("team-a/",)
    assert allowed_prefixes("team-a", ("shared/", "team-a/")) == ("team-a/", "shared/")


@pytest.mark.parametrize("name", ["anything", "Team-B/x", "team-b/app", "x"])
def test_policy_any_allows_every_name(name: str) -> None:
    check_repository_name("any", name, "team-a", ())


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("team-a/app", ()),
        ("team-a/sub/app", ()),
        ("shared/app", ("shared/",)),
        ("platform-tools", ("shared/", "platform-")),
    ],
)
def test_namespace_prefix_allows(name: str, listed: tuple[str, ...]) -> None:
    check_repository_name("namespace-prefix", name, "team-a", listed)


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("app", ()),
        ("team-a", ()),  # the namespace itself is not a prefix: it needs the '/'
        ("team-ab/app", ()),  # another namespace whose name starts with ours
        ("team-b/app", ()),
        ("team-b/app", ("shared/",)),
        ("sharedx/app", ("shared/",)),
        ("Team-a/app", ()),
    ],
)
def test_namespace_prefix_refuses(name: str, listed: tuple[str, ...]) -> None:
    with pytest.raises(SpecError) as caught:
        check_repository_name("namespace-prefix", name, "team-a", listed)
    error = caught.value
    assert error.reason == "RepositoryNameNotAllowed"
    assert not error.retryable
    assert repr(name) in error.message
    for prefix in ("team-a/", *listed):
        assert repr(prefix) in error.message, error.message
    assert "ecr.platform.dev/repository-prefixes" in error.message


def _runtime(policy: str) -> Runtime:
    return Runtime(Settings(region="eu-west-1", repository_name_policy=policy))  # type: ignore[arg-type]


def _namespaces(runtime: Runtime) -> NamespacePolicies:
    return runtime.controller(ECR_REPOSITORY).namespaces


def test_namespace_events_keep_the_prefixes_current() -> None:
    runtime = _runtime("namespace-prefix")
    annotations = {"ecr.platform.dev/repository-prefixes": "shared/, ops-"}
    namespace_event(type=None, name="team-a", annotations=annotations, memo=runtime)
    assert _namespaces(runtime).granted_prefixes("team-a") == ("shared/", "ops-")
    # Removing the annotation clears the grant; deleting the Namespace forgets it.
    namespace_event(type="MODIFIED", name="team-a", annotations={}, memo=runtime)
    assert _namespaces(runtime).granted_prefixes("team-a") == ()
    namespace_event(type="DELETED", name="team-a", annotations={}, memo=runtime)
    with pytest.raises(OperatorError) as raised:
        _namespaces(runtime).granted_prefixes("team-a")
    assert raised.value.reason == "NamespaceNotSeen" and raised.value.retryable


def test_without_the_policy_no_namespace_is_needed() -> None:
    assert _namespaces(_runtime("any")).granted_prefixes("never-seen") == ()


def test_namespaces_are_watched_only_for_the_namespace_prefix_policy() -> None:
    # With account mapping (the default) Namespaces are watched anyway.
    unmapped = Settings(region="eu-west-1", repository_name_policy="any", account_mapping="disabled")
    assert unmapped.watches_namespaces is False
    assert Settings(region="eu-west-1", repository_name_policy="namespace-prefix").watches_namespaces is True
    build_kopf_registry(Settings(region="eu-west-1", repository_name_policy="namespace-prefix"))


def test_flag_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECR_OPERATOR_REPOSITORY_NAME_POLICY", raising=False)
    assert build_parser().parse_args(["run"]).repository_name_policy == "any"
    args = build_parser().parse_args(["run", "--repository-name-policy", "namespace-prefix"])
    assert args.repository_name_policy == "namespace-prefix"
    monkeypatch.setenv("ECR_OPERATOR_REPOSITORY_NAME_POLICY", "namespace-prefix")
    assert build_parser().parse_args(["run"]).repository_name_policy == "namespace-prefix"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--repository-name-policy", "prefix"])
