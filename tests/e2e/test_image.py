"""The container image, built on this machine by hack/image/build.sh (a Debian bookworm base from debootstrap,
then the Dockerfile with buildah), runs the operator: as user 65532, with the operator's ServiceAccount token, a
resource becomes Ready against a real kube-apiserver and moto.

The first build takes a few minutes (cached per input hash in ~/.cache/ecr-operator/image/); it needs root,
debootstrap and buildah (apt-get install debootstrap buildah).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from support import (
    DEPLOY,
    REGION,
    REPO_ROOT,
    REQUIRED_TAGS,
    Aws,
    Cluster,
    Operator,
    private_cluster,
    tagged_spec,
    unique,
)

from ecr_operator_dev import ControlPlaneBinaries, MotoServer

pytestmark = pytest.mark.e2e

CACHE = Path(os.environ.get("ECR_OPERATOR_CACHE", Path.home() / ".cache" / "ecr-operator")) / "image" / "containers"
BUILDAH = ["buildah", "--root", str(CACHE / "root"), "--runroot", str(CACHE / "run"), "--storage-driver", "vfs"]
KUBECONFIG_IN_CONTAINER = "/etc/ecr-operator/kubeconfig"


def buildah(*args: str, timeout: float = 120) -> str:
    result = subprocess.run([*BUILDAH, *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"buildah {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout.strip()


@pytest.fixture(scope="module")
def image() -> str:
    build = subprocess.run(
        [str(REPO_ROOT / "hack" / "image" / "build.sh")], capture_output=True, text=True, timeout=1800
    )
    if build.returncode != 0:
        pytest.fail(f"hack/image/build.sh failed:\n{build.stderr[-4000:]}", pytrace=False)
    reference = build.stdout.strip().splitlines()[-1]
    print(f"\n{reference}: {buildah('images', '--format', '{{.Size}}', reference)}")
    return reference


@pytest.fixture
def container(image: str) -> Iterator[str]:
    name = buildah("from", "--pull-never", image)
    try:
        yield name
    finally:
        buildah("rm", name)


class ImageOperator(Operator):
    """The operator as the image's entry point in a buildah container (chroot isolation, host network)."""

    def __init__(
        self, *, container: str, kubeconfig: Path, aws_env: Mapping[str, str], log_path: Path, args: Sequence[str]
    ) -> None:
        super().__init__(kubeconfig=kubeconfig, aws_env=aws_env, log_path=log_path, args=args)
        self.container = container
        self.kubeconfig = kubeconfig
        self.container_env = {**aws_env, "KUBECONFIG": KUBECONFIG_IN_CONTAINER, "PYTHONUNBUFFERED": "1"}

    @property
    def command(self) -> list[str]:
        env = [f"--env={key}={value}" for key, value in self.container_env.items()]
        volume = f"--volume={self.kubeconfig}:{KUBECONFIG_IN_CONTAINER}:ro"
        isolation = ["--isolation=chroot", "--network=host"]
        # buildah run does not use the entry point: the same command, spelled out.
        return [*BUILDAH, "run", *isolation, volume, *env, self.container, "--", "ecr-operator", "run", *self.args]


def test_the_image_has_no_build_leftovers_and_runs_as_65532(container: str) -> None:
    assert buildah("inspect", "--format", "{{.OCIv1.Config.User}}", container) == "65532:65532"
    assert buildah("inspect", "--format", "{{.OCIv1.Config.Entrypoint}}", container) == "[ecr-operator]"
    # Settings come from the environment, as in the chart and kustomize: no flag that a variable could contradict.
    assert buildah("inspect", "--format", "{{.OCIv1.Config.Cmd}}", container) == "[run]"
    assert "ECR_OPERATOR_LOG_FORMAT=json" in buildah("inspect", "--format", "{{.OCIv1.Config.Env}}", container)
    script = "id -u; find / -xdev \\( -path /usr/share/python-wheels -o -path '*/ensurepip/_bundled' \\) -prune -o "
    script += "\\( -name '*.whl' -o -name src -path /src \\) -print; ls /opt/ecr-operator/bin/pip 2>&1 || true"
    out = buildah("run", "--isolation=chroot", container, "--", "sh", "-c", script)
    uid, *rest = out.splitlines()
    # Only the Python distribution's own bootstrap wheels (venv/ensurepip) remain; none of ours, no sources.
    assert uid == "65532"
    assert [line for line in rest if "No such file" not in line] == [], out


def test_the_operator_from_the_image_converges_a_resource(
    container: str,
    controlplane_binaries: ControlPlaneBinaries,
    moto_server: MotoServer,
    tmp_path: Path,
) -> None:
    with private_cluster(controlplane_binaries, tmp_path / "controlplane") as cluster:
        cluster.apply(DEPLOY / "base" / "rbac.yaml")
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(cluster.controlplane.token_kubeconfig("ecr-operator", "ecr-operator").read_text())
        kubeconfig.chmod(0o644)  # read by user 65532 in the container
        cluster_id = unique("image")
        args = ["--cluster-id", cluster_id, "--region", REGION, "--required-tags", REQUIRED_TAGS]
        operator = ImageOperator(
            container=container,
            kubeconfig=kubeconfig,
            # The image's ECR_OPERATOR_LOG_FORMAT=json, changed as a Deployment would (a flag would contradict it).
            aws_env={**moto_server.aws_environment(REGION), "ECR_OPERATOR_LOG_FORMAT": "full"},
            log_path=tmp_path / "operator.log",
            args=[*args, "--workers", "4", "--all-namespaces"],
        )
        with operator:
            converge(cluster, Aws(moto_server.endpoint_url, REGION, cluster_id), operator)


def converge(cluster: Cluster, aws: Aws, operator: ImageOperator) -> None:
    namespace, repository_name = cluster.namespace("image"), unique("image-app")
    cluster.create(namespace, "app", tagged_spec(repository_name))
    ready = cluster.wait_ready(namespace, "app", context=operator.log_tail)
    assert ready["status"]["repositoryUri"].endswith("/" + repository_name)
    aws.assert_converged(namespace, "app", repository_name)
