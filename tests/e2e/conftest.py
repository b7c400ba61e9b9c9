"""Fixtures for end-to-end tests: a real kube-apiserver + etcd and moto's AWS server.

The control-plane binaries are built from ``hack/controlplane/`` on first use (several
minutes, cached per version outside the repository). The build runs right after collection,
only when e2e tests were selected, outside any per-test timeout and with its progress shown.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

try:
    import ecr_operator  # noqa: F401
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(REPO_ROOT / "operator"))

import kubernetes  # noqa: E402

# The session's shared operator (one for every module that uses `ns` / `operator_env`), defined once here.
from operator_env import ns_fixture, operator_env_fixture  # noqa: E402, F401

from ecr_operator_dev import (  # noqa: E402
    ControlPlaneBinaries,
    DevEnvError,
    LocalControlPlane,
    MotoServer,
    ensure_controlplane_binaries,
)

_BINARIES = pytest.StashKey["ControlPlaneBinaries | DevEnvError"]()


def _wants_e2e(session: pytest.Session) -> bool:
    return any(item.get_closest_marker("e2e") is not None for item in session.items)


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    if config.option.collectonly or not _wants_e2e(session):
        return
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")

    def progress(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, file=sys.stderr, flush=True)

    result: ControlPlaneBinaries | DevEnvError
    try:
        if capture is not None:
            with capture.global_and_fixture_disabled():
                result = ensure_controlplane_binaries(progress)
        else:
            result = ensure_controlplane_binaries(progress)
    except DevEnvError as exc:  # reported by the fixture, so only e2e tests fail
        result = exc
    config.stash[_BINARIES] = result


@pytest.fixture(scope="session")
def controlplane_binaries(pytestconfig: pytest.Config) -> ControlPlaneBinaries:
    result = pytestconfig.stash.get(_BINARIES, None)
    if result is None:  # e.g. the fixture is used by a test without the e2e marker
        try:
            result = ensure_controlplane_binaries()
        except DevEnvError as exc:
            result = exc
        pytestconfig.stash[_BINARIES] = result
    if isinstance(result, DevEnvError):
        pytest.fail(f"cannot provide the local control plane binaries:\n{result}", pytrace=False)
    return result


@pytest.fixture(scope="session")
def controlplane(
    controlplane_binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalControlPlane]:
    with LocalControlPlane(controlplane_binaries, tmp_path_factory.mktemp("controlplane")) as cp:
        yield cp


@pytest.fixture(scope="session")
def k8s_api(controlplane: LocalControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    with controlplane.api_client() as client:
        yield client


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server
