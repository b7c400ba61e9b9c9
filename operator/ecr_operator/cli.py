"""`ecr-operator`: run the operator, print the CRD, or show what a manifest would change in AWS."""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from collections.abc import Sequence

from . import plan_command
from .settings import (
    DEFAULT_REQUIRED_TAGS,
    DEFAULT_RESYNC_SECONDS,
    REPOSITORY_NAME_POLICIES,
    Settings,
    default_region,
)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _env(name: str, default: str) -> str:
    return os.environ.get(f"ECR_OPERATOR_{name}", default)


def _add_judgement_flags(parser: argparse.ArgumentParser) -> None:
    """The settings that decide how a manifest is judged: `run` and `plan` must agree on them."""
    parser.add_argument(
        "--region",
        default=default_region(),
        help="default AWS region for resources without spec.region (default: AWS_REGION)",
    )
    parser.add_argument(
        "--required-tags",
        type=_csv,
        default=_csv(_env("REQUIRED_TAGS", ",".join(DEFAULT_REQUIRED_TAGS))),
        help="comma-separated tag keys every resource must carry ('' for none)",
    )
    parser.add_argument(
        "--cluster-id",
        default=_env("CLUSTER_ID", "default"),
        help="this cluster's name in the ownership tags; unique per cluster sharing an AWS account",
    )
    parser.add_argument(
        "--repository-name-policy",
        choices=REPOSITORY_NAME_POLICIES,
        default=_env("REPOSITORY_NAME_POLICY", "any"),
        help="'any' (default), or 'namespace-prefix' for self-service clusters: a repositoryName must start with"
        " '<namespace>/' or a prefix listed in the Namespace annotation ecr.platform.dev/repository-prefixes",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecr-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig / in-cluster config")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch this namespace (repeatable); default: all namespaces",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces (the default)")
    run.add_argument(
        "--resync-interval",
        type=float,
        default=float(_env("RESYNC_INTERVAL", str(DEFAULT_RESYNC_SECONDS))),
        help="seconds between drift checks of each resource (default 600)",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=int(_env("WORKERS", "8")),
        help="threads for AWS calls (default 8); kopf handles at most twice as many objects at once",
    )
    _add_judgement_flags(run)
    run.add_argument(
        "--peering",
        default=os.environ.get("ECR_OPERATOR_PEERING") or None,
        help="kopf peering name for active/standby replicas (needs kopf's peering CRDs)",
    )
    run.add_argument(
        "--peering-priority",
        type=int,
        default=int(_env("PEERING_PRIORITY", "0")) or random.randint(1, 2**31 - 1),
        help="the highest priority serves, the others stand by (default: random per process, because kopf"
        " pauses every replica that shares the highest priority)",
    )
    run.add_argument(
        "--peering-lifetime",
        type=int,
        default=int(_env("PEERING_LIFETIME", "60")),
        help="seconds a replica's peering record stays valid; a killed active replica is replaced after at most"
        " this long (default 60)",
    )
    run.add_argument("--log-format", choices=("plain", "full", "json"), default=_env("LOG_FORMAT", "full"))
    run.add_argument("-v", "--verbose", action="store_true")
    run.add_argument("--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")

    demo = commands.add_parser(
        "demo", help="run everything locally: kube-apiserver + etcd, moto, the operator, the example resource"
    )
    demo.add_argument("--manifest", default=None, help="EcrRepository manifest (default: examples/my-application.yaml)")
    demo.add_argument("--exit-after-ready", action="store_true", help="stop once the resource is Ready (for CI)")
    demo.add_argument("--workdir", default=None, help="where certificates, data and logs go (default: a temp dir)")
    demo.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for Ready")

    commands.add_parser("crd", help="print the CustomResourceDefinition generated from the spec model")

    plan = commands.add_parser(
        "plan",
        help="show what the operator would change in AWS for manifests, without changing anything",
        description=plan_command.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan_command.add_arguments(plan)
    _add_judgement_flags(plan)
    plan.add_argument(
        "--allowed-prefixes",
        default="",
        help="with --repository-name-policy namespace-prefix: the prefixes the Namespace annotation"
        " ecr.platform.dev/repository-prefixes grants (comma-separated)",
    )
    return parser


def _check_name_policy(args: argparse.Namespace) -> None:
    if args.repository_name_policy not in REPOSITORY_NAME_POLICIES:  # argparse does not check a default
        build_parser().error(
            f"ECR_OPERATOR_REPOSITORY_NAME_POLICY={args.repository_name_policy!r}:"
            f" expected one of {', '.join(REPOSITORY_NAME_POLICIES)}"
        )


def _run(args: argparse.Namespace) -> int:
    # kopf imports the `kubernetes` client when it is installed (to accept its models as bodies), ~7-20 MiB the
    # operator never uses; the image does not install it, and a dev environment (where tests need it) must not
    # make the operator bigger than it is in the cluster. None in sys.modules makes `import kubernetes` fail.
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]
    import kopf

    from .handlers import Runtime, build_registry, build_settings
    from .kube import drop_managed_fields_from_watches

    _check_name_policy(args)
    settings = Settings(
        region=args.region,
        cluster_id=args.cluster_id,
        required_tags=args.required_tags,
        resync_seconds=args.resync_interval,
        namespaces=tuple(args.namespace),
        max_workers=args.workers,
        repository_name_policy=args.repository_name_policy,
    )
    log_format = {"plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}
    kopf.configure(verbose=args.verbose, log_format=log_format[args.log_format])
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger(__package__).info("settings: %s", settings)
    kopf_settings = build_settings(args.peering, concurrency=2 * settings.max_workers)
    drop_managed_fields_from_watches()
    kopf_settings.peering.lifetime = args.peering_lifetime
    kopf.run(
        registry=build_registry(settings),
        settings=kopf_settings,
        priority=args.peering_priority,
        memo=Runtime(settings, kopf_settings),
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=args.peering is None,
        peering_name=args.peering,
        liveness_endpoint=args.liveness,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "demo":
        from pathlib import Path

        from .demo import DEFAULT_MANIFEST, run_demo

        manifest = Path(args.manifest) if args.manifest else DEFAULT_MANIFEST
        workdir = Path(args.workdir) if args.workdir else None
        return run_demo(manifest, args.exit_after_ready, workdir, args.timeout)
    if args.command == "crd":
        from .crd import render_crd_yaml

        sys.stdout.write(render_crd_yaml())
        return 0
    if args.command == "plan":
        _check_name_policy(args)
        return plan_command.run(args, plan_command.plan_settings(args))
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
