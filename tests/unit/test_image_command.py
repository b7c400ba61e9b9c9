"""The image's default command takes its settings from the environment as the chart and kustomize do: no flag in the
Dockerfile's CMD can override (or, since flags.py, contradict) a variable a Deployment or `docker run -e` sets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ecr_operator.cli.main import build_parser, settings_from

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def _instructions(name: str) -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")  # continuation lines
    return [line.removeprefix(f"{name} ") for line in text.splitlines() if line.startswith(f"{name} ")]


def _command() -> list[str]:
    [line] = _instructions("CMD")
    command: list[str] = json.loads(line)
    return command


def _image_env() -> dict[str, str]:
    """The operator's variables the image sets (others, like PATH, refer to the base image's)."""
    found = [re.findall(r"(ECR_OPERATOR_\w+)=(\S+)", line) for line in _instructions("ENV")]
    return dict(pair for pairs in found for pair in pairs)


def test_the_default_command_is_run_without_flags() -> None:
    assert _command() == ["run"]


@pytest.mark.parametrize(("watch", "expected"), [(None, ()), ("team-a,team-b", ("team-a", "team-b"))])
def test_the_image_watches_what_the_environment_says(
    monkeypatch: pytest.MonkeyPatch, watch: str | None, expected: tuple[str, ...]
) -> None:
    for name, value in _image_env().items():
        monkeypatch.setenv(name, value)
    if watch is not None:
        monkeypatch.setenv("ECR_OPERATOR_NAMESPACE", watch)
    args = build_parser().parse_args(_command())
    assert settings_from(args).namespaces == expected
    assert args.log_format == "json"
