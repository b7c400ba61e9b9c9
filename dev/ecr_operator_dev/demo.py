"""`ecr-operator-dev demo`: the whole product on one machine, no cloud account.

Builds (or reuses) a real kube-apiserver + etcd, starts moto's AWS server, sets up the events queue (the shipped
CloudFormation template, deployed into moto), installs the CRD, runs the operator as a separate process behind the
harness's AWS proxy (which emits the events AWS would send for anyone else's writes), applies a manifest, waits for
Ready and shows what exists on both sides; then makes a console-style change and shows it reverted, and pushes an
image and shows it in ``kubectl get ecr``, both within about a second, by events.
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

from .awsevents import deploy_events_stack
from .awsproxy import AwsProxy
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


OPERATOR_KEY = "testing"
"""The operator's access key (moto's environment); the "console" signs with another, so its writes make events."""
CONSOLE_KEY = "console-user"
EVENT_TIMEOUT = 30.0


def _console(service: str, proxy_url: str, region: str) -> Any:
    """Somebody at the AWS console: through the proxy (which emits the events AWS would), with a key of their own."""
    return boto3.client(
        service, endpoint_url=proxy_url, region_name=region, aws_access_key_id=CONSOLE_KEY, aws_secret_access_key="x"
    )


def _until(check: Any, what: str, timeout: float = EVENT_TIMEOUT) -> float:
    """Seconds until ``check()`` is truthy (polled every 50 ms)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - started


def _status(kubectl: str, env: dict[str, str], ref: list[str]) -> dict[str, Any]:
    status: dict[str, Any] = json.loads(_kubectl(kubectl, env, "get", *ref, "-o", "json")).get("status") or {}
    return status


def _show_events(kubectl: str, env: dict[str, str], ref: list[str], body: dict[str, Any], moto_env: dict[str, str],
                 proxy_url: str) -> None:  # fmt: skip
    """A console change reverted, a push and its scan shown: each by the event AWS sends, not by a timer."""
    status = body["status"]
    region, name = status["region"], status["repositoryName"]
    console_ecr = _console("ecr", proxy_url, region)
    direct = boto3.client(
        "ecr", endpoint_url=moto_env["AWS_ENDPOINT_URL"], region_name=region,
        aws_access_key_id=OPERATOR_KEY, aws_secret_access_key=OPERATOR_KEY,
    )  # fmt: skip

    def lifecycle() -> bool:
        try:
            return bool(direct.get_lifecycle_policy(repositoryName=name))
        except direct.exceptions.LifecyclePolicyNotFoundException:
            return False

    if lifecycle():
        _say("the console deletes the lifecycle policy (CloudTrail's DeleteLifecyclePolicy event -> the queue)")
        console_ecr.delete_lifecycle_policy(repositoryName=name)
        print(f"  restored by the operator after {_until(lifecycle, 'the lifecycle policy restored'):.2f}s\n")
    _say("the console sets the tags immutable")
    console_ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
    wanted = status.get("imageTagMutability") or "MUTABLE"

    def mutability() -> bool:
        found = direct.describe_repositories(repositoryNames=[name])["repositories"][0]["imageTagMutability"]
        return bool(found == wanted)

    print(f"  back to {wanted} after {_until(mutability, 'the tag mutability restored'):.2f}s\n")

    _say("pushing an image (700 MiB, tag v1.0.0): ECR's push event -> status.images")
    size = 734_003_200  # moto reports the manifest's config size as the image size: a 700 MiB image
    image = console_ecr.put_image(repositoryName=name, imageManifest=image_manifest(size), imageTag="v1.0.0")["image"]
    digest: str = image["imageId"]["imageDigest"]
    shown = _until(lambda: (_status(kubectl, env, ref).get("images") or {}).get("count"), "the push in status")
    print(f"  in status after {shown:.2f}s:")
    print(_kubectl(kubectl, env, "get", "ecrrepositories", "-A"))
    _say("scanning it: ECR's scan event -> the findings read from ECR -> status.scan (refreshes 5 s apart)")
    console_ecr.start_image_scan(repositoryName=name, imageId={"imageDigest": digest})
    scanned = _until(
        lambda: (_status(kubectl, env, ref).get("scan") or {}).get("status") == "COMPLETE", "the scan in status"
    )
    latest = _status(kubectl, env, ref)
    scan, cost = latest["scan"], latest["estimatedMonthlyCostUSD"]
    print(f"  after {scanned:.2f}s: newest image {digest} {scan['imageTags']}: scan {scan['status']}, findings")
    print(f"  {scan.get('findingSeverityCounts')}; estimated ${cost}/month")
    print()


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
        queue = deploy_events_stack(moto.endpoint_url, region)
        _say(f"events queue (deploy/aws/cloudformation/events-queue.yaml, deployed into moto): {queue.queue_url}")
        proxy = stack.enter_context(AwsProxy(upstream=moto.endpoint_url))
        proxy.emit_events({OPERATOR_KEY})

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
                aws_env={**moto.aws_environment(region), "AWS_ENDPOINT_URL": proxy.endpoint_url},
                log_path=log_path,
                # With the queue the resync and the inventory are 6-hourly safety nets: the events do the work.
                args=["--region", region, "--cluster-id", "demo", "--events-queue-url", queue.queue_url],
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
        try:
            _show_events(kubectl, env, ref, body, moto.aws_environment(region), proxy.endpoint_url)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            print(log_path.read_text()[-4000:], file=sys.stderr)
            return 1
        if exit_after_ready:
            _say("converged; stopping (--exit-after-ready)")
            return 0
        print("Try it (in another shell):")
        print(f"  export KUBECONFIG={controlplane.kubeconfig}")
        print(
            f"  export AWS_ENDPOINT_URL={proxy.endpoint_url} AWS_ACCESS_KEY_ID={CONSOLE_KEY} "
            f"AWS_SECRET_ACCESS_KEY=x AWS_REGION={region}   # through the proxy: your writes make events"
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
