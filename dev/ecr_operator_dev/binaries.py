"""Locate (building on first use) the kube-apiserver / kube-controller-manager / etcd / kubectl binaries.

They are built from the pinned Go wrapper modules in ``hack/controlplane/`` by
``hack/controlplane/build.sh`` into a per-version cache outside the repository
(``${ECR_OPERATOR_CACHE:-~/.cache/ecr-operator}/controlplane/...``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._process import DevEnvError

__all__ = [
    "BIN_DIR_ENV",
    "HACK_DIR_ENV",
    "ControlPlaneBinaries",
    "ensure_controlplane_binaries",
    "hack_dir",
]

HACK_DIR_ENV = "ECR_OPERATOR_HACK_DIR"
"""Overrides where the repository's ``hack/`` directory is."""

BIN_DIR_ENV = "ECR_OPERATOR_CONTROLPLANE_BIN"
"""Points at a directory with prebuilt ``kube-apiserver``, ``kube-controller-manager`` and ``etcd`` (skips the Go
build)."""


@dataclass(frozen=True)
class ControlPlaneBinaries:
    kube_apiserver: Path
    etcd: Path
    kube_controller_manager: Path
    kubectl: Path | None = None

    @classmethod
    def from_dir(cls, bin_dir: Path) -> ControlPlaneBinaries:
        """The binaries in ``bin_dir``; ``kubectl`` is optional."""
        required = ("kube-apiserver", "kube-controller-manager", "etcd")
        missing = [name for name in required if not os.access(bin_dir / name, os.X_OK)]
        if missing:
            raise DevEnvError(f"{bin_dir} has no executable {' or '.join(missing)}")
        kubectl = bin_dir / "kubectl"
        return cls(
            kube_apiserver=bin_dir / "kube-apiserver",
            etcd=bin_dir / "etcd",
            kube_controller_manager=bin_dir / "kube-controller-manager",
            kubectl=kubectl if os.access(kubectl, os.X_OK) else None,
        )


def hack_dir() -> Path:
    """The repository's ``hack/`` directory (``$ECR_OPERATOR_HACK_DIR`` overrides)."""
    override = os.environ.get(HACK_DIR_ENV)
    if override:
        return Path(override)
    # dev/ecr_operator_dev/binaries.py -> repository root
    return Path(__file__).resolve().parents[2] / "hack"


def _stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def ensure_controlplane_binaries(
    progress: Callable[[str], None] = _stderr_progress,
) -> ControlPlaneBinaries:
    """Return the control-plane binaries, building them with Go the first time.

    ``progress`` receives build.sh's progress lines as they appear (the first build takes
    several minutes). Raises :class:`DevEnvError` if the build is impossible (no ``go``,
    no checkout) or fails.
    """
    prebuilt = os.environ.get(BIN_DIR_ENV)
    if prebuilt:
        return ControlPlaneBinaries.from_dir(Path(prebuilt))

    script = hack_dir() / "controlplane" / "build.sh"
    if not script.is_file():
        raise DevEnvError(
            f"{script} not found: building the local control plane needs a checkout of the "
            f"ecr-operator repository (set {HACK_DIR_ENV} to its hack/ directory), or set "
            f"{BIN_DIR_ENV} to a directory with prebuilt kube-apiserver, kube-controller-manager and etcd binaries"
        )

    proc = subprocess.Popen(
        ["bash", str(script)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr_lines: list[str] = []

    def pump_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.rstrip("\n")
            stderr_lines.append(line)
            progress(line)

    pump = threading.Thread(target=pump_stderr, name="controlplane-build-stderr", daemon=True)
    pump.start()
    stdout = proc.stdout.read()
    code = proc.wait()
    pump.join()

    if code != 0:
        tail = "\n".join(stderr_lines[-40:])
        raise DevEnvError(f"{script} failed with exit code {code}:\n{tail}")
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise DevEnvError(f"{script} printed no bin directory")
    return ControlPlaneBinaries.from_dir(Path(lines[-1].strip()))
