"""The production wheel carries the operator and nothing of the development harness (dev/: ecr-operator-dev)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_only_the_runtime_package(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("ecr_operator-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("ecr_operator-")}
    assert packages == {"ecr_operator"}, packages
    modules = {name.removeprefix("ecr_operator/") for name in names if name.startswith("ecr_operator/")}
    assert {
        "cli/main.py",
        "cli/__main__.py",
        "runtime/handlers.py",
        "repository/reconcile.py",
        "repository/status.py",
        "repository/parts/key.py",
        "repository/parts/repository.py",
        "registry/parts/registry.py",
        "core/aws.py",
    } <= modules
    harness = [m for m in modules if any(word in m for word in ("devenv", "demo", "controlplane", "moto", "proxy"))]
    assert harness == [], harness
