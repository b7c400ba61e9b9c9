"""`ecr-operator`: run the operator, plan manifests, report on objects, print the CRDs or the reasons."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import random
import sys
from collections.abc import Sequence

from ecr_operator.cli import checks
from ecr_operator.cli import plan as plan_command
from ecr_operator.cli import report as report_command
from ecr_operator.cli.flags import (
    ADDRESS,
    CSV,
    ENV_PREFIX,
    INT,
    LIVENESS_URL,
    PORT_OR_NONE,
    POSITIVE_INT,
    POSITIVE_NUMBER,
    POSITIVE_SECONDS,
    PRICE,
    ExtendList,
    Parser,
    StoreTrue,
    checked,
    choice,
    option,
)
from ecr_operator.core.ratelimit import parse_rates
from ecr_operator.core.settings import (
    ACCOUNT_MAPPINGS,
    ADOPTION_MODES,
    DEFAULT_CLIENT_CACHE_SIZE,
    DEFAULT_EVENTS_RESYNC_SECONDS,
    DEFAULT_INVENTORY_SECONDS,
    DEFAULT_KMS_KEY_PRICE_PER_MONTH,
    DEFAULT_REQUIRED_TAGS,
    DEFAULT_RESYNC_SECONDS,
    DEFAULT_STORAGE_PRICE_PER_GB_MONTH,
    REPOSITORY_NAME_POLICIES,
    Prices,
    Settings,
    default_region,
)

LOG_FORMATS = ("plain", "full", "json")


def _rates(value: str) -> str:
    if value.strip().lower() != "off":
        parse_rates(value)
    return value


def _known_region(value: str) -> str:
    from ecr_operator.core.regions import RegionPolicy

    RegionPolicy.of([value])
    return value


def _known_regions(value: str) -> tuple[str, ...]:
    from ecr_operator.core.regions import RegionPolicy

    regions = CSV(value)
    RegionPolicy.of(regions)
    return regions


_REGION = checked(_known_region, "an AWS region that offers ECR and KMS (e.g. eu-west-1)")
_REGIONS = checked(_known_regions, "AWS regions that offer ECR and KMS, comma-separated (e.g. eu-west-1,us-east-1)")
_CLUSTER_ID = checked(
    checks.cluster_id_value,
    f"1-{checks.MAX_CLUSTER_ID} characters of letters, digits, spaces and _ . : / = + - @ (an AWS tag value)",
)
_RATES = checked(
    _rates, "'off' or service:Operation=rate|adaptive entries, comma-separated (kms:CreateKey=5,ecr:*=adaptive)"
)


RUN_FLAGS_WITHOUT_ENV = {
    "--help": "prints the help",
    "--all-namespaces": f"the default; together with {ENV_PREFIX}NAMESPACE it is an error",
    "--region": "the standard AWS variables AWS_REGION / AWS_DEFAULT_REGION, as every AWS tool reads them",
}
"""The options of `ecr-operator run` without an ECR_OPERATOR_* variable, and why (docs/operations.md, *Running*)."""


def _add_judgement_flags(parser: argparse.ArgumentParser) -> None:
    """The settings that decide how a manifest is judged: `run` and `plan` must agree on them."""
    parser.add_argument(
        "--region",
        type=_REGION,
        default=default_region(),
        help="default AWS region for resources without spec.region (default: AWS_REGION)",
    )
    option(
        parser,
        "--allowed-regions",
        env="ALLOWED_REGIONS",
        type=_REGIONS,
        default="",
        help="comma-separated regions resources may live in (spec.region); others are refused (RegionNotAllowed)"
        " before any AWS call; default '': every region botocore knows for both ECR and KMS",
    )
    option(
        parser,
        "--required-tags",
        env="REQUIRED_TAGS",
        type=CSV,
        default=",".join(DEFAULT_REQUIRED_TAGS),
        help="comma-separated tag keys every resource must carry ('' for none)",
    )
    option(
        parser,
        "--cluster-id",
        env="CLUSTER_ID",
        type=_CLUSTER_ID,
        default="default",
        help="this cluster's name in the ownership tags; unique per cluster sharing an AWS account",
    )
    option(
        parser,
        "--repository-name-policy",
        env="REPOSITORY_NAME_POLICY",
        type=choice(*REPOSITORY_NAME_POLICIES),
        choices=REPOSITORY_NAME_POLICIES,
        default="any",
        help="'any' (default), or 'namespace-prefix' for self-service clusters: a repositoryName must start with"
        " '<namespace>/' or a prefix listed in the Namespace annotation ecr.platform.dev/repository-prefixes",
    )
    option(
        parser,
        "--adoption",
        env="ADOPTION",
        type=choice(*ADOPTION_MODES),
        choices=ADOPTION_MODES,
        default="disabled",
        help="where a resource annotated ecr.platform.dev/adopt=true may take over an existing repository nobody"
        " owns: 'disabled' (default), 'annotated-namespaces' (Namespaces annotated"
        " ecr.platform.dev/allow-adoption=true by cluster admins) or 'everywhere' (single-tenant clusters)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ecr-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig / in-cluster config")
    scope = run.add_mutually_exclusive_group()
    option(
        scope,
        "-n",
        "--namespace",
        env="NAMESPACE",
        default=None,
        type=CSV,
        action=ExtendList,
        help="watch this namespace (repeatable, or comma-separated; kopf globs like 'team-*' work);"
        " default: all namespaces",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces (the default)")
    option(
        run,
        "--resync-interval",
        env="RESYNC_INTERVAL",
        type=POSITIVE_SECONDS,
        default=None,
        help=f"seconds between drift checks of each resource (default {DEFAULT_RESYNC_SECONDS:.0f};"
        f" {DEFAULT_EVENTS_RESYNC_SECONDS:.0f} with --events-queue-url)",
    )
    option(
        run,
        "--inventory-interval",
        env="INVENTORY_INTERVAL",
        type=POSITIVE_SECONDS,
        default=None,
        help="seconds between refreshes of each resource's status.images, status.scan and"
        f" status.estimatedMonthlyCostUSD (default {DEFAULT_INVENTORY_SECONDS:.0f};"
        f" {DEFAULT_EVENTS_RESYNC_SECONDS:.0f} with --events-queue-url; jittered per resource; not part of the"
        " drift resync)",
    )
    option(
        run,
        "--events-queue-url",
        env="EVENTS_QUEUE_URL",
        default="",
        help="long-poll this SQS queue for ECR's and CloudTrail's events (deploy/aws/): drift is corrected and pushes"
        " shown within seconds, and the resync becomes a safety net (docs/events.md); default: none",
    )
    option(
        run,
        "--events-fallback-interval",
        env="EVENTS_FALLBACK_INTERVAL",
        type=POSITIVE_SECONDS,
        default=str(DEFAULT_RESYNC_SECONDS),
        help="with --events-queue-url: seconds between drift checks and inventory refreshes while the queue cannot"
        f" be read (default {DEFAULT_RESYNC_SECONDS:.0f})",
    )
    option(
        run,
        "--storage-price-per-gb-month",
        env="STORAGE_PRICE_PER_GB_MONTH",
        type=PRICE,
        default=str(DEFAULT_STORAGE_PRICE_PER_GB_MONTH),
        help="USD per GB-month of ECR storage for the cost estimate (default 0.10, Seoul)",
    )
    option(
        run,
        "--kms-key-price-per-month",
        env="KMS_KEY_PRICE_PER_MONTH",
        type=PRICE,
        default=str(DEFAULT_KMS_KEY_PRICE_PER_MONTH),
        help="USD per month of a customer-managed KMS key, counted when the operator manages the key (default 1)",
    )
    option(
        run,
        "--workers",
        env="WORKERS",
        type=POSITIVE_INT,
        default="8",
        help="threads for AWS calls (default 8); kopf handles at most twice as many objects at once",
    )
    _add_judgement_flags(run)
    option(
        run,
        "--account-mapping",
        env="ACCOUNT_MAPPING",
        type=choice(*ACCOUNT_MAPPINGS),
        choices=ACCOUNT_MAPPINGS,
        default="namespace-annotation",
        help="'namespace-annotation' (default): resources in a Namespace a cluster admin annotated"
        " ecr.platform.dev/aws-role-arn live in that role's AWS account (sts:AssumeRole); 'disabled': one account",
    )
    option(
        run,
        "--no-registries",
        env="NO_REGISTRIES",
        action=StoreTrue,
        default=None,
        help="do not serve the cluster-scoped EcrRegistry kind (every shard but one of a sharded installation)",
    )
    option(
        run,
        "--require-account-mapping",
        env="REQUIRE_ACCOUNT_MAPPING",
        action=StoreTrue,
        default=None,
        help="refuse resources in Namespaces without the ecr.platform.dev/aws-role-arn annotation (AccountNotMapped)"
        " instead of creating them in the operator's own account",
    )
    option(
        run,
        "--assume-role-external-id",
        env="ASSUME_ROLE_EXTERNAL_ID",
        default="",
        help="sts:ExternalId sent with every AssumeRole into a mapped account; set it from a Secret (the variable),"
        " not on the command line",
    )
    option(
        run,
        "--aws-rate-limits",
        env="AWS_RATE_LIMITS",
        type=_RATES,
        default="",
        help="request rates per account, region and operation overriding the defaults (AWS's published quotas,"
        " adaptive where AWS publishes none), e.g. 'kms:CreateKey=5,ecr:*=20,tag:*=adaptive'; 'off': no client-side"
        " limit",
    )
    option(
        run,
        "--aws-rate-limit-scale",
        env="AWS_RATE_LIMIT_SCALE",
        type=POSITIVE_NUMBER,
        default="1",
        help="multiplies every request rate (e.g. 0.5 to leave half of each quota to other clients; default 1)",
    )
    option(
        run,
        "--client-cache-size",
        env="CLIENT_CACHE_SIZE",
        type=POSITIVE_INT,
        default=str(DEFAULT_CLIENT_CACHE_SIZE),
        help="(AWS role, region) client sets kept, least recently used dropped first; each costs ~0.3 MiB once used"
        f" (default {DEFAULT_CLIENT_CACHE_SIZE})",
    )
    option(
        run,
        "--peering",
        env="PEERING",
        default=None,
        help="kopf peering name for active/standby replicas (needs kopf's peering CRDs)",
    )
    option(
        run,
        "--peering-priority",
        env="PEERING_PRIORITY",
        type=INT,
        default=None,
        help="the highest priority serves, the others stand by (default, or 0: random per process, because kopf"
        " pauses every replica that shares the highest priority)",
    )
    option(
        run,
        "--peering-lifetime",
        env="PEERING_LIFETIME",
        type=POSITIVE_INT,
        default="60",
        help="seconds a replica's peering record stays valid; a killed active replica is replaced after at most"
        " this long (default 60)",
    )
    option(
        run,
        "--log-format",
        env="LOG_FORMAT",
        type=choice(*LOG_FORMATS),
        choices=LOG_FORMATS,
        default="full",
        help="kopf's log format (default full; json in a cluster)",
    )
    option(run, "-v", "--verbose", env="VERBOSE", action=StoreTrue, default=None, help="debug logging")
    option(
        run,
        "--liveness",
        env="LIVENESS",
        type=LIVENESS_URL,
        default=None,
        help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz (default: none)",
    )
    option(
        run,
        "--metrics-port",
        env="METRICS_PORT",
        type=PORT_OR_NONE,
        default="8081",
        help="port of /metrics (Prometheus) and /readyz (API server and AWS answer); 0: none (default 8081)",
    )
    option(
        run,
        "--metrics-address",
        env="METRICS_ADDRESS",
        type=ADDRESS,
        default="0.0.0.0",
        help="address /metrics and /readyz listen on (default 0.0.0.0)",
    )
    option(
        run,
        "--per-resource-findings-metrics",
        env="PER_RESOURCE_FINDINGS_METRICS",
        action=StoreTrue,
        default=None,
        help="also export ecr_operator_resource_image_findings{namespace,name,severity}, six series per resource"
        " (default: findings summed by severity; per resource from status with kube-state-metrics)",
    )
    option(
        run,
        "--readiness-interval",
        env="READINESS_INTERVAL",
        type=POSITIVE_SECONDS,
        default="10",
        help="seconds between readiness checks of the API server and AWS (default 10)",
    )

    crd = commands.add_parser("crd", help="print a CustomResourceDefinition generated from the spec model")
    crd.add_argument(
        "--kind",
        choices=("EcrRepository", "EcrRegistry", "all"),
        default="EcrRepository",
        help="which CRD: EcrRepository (default), EcrRegistry, or all (a multi-document stream)",
    )
    crd.add_argument(
        "--markdown",
        action="store_true",
        help="print the API reference of those CRDs as Markdown instead (docs/api.md is `--kind all --markdown`)",
    )
    commands.add_parser(
        "reasons",
        help="print every condition and Event reason, retried or not, as a table (the one in docs/behaviour.md)",
    )
    report = commands.add_parser(
        "report",
        help="images, size, findings, monthly cost and Ready of EcrRepository objects (kubectl get ecr -A -o json)",
        description=report_command.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report_command.add_arguments(report)

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
    plan.add_argument(
        "--namespace-allows-adoption",
        action="store_true",
        help="with --adoption annotated-namespaces: the Namespace carries ecr.platform.dev/allow-adoption=true",
    )
    return parser


def intervals(args: argparse.Namespace) -> tuple[float, float]:
    """(resync, inventory) seconds: as given, else the defaults, which are longer with an events queue."""
    events = bool(args.events_queue_url)
    resync = DEFAULT_EVENTS_RESYNC_SECONDS if events else DEFAULT_RESYNC_SECONDS
    inventory = DEFAULT_EVENTS_RESYNC_SECONDS if events else DEFAULT_INVENTORY_SECONDS
    given_resync, given_inventory = args.resync_interval, args.inventory_interval
    return (
        float(given_resync) if given_resync is not None else resync,
        float(given_inventory) if given_inventory is not None else inventory,
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """The operator's settings from the parsed flags, for every command: `plan` has the flags that judge a
    manifest (the others keep their defaults), `run` has them all."""
    judgement = Settings(
        region=args.region,
        cluster_id=args.cluster_id,
        required_tags=args.required_tags,
        repository_name_policy=args.repository_name_policy,
        adoption=args.adoption,
        allowed_regions=args.allowed_regions,
    )
    if args.command != "run":
        return judgement
    resync_seconds, inventory_seconds = intervals(args)
    return dataclasses.replace(
        judgement,
        resync_seconds=resync_seconds,
        inventory_seconds=inventory_seconds,
        prices=Prices(args.storage_price_per_gb_month, args.kms_key_price_per_month),
        namespaces=() if args.all_namespaces else tuple(args.namespace or ()),
        max_workers=args.workers,
        account_mapping=args.account_mapping,
        require_account_mapping=args.require_account_mapping,
        manage_registries=not args.no_registries,
        assume_role_external_id=args.assume_role_external_id,
        aws_rate_limits=args.aws_rate_limits,
        aws_rate_limit_scale=args.aws_rate_limit_scale,
        client_cache_size=args.client_cache_size,
        events_queue_url=args.events_queue_url,
        events_fallback_seconds=args.events_fallback_interval,
        per_resource_findings_metrics=args.per_resource_findings_metrics,
    )


def _refusal(message: str) -> int:
    sys.stderr.write(f"ecr-operator run: error: {message}\n")
    return 2


def _run(args: argparse.Namespace) -> int:
    # kopf imports the `kubernetes` client when it is installed (to accept its models as bodies), ~7-20 MiB the
    # operator never uses; the image does not install it, and a dev environment (where tests need it) must not
    # make the operator bigger than it is in the cluster. None in sys.modules makes `import kubernetes` fail.
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]
    problem = checks.cluster_id_problem(args.cluster_id, args.account_mapping)
    if problem is not None:
        return _refusal(f"argument --cluster-id: {problem}")
    problem = checks.login_problem()
    if problem is not None:
        return _refusal(problem)
    import kopf

    from ecr_operator.runtime import probes
    from ecr_operator.runtime.handlers import build_kopf_registry, build_settings
    from ecr_operator.runtime.kube import (
        drop_managed_fields_from_watches,
        read_objects_as_deep_as_the_api_server,
        serve_namespaces_created_during_startup,
    )
    from ecr_operator.runtime.probes import Readiness
    from ecr_operator.runtime.process import Runtime

    settings = settings_from(args)
    log_format = {"plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}
    kopf.configure(verbose=args.verbose, log_format=log_format[args.log_format])
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger(__package__).info("settings: %s", settings)
    peering = args.peering or None
    kopf_settings = build_settings(peering, concurrency=2 * settings.max_workers)
    drop_managed_fields_from_watches()
    read_objects_as_deep_as_the_api_server()
    serve_namespaces_created_during_startup()
    kopf_settings.peering.lifetime = args.peering_lifetime
    runtime = Runtime(settings, kopf_settings, readiness=Readiness(interval=args.readiness_interval))
    if args.metrics_port:
        probes.serve(runtime.readiness, args.metrics_address, args.metrics_port)
    kopf.run(
        registry=build_kopf_registry(settings),
        settings=kopf_settings,
        priority=args.peering_priority or random.randint(1, 2**31 - 1),
        memo=runtime,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=peering is None,
        peering_name=peering,
        liveness_endpoint=args.liveness or None,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("run", "plan") and args.allowed_regions and args.region not in args.allowed_regions:
        parser.error(f"--region {args.region} is not one of --allowed-regions ({', '.join(args.allowed_regions)})")
    if args.command == "run":
        return _run(args)
    if args.command == "reasons":
        from ecr_operator.core.reasons import markdown_table

        sys.stdout.write(markdown_table())
        return 0
    if args.command == "crd":
        from ecr_operator.core.crd import render_crd_yaml
        from ecr_operator.runtime.kinds import KINDS

        crds = [kind.crd for kind in KINDS if args.kind in (kind.crd.kind, "all")]
        if args.markdown:
            from ecr_operator.core.apidoc import render
            from ecr_operator.core.crd import build_crd

            sys.stdout.write(render(build_crd(crd) for crd in crds))
            return 0
        sys.stdout.write("---\n".join(render_crd_yaml(crd) for crd in crds))
        return 0
    if args.command == "plan":
        return plan_command.run(args, settings_from(args))
    if args.command == "report":
        return report_command.run(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
