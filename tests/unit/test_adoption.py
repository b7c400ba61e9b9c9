"""Adoption is the platform's decision: the pure decision, the setting (flag / environment) and the Namespace watch."""

from __future__ import annotations

import inspect

import pytest

from ecr_operator.cli.main import build_parser, main
from ecr_operator.core.api import is_true
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.settings import AccountMapping, AdoptionMode, RepositoryNamePolicy, Settings
from ecr_operator.repository.adoption import NO_ADOPTION, decide_adoption
from ecr_operator.repository.kind import KIND as ECR_REPOSITORY
from ecr_operator.repository.namespaces import NamespacePolicies
from ecr_operator.runtime.handlers import build_kopf_registry
from ecr_operator.runtime.passes import namespace_event
from ecr_operator.runtime.process import Runtime

ALLOW = "ecr.platform.dev/allow-adoption"


@pytest.mark.parametrize(
    ("mode", "namespace_allows", "allowed"),
    [
        ("disabled", False, False),
        ("disabled", True, False),  # the Namespace annotation alone grants nothing
        ("annotated-namespaces", False, False),
        ("annotated-namespaces", True, True),
        ("everywhere", False, True),
        ("everywhere", True, True),
    ],
)
@pytest.mark.parametrize("requested", [False, True])
def test_decide_adoption(mode: AdoptionMode, namespace_allows: bool, allowed: bool, requested: bool) -> None:
    adoption = decide_adoption(mode, "team-a", requested=requested, namespace_allows=namespace_allows)
    assert adoption.requested is requested
    assert adoption.allowed is allowed
    assert adoption.adopts is (allowed and requested)
    assert (adoption.refusal is None) is allowed


def test_refusals_say_who_can_allow_it() -> None:
    disabled = decide_adoption("disabled", "team-a", requested=True, namespace_allows=False).refusal
    assert disabled is not None
    assert "platform team" in disabled and "--adoption" in disabled and "ECR_OPERATOR_ADOPTION" in disabled
    assert ALLOW in disabled
    namespace = decide_adoption("annotated-namespaces", "team-a", requested=True, namespace_allows=False).refusal
    assert namespace is not None
    assert "team-a" in namespace and ALLOW in namespace and "cluster admin" in namespace


def test_the_default_neither_asks_nor_allows() -> None:
    assert not NO_ADOPTION.requested and not NO_ADOPTION.allowed and not NO_ADOPTION.adopts


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("false", False), ("yes", False), ("true", True), ("True", True), (" TRUE ", True)],
)
def test_is_true(value: str | None, expected: bool) -> None:
    assert is_true(value) is expected


# -- the Namespace annotation, through the Namespace watch ------------------------------------------------------


def _runtime(mode: AdoptionMode) -> Runtime:
    return Runtime(Settings(region="eu-west-1", adoption=mode))


def _namespaces(runtime: Runtime) -> NamespacePolicies:
    return runtime.controller(ECR_REPOSITORY).namespaces


def test_annotated_namespaces_follow_the_namespace_watch() -> None:
    runtime = _runtime("annotated-namespaces")
    with pytest.raises(OperatorError) as raised:
        _namespaces(runtime).adoption("team-a", requested=True)
    assert raised.value.reason == "NamespaceNotSeen" and raised.value.retryable
    # A resource that does not ask never waits for its Namespace.
    assert not _namespaces(runtime).adoption("team-a", requested=False).allowed

    namespace_event(type=None, name="team-a", annotations={ALLOW: "true"}, memo=runtime)
    assert _namespaces(runtime).adoption("team-a", requested=True).adopts
    namespace_event(type="MODIFIED", name="team-a", annotations={ALLOW: "false"}, memo=runtime)
    assert not _namespaces(runtime).adoption("team-a", requested=True).allowed
    namespace_event(type="MODIFIED", name="team-a", annotations={ALLOW: "true"}, memo=runtime)
    namespace_event(type="DELETED", name="team-a", annotations={ALLOW: "true"}, memo=runtime)
    with pytest.raises(OperatorError):
        _namespaces(runtime).adoption("team-a", requested=True)


@pytest.mark.parametrize(("mode", "allowed"), [("disabled", False), ("everywhere", True)])
def test_other_modes_need_no_namespace(mode: AdoptionMode, allowed: bool) -> None:
    assert _namespaces(_runtime(mode)).adoption("never-seen", requested=True).adopts is allowed


def _namespace_watchers(
    policy: RepositoryNamePolicy, mode: AdoptionMode, mapping: AccountMapping = "disabled"
) -> list[str]:
    settings = Settings(region="eu-west-1", repository_name_policy=policy, adoption=mode, account_mapping=mapping)
    build_kopf_registry(settings)  # registers without error
    # A plain event handler, never a kopf index (an index on Namespaces stalls with bounded workers).
    assert "kopf.index" not in inspect.getsource(build_kopf_registry)
    return ["namespace-annotations"] if settings.watches_namespaces else []


@pytest.mark.parametrize(
    ("policy", "mode", "watched"),
    [
        ("any", "disabled", False),
        ("any", "everywhere", False),
        ("any", "annotated-namespaces", True),
        ("namespace-prefix", "disabled", True),
        ("namespace-prefix", "annotated-namespaces", True),
    ],
)
def test_namespaces_are_watched_when_a_policy_reads_their_annotations(
    policy: RepositoryNamePolicy, mode: AdoptionMode, watched: bool
) -> None:
    assert _namespace_watchers(policy, mode) == (["namespace-annotations"] if watched else [])


def test_namespaces_are_watched_when_accounts_may_be_mapped() -> None:
    # The default: a Namespace may be mapped to another AWS account at any time, so Namespaces are always watched.
    assert _namespace_watchers("any", "disabled", "namespace-annotation") == ["namespace-annotations"]


# -- the setting -----------------------------------------------------------------------------------------------


def test_flag_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECR_OPERATOR_ADOPTION", raising=False)
    assert build_parser().parse_args(["run"]).adoption == "disabled"
    assert Settings(region="eu-west-1").adoption == "disabled"
    assert build_parser().parse_args(["run", "--adoption", "everywhere"]).adoption == "everywhere"
    monkeypatch.setenv("ECR_OPERATOR_ADOPTION", "annotated-namespaces")
    assert build_parser().parse_args(["run"]).adoption == "annotated-namespaces"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--adoption", "yes"])


def test_an_invalid_mode_from_the_environment_is_one_clean_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ECR_OPERATOR_ADOPTION", "always")
    with pytest.raises(SystemExit) as exited:
        main(["run"])
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        "ecr-operator run: error: argument --adoption: ECR_OPERATOR_ADOPTION='always' (from the environment): "
        "expected one of disabled, annotated-namespaces, everywhere"
    )


# (status.adopted / adoptedAt: tests/unit/test_status_report.py)
