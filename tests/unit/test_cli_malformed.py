"""Malformed input to `plan`, `report` and `run`: exit 2 and one line naming the document and the field, never a
traceback, never "in sync", never an empty table. Each case of the corpus is a file (or a flag) fed to the command
line's ``main`` (an exception escaping it fails the test); one case per command also runs the installed entry point
as a process, where a traceback would show on stderr."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ecr_operator.cli.main import main

Cli = Callable[..., subprocess.CompletedProcess[str]]

API = "apiVersion: ecr.platform.dev/v1alpha1"
REPO = f"{API}\nkind: EcrRepository\n"

PLAN_CORPUS: dict[str, tuple[str, str]] = {
    # name: (file content, what the error line must name besides the file)
    "spec-a-number": (f"{REPO}metadata: {{name: x}}\nspec: 42\n", "spec"),
    "spec-a-list": (f"{REPO}metadata: {{name: x}}\nspec: [1, 2]\n", "spec"),
    "spec-a-string": (f"{REPO}metadata: {{name: x}}\nspec: oops\n", "spec"),
    "metadata-a-string": (f'{REPO}metadata: "oops"\nspec: {{}}\n', "metadata"),
    "metadata-a-list": (f"{REPO}metadata: [a]\n", "metadata"),
    "name-a-number": (f"{REPO}metadata: {{name: 5}}\n", "metadata.name"),
    "name-missing": (f"{REPO}metadata: {{namespace: a}}\n", "metadata.name"),
    "annotations-a-list": (f"{REPO}metadata: {{name: x, annotations: [a]}}\n", "metadata.annotations"),
    "annotation-value-a-number": (f"{REPO}metadata: {{name: x, annotations: {{a: 1}}}}\n", "metadata.annotations.a"),
    "list-items-a-number": ("apiVersion: v1\nkind: List\nitems: 5\n", "items"),
    "list-items-a-string": ("apiVersion: v1\nkind: List\nitems: abc\n", "items"),
    "list-item-a-number": ("apiVersion: v1\nkind: List\nitems: [5]\n", "items[0]"),
    "list-item-without-kind": ("apiVersion: v1\nkind: List\nitems: [{apiVersion: v1}]\n", "items[0]: kind"),
    "empty-file": ("", "no EcrRepository or EcrRegistry"),
    "only-comments": ("# nothing here\n---\n", "no EcrRepository or EcrRegistry"),
    "not-yaml": ("a: [unclosed\n", "not valid YAML at line"),
    "tab-indented": ("apiVersion: v1\n\tkind: List\n", "not valid YAML"),
    "a-scalar": ("42\n", "not a Kubernetes object"),
    "a-bare-list": ("- a\n- b\n", "not a Kubernetes object"),
    "kind-missing": (f"{API}\nmetadata: {{name: x}}\n", "kind"),
    "kind-a-number": (f"{API}\nkind: 5\n", "kind"),
    "unknown-kind-of-our-api": (f"{API}\nkind: EcrRepo\nmetadata: {{name: x}}\n", "kind"),
    "unknown-version-of-our-api": (
        "apiVersion: ecr.platform.dev/v1\nkind: EcrRepository\nmetadata: {name: x}\n",
        "apiVersion",
    ),
    "only-other-kinds": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "no EcrRepository or EcrRegistry"),
    "registry-spec-a-number": (f"{API}\nkind: EcrRegistry\nmetadata: {{name: r}}\nspec: 42\n", "spec"),
    "unknown-field": (f"{REPO}metadata: {{name: xy}}\nspec: {{repositoryNam: ab}}\n", "spec.repositoryNam"),
    "not-utf8": ("\udcff", "not UTF-8"),
    # A hostile manifest: a YAML alias bomb (six levels of nine aliases: over a million values) and a value containing
    # itself, both hidden where any JSON is allowed (a policy statement's Condition).
    "alias-bomb": (
        f"{REPO}metadata: {{name: x}}\nspec:\n  repositoryPolicy:\n    statements:\n"
        "      - {Effect: Allow, Principal: '*', Action: 'ecr:*', Condition: {StringEquals: {\n"
        "          k0: &a0 [a, a, a, a, a, a, a, a, a],\n"
        + "".join(f"          k{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}],\n" for i in range(1, 6))
        + "          k: *a5}}}\n",
        "values may come from aliases",
    ),
    "alias-loop": (
        f"{REPO}metadata: {{name: x}}\nspec:\n  repositoryPolicy:\n    statements:\n"
        "      - &s {Effect: Allow, Principal: '*', Action: 'ecr:*', Condition: {StringEquals: {k: [*s]}}}\n",
        "a YAML alias refers to a node that contains it",
    ),
    # An integer longer than Python converts from text (4300 digits): PyYAML's ValueError was a traceback.
    # A date-like value PyYAML turns into a date, with a month that does not exist: a traceback too.
    "a-thirteenth-month": (f"{REPO}metadata: {{name: xy}}\nspec: {{tags: {{released: 2026-13-01}}}}\n", "month"),
    "integer-of-5000-digits": (
        f"{REPO}metadata: {{name: xy}}\nspec: {{lifecycle: {{maxImageCount: {'9' * 5000}}}}}\n",
        "integer",
    ),
}


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``ecr-operator ARGS`` in this process: its exit code and output, as a finished process would give them."""

    def call(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as patched:
            for name, value in (env or {}).items():
                patched.setenv(name, value)
            patched.setattr("sys.stdin", io.StringIO(stdin))
            # `run` hides the kubernetes client from kopf (sys.modules); the test process keeps its own.
            if "kubernetes" in sys.modules:
                patched.setitem(sys.modules, "kubernetes", sys.modules["kubernetes"])
            else:
                patched.delitem(sys.modules, "kubernetes", raising=False)
            try:
                code = main(list(args))
            except SystemExit as exit:  # argparse's errors
                code = int(exit.code or 0)
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return call


def process(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecr_operator.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def write(path: Path, content: str) -> Path:
    if "\udcff" in content:
        path.write_bytes(b"\xff\xfe not utf-8")
    else:
        path.write_text(content)
    return path


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *names: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    assert any(all(name in line for name in names) for line in output.splitlines()), (names, output)


@pytest.mark.parametrize("case", sorted(PLAN_CORPUS))
@pytest.mark.parametrize("mode", ["--offline", "online"])
def test_plan_refuses_malformed_input_in_one_line(case: str, mode: str, tmp_path: Path, cli: Cli) -> None:
    content, field = PLAN_CORPUS[case]
    path = write(tmp_path / f"{case}.yaml", content)
    # Online, no document reaches AWS: an endpoint that does not answer would fail the test by a traceback or a hang.
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    result = cli("plan", str(path), *([mode] if mode != "online" else []), env=env)
    assert_one_clear_line(result, str(path), field)
    assert "in-sync" not in result.stdout


def test_one_bad_document_does_not_hide_the_others(tmp_path: Path, cli: Cli) -> None:
    good = f"{REPO}metadata: {{name: good}}\nspec: {{tags: {{a: b}}}}\n"
    path = write(tmp_path / "mixed.yaml", f'{good}---\n{REPO}metadata: "oops"\n')
    result = cli("plan", "--offline", "--required-tags", "", str(path), "-o", "json")
    assert_one_clear_line(result, f"{path} (document 2)", "metadata")
    assert [p["name"] for p in json.loads(result.stdout)] == ["good"]


REPORT_CORPUS: dict[str, tuple[str, str]] = {
    "empty": ("", "empty"),
    "not-yaml": ("{items: [", "not valid YAML"),
    "a-scalar": ("5", "not a Kubernetes object"),
    "items-a-number": ('{"apiVersion": "v1", "kind": "List", "items": 5}', "items"),
    "item-another-kind": (
        '{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap"}]}',
        "items[0]: kind",
    ),
    "count-a-string": (
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "ecr.platform.dev/v1alpha1",
                        "kind": "EcrRepository",
                        "metadata": {"name": "a"},
                        "status": {"images": {"count": "many"}},
                    }
                ],
            }
        ),
        "status.images.count",
    ),
    "status-a-list": (
        json.dumps(
            {
                "apiVersion": "ecr.platform.dev/v1alpha1",
                "kind": "EcrRepository",
                "metadata": {"name": "a"},
                "status": [],
            }
        ),
        "status",
    ),
    "conditions-of-numbers": (
        json.dumps(
            {
                "apiVersion": "ecr.platform.dev/v1alpha1",
                "kind": "EcrRepository",
                "metadata": {"name": "a"},
                "status": {"conditions": [1]},
            }
        ),
        "status.conditions[0]",
    ),
    "metadata-a-string": (
        '{"apiVersion": "ecr.platform.dev/v1alpha1", "kind": "EcrRepository", "metadata": "x"}',
        "metadata",
    ),
    "count-of-5000-digits": (
        '{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "ecr.platform.dev/v1alpha1", '
        '"kind": "EcrRepository", "metadata": {"name": "a"}, "status": {"images": {"count": ' + "9" * 5000 + "}}}]}",
        "integer",
    ),
}


@pytest.mark.parametrize("case", sorted(REPORT_CORPUS))
def test_report_refuses_malformed_input_in_one_line(case: str, tmp_path: Path, cli: Cli) -> None:
    content, field = REPORT_CORPUS[case]
    piped = cli("report", stdin=content)
    assert_one_clear_line(piped, "<stdin>", field)
    assert piped.stdout == "", "no table"
    path = write(tmp_path / f"{case}.json", content)
    assert_one_clear_line(cli("report", "-f", str(path)), str(path), field)


def test_report_of_an_empty_list_is_an_empty_table(cli: Cli) -> None:
    result = cli("report", stdin='{"apiVersion": "v1", "kind": "List", "items": []}')
    assert result.returncode == 0 and result.stdout.splitlines()[-1].startswith("TOTAL"), result


RUN_CORPUS: dict[str, tuple[list[str], str]] = {
    "metrics-port-too-big": (["--metrics-port", "99999"], "--metrics-port"),
    "metrics-port-negative": (["--metrics-port", "-1"], "--metrics-port"),
    "metrics-port-a-word": (["--metrics-port", "http"], "--metrics-port"),
    "metrics-address": (["--metrics-address", "not an address"], "--metrics-address"),
    "liveness-port": (["--liveness", "http://0.0.0.0:70000/healthz"], "--liveness"),
    "liveness-not-a-url": (["--liveness", "8080"], "--liveness"),
    "region-words": (["--region", "not a region"], "--region"),
    "region-zone": (["--region", "eu-west-1a"], "--region"),
    "cluster-id-300": (["--cluster-id", "c" * 300], "--cluster-id"),
    "cluster-id-empty": (["--cluster-id", ""], "--cluster-id"),
    "cluster-id-tag-chars": (["--cluster-id", "prod#1"], "--cluster-id"),
    "cluster-id-session-name": (["--cluster-id", "c" * 60], "--cluster-id"),
    "cluster-id-session-chars": (["--cluster-id", "prod cluster"], "--cluster-id"),
}


@pytest.mark.parametrize("case", sorted(RUN_CORPUS))
def test_run_refuses_a_bad_setting_naming_the_flag(case: str, tmp_path: Path, cli: Cli) -> None:
    args, flag = RUN_CORPUS[case]
    result = cli("run", *args, env={"KUBECONFIG": str(write(tmp_path / "kubeconfig", "{}"))})
    assert_one_clear_line(result, flag)


def test_a_bad_setting_from_the_environment_names_the_variable(cli: Cli) -> None:
    result = cli("run", env={"ECR_OPERATOR_METRICS_PORT": "70000"})
    assert_one_clear_line(result, "ECR_OPERATOR_METRICS_PORT")


def test_a_long_cluster_id_is_fine_without_account_mapping(tmp_path: Path, cli: Cli) -> None:
    """Only AssumeRole's session name limits it to 51 characters; a tag value takes 256."""
    result = cli("run", "--cluster-id", "c" * 200, "--account-mapping", "disabled", env={"KUBECONFIG": "/nonexistent"})
    assert_one_clear_line(result, "kubeconfig")
    assert "--cluster-id" not in result.stderr


def test_run_without_cluster_credentials_is_an_error_not_a_login_loop(tmp_path: Path, cli: Cli) -> None:
    no_kubeconfig = cli("run", env={"KUBECONFIG": "", "HOME": str(tmp_path)})
    assert_one_clear_line(no_kubeconfig, "no Kubernetes credentials")
    missing = cli("run", env={"KUBECONFIG": str(tmp_path / "missing")})
    assert_one_clear_line(missing, "kubeconfig", "missing")


def test_the_entry_point_answers_in_one_line_too(tmp_path: Path) -> None:
    """The installed command, as a process: nothing between ``main`` and the shell prints a traceback."""
    path = write(tmp_path / "spec.yaml", PLAN_CORPUS["spec-a-number"][0])
    assert_one_clear_line(process("plan", "--offline", str(path)), str(path), "spec")
    assert_one_clear_line(process("report", stdin="5"), "<stdin>", "not a Kubernetes object")
    assert_one_clear_line(process("run", "--metrics-port", "99999"), "--metrics-port")
    assert_one_clear_line(process("run", env={"KUBECONFIG": str(tmp_path / "missing")}), "kubeconfig")
