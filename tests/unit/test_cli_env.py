"""`ecr-operator run`: every flag has an ECR_OPERATOR_* variable (or a documented reason not to), bad values are
one-line errors naming the variable, a flag and its variable never silently disagree (an error naming both), and
the README's table of flags cannot drift from the parser."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ecr_operator.cli.main import ENV_PREFIX, RUN_FLAGS_WITHOUT_ENV, build_parser, intervals

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:

    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def test_every_run_flag_has_a_variable_or_a_reason(run_options: dict[str, str | None]) -> None:
    options = run_options
    without = {flag for flag, variable in options.items() if variable is None}
    assert without == set(RUN_FLAGS_WITHOUT_ENV)
    for flag, variable in options.items():
        if variable is not None:
            assert variable == ENV_PREFIX + flag.removeprefix("--").replace("-", "_").upper()


def test_the_readme_table_lists_every_flag_with_its_variable(run_options: dict[str, str | None]) -> None:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `-")]
    for flag, variable in run_options.items():
        [row] = [r for r in rows if re.search(rf"`(-\w/)?{flag}[ `]", r)]
        cells = [c.strip() for c in row.split("|")[1:-1]]
        if variable is None:
            assert cells[1].startswith("\N{EN DASH}"), row
        else:
            assert cells[1].startswith(f"`{variable}`"), row


def test_variables_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "NAMESPACE": "team-a, team-b",
        "REQUIRED_TAGS": "owner,service",
        "RESYNC_INTERVAL": "30",
        "CLUSTER_ID": "prod-1",
        "WORKERS": "4",
        "REPOSITORY_NAME_POLICY": "namespace-prefix",
        "PEERING": "ecr-operator",
        "PEERING_PRIORITY": "7",
        "PEERING_LIFETIME": "10",
        "LOG_FORMAT": "json",
        "VERBOSE": "true",
        "LIVENESS": "http://0.0.0.0:8080/healthz",
    }
    for name, value in values.items():
        monkeypatch.setenv(ENV_PREFIX + name, value)
    args = build_parser().parse_args(["run"])
    assert (args.namespace, args.required_tags, args.resync_interval) == (
        ("team-a", "team-b"),
        ("owner", "service"),
        30.0,
    )
    assert (args.cluster_id, args.workers, args.repository_name_policy) == ("prod-1", 4, "namespace-prefix")
    assert (args.peering, args.peering_priority, args.peering_lifetime) == ("ecr-operator", 7, 10)
    assert (args.log_format, args.verbose, args.liveness) == ("json", True, "http://0.0.0.0:8080/healthz")


def test_flags_without_variables() -> None:
    args = build_parser().parse_args(["run", "-n", "x", "--namespace", "y,z", "--workers", "2"])
    assert (args.namespace, args.workers) == (["x", "y", "z"], 2)
    assert build_parser().parse_args(["run", "-A"]).all_namespaces


@pytest.mark.parametrize(
    ("name", "value", "argv", "message"),
    [
        (
            "WORKERS",
            "4",
            ["--workers", "2"],
            "argument --workers: 2 on the command line, but ECR_OPERATOR_WORKERS='4'",
        ),
        (
            "NAMESPACE",
            "team-a,team-b",
            ["-n", "team-a"],
            "argument -n/--namespace: 'team-a' on the command line, but ECR_OPERATOR_NAMESPACE='team-a,team-b'",
        ),
        # What the chart and the base did before: --all-namespaces in args silently dropped the variable.
        (
            "NAMESPACE",
            "team-a",
            ["--all-namespaces"],
            "argument -A/--all-namespaces: given on the command line, but ECR_OPERATOR_NAMESPACE='team-a'",
        ),
        (
            "VERBOSE",
            "false",
            ["-v"],
            "argument -v/--verbose: given on the command line, but ECR_OPERATOR_VERBOSE='false'",
        ),
        ("LOG_FORMAT", "json", ["--log-format", "plain"], "ECR_OPERATOR_LOG_FORMAT='json'"),
        ("RESYNC_INTERVAL", "600", ["--resync-interval", "60"], "ECR_OPERATOR_RESYNC_INTERVAL='600'"),
    ],
)
def test_a_flag_that_disagrees_with_its_variable_is_an_error_naming_both(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.setenv(ENV_PREFIX + name, value)
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["run", *argv])
    assert exit_info.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("ecr-operator run: error: ") and message in line, line
    assert line.endswith("(from the environment): set one of them"), line


def test_a_flag_that_agrees_with_its_variable_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "WORKERS": "4",
        "NAMESPACE": "team-a, team-b",
        "RESYNC_INTERVAL": "60",
        "VERBOSE": "yes",
    }.items():
        monkeypatch.setenv(ENV_PREFIX + name, value)
    argv = ["run", "--workers", "4", "-n", "team-a", "-n", "team-b", "--resync-interval", "60.0", "--verbose"]
    args = build_parser().parse_args(argv)
    assert (args.workers, args.namespace, args.resync_interval, args.verbose) == (4, ["team-a", "team-b"], 60.0, True)
    # An empty variable means all namespaces, which -A says too.
    monkeypatch.setenv(f"{ENV_PREFIX}NAMESPACE", "")
    assert build_parser().parse_args(["run", "-A"]).all_namespaces


def test_plan_follows_the_same_rule(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}CLUSTER_ID", "prod")
    assert build_parser().parse_args(["plan", "x.yaml", "--cluster-id", "prod"]).cluster_id == "prod"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["plan", "x.yaml", "--cluster-id", "dev"])
    assert "ECR_OPERATOR_CLUSTER_ID='prod' (from the environment)" in capsys.readouterr().err


def test_defaults_without_variables() -> None:
    args = build_parser().parse_args(["run"])
    assert (args.namespace, args.all_namespaces, args.workers, intervals(args)) == (None, False, 8, (600.0, 900.0))
    assert (args.peering, args.peering_priority, args.peering_lifetime, args.verbose) == (None, None, 60, False)
    assert args.required_tags == ("owner", "cost_center", "resource_lifecycle", "data_class", "service")


def test_an_events_queue_lengthens_the_default_intervals_only(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/ecr-operator-events"
    args = build_parser().parse_args(["run", "--events-queue-url", queue])
    assert (args.events_queue_url, intervals(args), args.events_fallback_interval) == (queue, (21600.0, 21600.0), 600.0)
    args = build_parser().parse_args(["run", "--events-queue-url", queue, "--resync-interval", "3600"])
    assert intervals(args) == (3600.0, 21600.0), "an interval given stays as given"
    monkeypatch.setenv(f"{ENV_PREFIX}EVENTS_QUEUE_URL", queue)
    monkeypatch.setenv(f"{ENV_PREFIX}INVENTORY_INTERVAL", "60")
    assert intervals(build_parser().parse_args(["run"])) == (21600.0, 60.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKERS", "abc"),
        ("WORKERS", "0"),
        ("RESYNC_INTERVAL", "soon"),
        ("PEERING_PRIORITY", "high"),
        ("PEERING_LIFETIME", "-1"),
        ("LOG_FORMAT", "xml"),
        ("REPOSITORY_NAME_POLICY", "prefix"),
        ("VERBOSE", "maybe"),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(ENV_PREFIX + name, value)
    # The parser builds, and --help works: conversion happens only when the flag's default is used.
    with pytest.raises(SystemExit) as help_exit:
        build_parser().parse_args(["--help"])
    assert help_exit.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["run"])
    assert exit_info.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert f"{ENV_PREFIX}{name}={value!r}" in line and line.startswith("ecr-operator run: error:"), line


def test_a_flag_with_a_bad_variable_is_an_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}WORKERS", "abc")
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["run", "--workers", "3"])
    assert exit_info.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "argument --workers: ECR_OPERATOR_WORKERS='abc' (from the environment): expected" in line, line
