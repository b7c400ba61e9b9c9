"""`ecr-operator-dev demo`: the whole product on one machine, no cloud account.

Builds (or reuses) a real kube-apiserver + etcd, starts moto's AWS server, installs the CRD, runs the
operator as a separate process, applies a manifest, waits for Ready and shows what exists on both sides.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import boto3
import yaml

from .awsread import image_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]  # dev/ecr_operator_dev/demo.py
DEFAULT_MANIFEST = REPO_ROOT / "examples" / "my-application.yaml"


def _say(line: str) -> None:
    print(f"==> {line}", flush=True)


def _kubectl(kubectl: str, env: dict[str, str], *args: str, check: bool = True) -> str:
    result = subprocess.run([kubectl, *args], env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def _wait_ready(kubectl: str, env: dict[str, str], ref: list[str], timeout: float, operator: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = json.loads(_kubectl(kubectl, env, "get", *ref, "-o", "json"))
        conditions = {c["type"]: c for c in body.get("status", {}).get("conditions", [])}
        ready = conditions.get("Ready")
        generation = body["metadata"].get("generation")
        if ready and ready["status"] == "True" and ready.get("observedGeneration") == generation:
            result: dict[str, Any] = body
            return result
        if not operator.running:
            raise RuntimeError("the operator exited; see its log")
        if time.monotonic() > deadline:
            reason = f"{ready['reason']}: {ready['message']}" if ready else "no Ready condition yet"
            raise RuntimeError(f"not Ready after {timeout:.0f}s ({reason})")
        time.sleep(0.2)


def _aws_summary(body: dict[str, Any], endpoint_env: dict[str, str]) -> list[str]:
    status = body["status"]
    region = status["region"]
    name = status["repositoryName"]
    session = boto3.session.Session(
        aws_access_key_id=endpoint_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=endpoint_env["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )
    endpoint = endpoint_env["AWS_ENDPOINT_URL"]
    ecr = session.client("ecr", endpoint_url=endpoint)
    kms = session.client("kms", endpoint_url=endpoint)
    repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    lines = [
        f"repository   {repo['repositoryUri']}",
        f"  tag mutability {repo['imageTagMutability']}, "
        f"scan on push {repo['imageScanningConfiguration']['scanOnPush']}",
        f"  encryption {repo['encryptionConfiguration']['encryptionType']}"
        + (
            f" with {repo['encryptionConfiguration'].get('kmsKey')}"
            if repo["encryptionConfiguration"].get("kmsKey")
            else ""
        ),
    ]
    key_arn = repo["encryptionConfiguration"].get("kmsKey")
    if key_arn:
        key = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
        rotation = kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"]
        aliases = [a["AliasName"] for a in kms.list_aliases(KeyId=key["KeyId"])["Aliases"]]
        lines.append(
            f"kms key      {key['KeyId']} ({key['KeyState']}, rotation {'on' if rotation else 'off'}, "
            f"alias {', '.join(aliases) or 'none'})"
        )
    try:
        lifecycle = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
        lines.append(
            "lifecycle    "
            + "; ".join(
                f"{rule['rulePriority']}: {rule.get('description', rule['selection'])}" for rule in lifecycle["rules"]
            )
        )
    except ecr.exceptions.LifecyclePolicyNotFoundException:
        lines.append("lifecycle    none")
    try:
        policy = json.loads(ecr.get_repository_policy(repositoryName=name)["policyText"])
        principals = [p for s in policy["Statement"] for p in _as_list(s.get("Principal", {}).get("AWS", []))]
        lines.append(f"pull policy  {', '.join(principals)}")
    except ecr.exceptions.RepositoryPolicyNotFoundException:
        lines.append("pull policy  none (cross-account pull disabled)")
    tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
    lines.append("tags         " + ", ".join(f"{t['Key']}={t['Value']}" for t in sorted(tags, key=lambda t: t["Key"])))
    return lines


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


DEMO_INVENTORY_SECONDS = 5


def _push_and_scan(body: dict[str, Any], endpoint_env: dict[str, str]) -> str:
    """An image in the demo repository (moto takes a manifest without blobs) and its scan; returns its digest."""
    status = body["status"]
    session = boto3.session.Session(
        aws_access_key_id=endpoint_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=endpoint_env["AWS_SECRET_ACCESS_KEY"],
        region_name=status["region"],
    )
    ecr = session.client("ecr", endpoint_url=endpoint_env["AWS_ENDPOINT_URL"])
    size = 734_003_200  # moto reports the manifest's config size as the image size: a 700 MiB image
    name = status["repositoryName"]
    image = ecr.put_image(repositoryName=name, imageManifest=image_manifest(size), imageTag="v1.0.0")["image"]
    digest: str = image["imageId"]["imageDigest"]
    ecr.start_image_scan(repositoryName=name, imageId={"imageDigest": digest})
    return digest


def _wait_inventory(kubectl: str, env: dict[str, str], ref: list[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = json.loads(_kubectl(kubectl, env, "get", *ref, "-o", "json"))
        status = body.get("status") or {}
        if (status.get("images") or {}).get("count") and (status.get("scan") or {}).get("status") == "COMPLETE":
            return body
        if time.monotonic() > deadline:
            raise RuntimeError(f"the inventory did not show the pushed image within {timeout:.0f}s: {status}")
        time.sleep(0.5)


def run_demo(manifest: Path, exit_after_ready: bool, workdir: Path | None, timeout: float) -> int:
    from . import LocalControlPlane, MotoServer, OperatorProcess, ensure_controlplane_binaries

    document = yaml.safe_load(manifest.read_text())
    region = (document.get("spec") or {}).get("region") or os.environ.get("AWS_REGION") or "us-east-1"
    namespace = document["metadata"].get("namespace", "default")
    ref = ["ecrrepositories.ecr.platform.dev", document["metadata"]["name"], "-n", namespace]

    _say("control plane: building or reusing kube-apiserver, kube-controller-manager and etcd (first build: minutes)")
    binaries = ensure_controlplane_binaries(lambda line: print(f"    {line}", flush=True))
    kubectl = str(binaries.kubectl or shutil.which("kubectl") or "")
    if not kubectl:
        raise RuntimeError("no kubectl: neither built with the control plane nor on PATH")
    workdir = workdir or Path(tempfile.mkdtemp(prefix="ecr-operator-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)

    with ExitStack() as stack:
        _say(f"starting etcd + kube-apiserver in {workdir}")
        controlplane = stack.enter_context(LocalControlPlane(binaries, workdir, die_with_parent=False))
        _say(f"kube-apiserver is up at {controlplane.server}")
        moto = stack.enter_context(MotoServer(workdir, die_with_parent=False))
        _say(f"AWS emulator (moto) is up at {moto.endpoint_url}")
        env = {**os.environ, "KUBECONFIG": str(controlplane.kubeconfig), **moto.aws_environment(region)}

        _say("installing the EcrRepository CRD")
        _kubectl(kubectl, env, "apply", "-f", str(REPO_ROOT / "crds"))
        _kubectl(
            kubectl, env, "wait", "--for=condition=Established", "--timeout=60s", "crd/ecrrepositories.ecr.platform.dev"
        )
        log_path = workdir / "operator.log"
        _say(f"starting the operator (log: {log_path})")
        operator = stack.enter_context(
            OperatorProcess(
                kubeconfig=controlplane.kubeconfig,
                aws_env=moto.aws_environment(region),
                log_path=log_path,
                # A short inventory interval so that the pushed image shows up within seconds (default 15 min).
                args=["--region", region, "--cluster-id", "demo", "--inventory-interval", str(DEMO_INVENTORY_SECONDS)],
            )
        )

        _say(f"applying {manifest}")
        if namespace != "default":
            _kubectl(kubectl, env, "create", "namespace", namespace, check=False)
        started = time.monotonic()
        _kubectl(kubectl, env, "apply", "-f", str(manifest))
        try:
            body = _wait_ready(kubectl, env, ref, timeout, operator)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            print(log_path.read_text()[-4000:], file=sys.stderr)
            return 1
        _say(f"Ready after {time.monotonic() - started:.1f}s\n")
        print(_kubectl(kubectl, env, "get", "ecrrepositories", "-A"))
        print("AWS (moto) now holds:")
        for line in _aws_summary(body, env):
            print(f"  {line}")
        print()
        _say("pushing an image (700 MiB, tag v1.0.0) and scanning it; the inventory timer refreshes status")
        digest = _push_and_scan(body, env)
        try:
            body = _wait_inventory(kubectl, env, ref, 6 * DEMO_INVENTORY_SECONDS)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(_kubectl(kubectl, env, "get", "ecrrepositories", "-A"))
        status = body["status"]
        print(f"  newest image {digest} {status['scan']['imageTags']}: scan {status['scan']['status']}, findings")
        print(f"  {status['scan'].get('findingSeverityCounts')}; estimated ${status['estimatedMonthlyCostUSD']}/month")
        print()
        if exit_after_ready:
            _say("converged; stopping (--exit-after-ready)")
            return 0
        print("Try it (in another shell):")
        print(f"  export KUBECONFIG={controlplane.kubeconfig}")
        print(
            f"  export AWS_ENDPOINT_URL={moto.endpoint_url} AWS_ACCESS_KEY_ID=testing "
            f"AWS_SECRET_ACCESS_KEY=testing AWS_REGION={region}"
        )
        print(f"  {kubectl} get ecr -A;  {kubectl} edit ecr -n {namespace} {document['metadata']['name']}")
        print(f"  operator log: {log_path}")
        print("Press Ctrl-C to stop everything.", flush=True)
        try:
            while operator.running:
                time.sleep(1)
            print("the operator exited; see its log", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            _say("stopping")
            return 0
    return 0
