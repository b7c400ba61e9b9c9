"""The README stays a newcomer's page: short, the commands CI runs, a first manifest that the API server and the
operator accept, and links that resolve."""

from __future__ import annotations

import re
from pathlib import Path

from ecr_operator.cli.main import main

REPO_ROOT = Path(__file__).resolve().parents[2]
README = (REPO_ROOT / "README.md").read_text()


def test_it_is_short() -> None:
    assert len(README.splitlines()) <= 250


def test_it_names_the_commands_ci_runs() -> None:
    ci = [line for line in (REPO_ROOT / ".ci/run").read_text().splitlines() if line.startswith("hack/")]
    assert ci == ["hack/test.sh", "hack/demo.sh --exit-after-ready"]
    for command in ci:
        assert f"`{command}`" in README or f"```bash\n{command}\n```" in README, command


def test_the_first_repository_is_accepted_offline(tmp_path: Path) -> None:
    manifests = [block for block in re.findall(r"```yaml\n(.*?)```", README, re.S) if "kind: EcrRepository" in block]
    assert manifests
    for index, manifest in enumerate(manifests):
        path = tmp_path / f"readme-{index}.yaml"
        path.write_text(manifest)
        # The tags the production overlay requires, a superset of the default.
        required = "owner,cost_center,resource_lifecycle,data_class,service,environment"
        assert main(["plan", "--offline", "--required-tags", required, str(path)]) == 0, manifest


def test_relative_links_resolve() -> None:
    for page in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```|`[^`\n]*`", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#", 1)[0]
            if path and not re.match(r"[a-z]+:", path):
                assert (page.parent / path).exists(), f"{page.name}: {target}"
