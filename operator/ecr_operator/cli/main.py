"""`ecr-operator`: run the operator, print the CRD, or show what a manifest would change in AWS."""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from ecr_operator.cli import plan as plan_command
from ecr_operator.cli import report as report_command
from ecr_operator.core.ratelimit import parse_rates
from ecr_operator.core.settings import (
    ACCOUNT_MAPPINGS,
    ADOPTION_MODES,
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

ENV_PREFIX = "ECR_OPERATOR_"
LOG_FORMATS = ("plain", "full", "json")
T = TypeVar("T")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _env(name: str, default: str) -> str:
    return os.environ.get(f"ECR_OPERATOR_{name}", default)


_FROM_ENV = " (from the environment)"


class _Parser(argparse.ArgumentParser):
    """An error in an environment variable is one line naming it: the usage does not help there. A flag given on
    the command line and its variable must agree: one overriding the other silently would hide a mistake (a
    Deployment's args against its ConfigMap), so a disagreement is an error naming both."""

    def error(self, message: str) -> NoReturn:
        if _FROM_ENV in message:
            self.exit(2, f"{self.prog}: error: {message}\n")
        super().error(message)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
                if isinstance(chosen, _Parser):
                    _refuse_disagreements(chosen, parsed)
        return parsed, extras


class _EnvValue(str):
    """A default read from an environment variable: argparse converts it like a command-line value (it applies
    ``type`` to string defaults, lazily, only when the flag is absent), and a bad one is reported by its name."""

    variable: str

    def __new__(cls, variable: str, value: str) -> _EnvValue:
        self = super().__new__(cls, value)
        self.variable = variable
        return self


def _comparable(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def _refuse_disagreements(parser: _Parser, parsed: argparse.Namespace) -> None:
    """Exit (2) when an option's value differs from its variable's: the flag was given and says otherwise."""
    for action in parser._actions:
        variable = action.default
        if not isinstance(variable, _EnvValue):
            continue
        try:
            from_env = action.type(variable) if callable(action.type) else str(variable)
        except argparse.ArgumentTypeError as exc:  # a bad variable, unused because the flag was given
            parser.error(f"argument {'/'.join(action.option_strings)}: {exc}")
        given = getattr(parsed, action.dest)
        if _comparable(given) != _comparable(from_env):
            shown = ",".join(map(str, given)) if isinstance(given, list | tuple) else given
            parser.error(
                f"argument {'/'.join(action.option_strings)}: {'given' if action.nargs == 0 else repr(shown)} on"
                f" the command line, but {variable.variable}={str(variable)!r}{_FROM_ENV}: set one of them"
            )
    for group in parser._mutually_exclusive_groups:
        from_env = [a for a in group._group_actions if isinstance(a.default, _EnvValue) and str(a.default).strip()]
        for action in from_env:
            for other in group._group_actions:
                if other is not action and getattr(parsed, other.dest) != other.default:
                    variable = action.default
                    parser.error(
                        f"argument {'/'.join(other.option_strings)}: given on the command line, but"
                        f" {variable.variable}={str(variable)!r}{_FROM_ENV}: set one of them"
                    )


def _converter(convert: Callable[[str], T], expected: str) -> Callable[[str], T]:
    def parse(value: str) -> T:
        try:
            return convert(value)
        except ValueError as exc:
            if isinstance(value, _EnvValue):
                raise argparse.ArgumentTypeError(
                    f"{value.variable}={str(value)!r}{_FROM_ENV}: expected {expected}"
                ) from exc
            raise argparse.ArgumentTypeError(f"{value!r}: expected {expected}") from exc

    return parse


def _positive_int(value: str) -> int:
    if (number := int(value)) <= 0:
        raise ValueError(value)
    return number


def _positive_float(value: str) -> float:
    if not (number := float(value)) > 0:
        raise ValueError(value)
    return number


def _non_negative_float(value: str) -> float:
    if not (number := float(value)) >= 0:
        raise ValueError(value)
    return number


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(value)
        return value

    return _converter(parse, f"one of {', '.join(choices)}")


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


_INT = _converter(int, "an integer")
_POSITIVE_INT = _converter(_positive_int, "a positive integer")
_POSITIVE_FLOAT = _converter(_positive_float, "a positive number of seconds")
_PRICE = _converter(_non_negative_float, "a non-negative number of US dollars")
_BOOLEAN = _converter(_boolean, "true or false")
_CSV = _converter(_csv, "a comma-separated list")


def _rates(value: str) -> str:
    if value.strip().lower() != "off":
        parse_rates(value)
    return value


_RATES = _converter(_rates, "'off' or service:Operation=rate entries, comma-separated (kms:CreateKey=5,ecr:*=20)")
_SCALE = _converter(_positive_float, "a positive number")


class _StoreTrue(argparse.Action):
    """``store_true`` whose default may come from the environment ("true"/"false", converted like a value)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        if kwargs.get("default") is None:
            kwargs["default"] = False
        super().__init__(option_strings, dest, nargs=0, type=_BOOLEAN, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, *_: Any) -> None:
        setattr(namespace, self.dest, True)


class _ExtendList(argparse.Action):
    """Like ``extend``, but the first flag replaces a default from the environment instead of extending it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, *_: Any) -> None:
        current = getattr(namespace, self.dest)
        setattr(namespace, self.dest, [*(current if isinstance(current, list) else ()), *values])


def _option(
    group: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup,
    *flags: str,
    env: str,
    default: str | None,
    help: str,
    **kwargs: Any,
) -> None:
    """A flag whose default comes from ``ECR_OPERATOR_<env>`` when that is set; ``--help`` names the variable."""
    variable = ENV_PREFIX + env
    value = os.environ.get(variable)
    group.add_argument(
        *flags,
        default=_EnvValue(variable, value) if value is not None else default,
        help=f"{help} [env {variable}]",
        **kwargs,
    )


RUN_FLAGS_WITHOUT_ENV = {
    "--help": "prints the help",
    "--all-namespaces": f"the default; together with {ENV_PREFIX}NAMESPACE it is an error",
    "--region": "the standard AWS variables AWS_REGION / AWS_DEFAULT_REGION, as every AWS tool reads them",
}
"""The options of `ecr-operator run` without an ECR_OPERATOR_* variable, and why (README: Running it...)."""


def _add_judgement_flags(parser: argparse.ArgumentParser) -> None:
    """The settings that decide how a manifest is judged: `run` and `plan` must agree on them."""
    parser.add_argument(
        "--region",
        default=default_region(),
        help="default AWS region for resources without spec.region (default: AWS_REGION)",
    )
    _option(
        parser,
        "--required-tags",
        env="REQUIRED_TAGS",
        type=_CSV,
        default=",".join(DEFAULT_REQUIRED_TAGS),
        help="comma-separated tag keys every resource must carry ('' for none)",
    )
    _option(
        parser,
        "--cluster-id",
        env="CLUSTER_ID",
        default="default",
        help="this cluster's name in the ownership tags; unique per cluster sharing an AWS account",
    )
    _option(
        parser,
        "--repository-name-policy",
        env="REPOSITORY_NAME_POLICY",
        type=_choice(*REPOSITORY_NAME_POLICIES),
        choices=REPOSITORY_NAME_POLICIES,
        default="any",
        help="'any' (default), or 'namespace-prefix' for self-service clusters: a repositoryName must start with"
        " '<namespace>/' or a prefix listed in the Namespace annotation ecr.platform.dev/repository-prefixes",
    )
    _option(
        parser,
        "--adoption",
        env="ADOPTION",
        type=_choice(*ADOPTION_MODES),
        choices=ADOPTION_MODES,
        default="disabled",
        help="where a resource annotated ecr.platform.dev/adopt=true may take over an existing repository nobody"
        " owns: 'disabled' (default), 'annotated-namespaces' (Namespaces annotated"
        " ecr.platform.dev/allow-adoption=true by cluster admins) or 'everywhere' (single-tenant clusters)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ecr-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig / in-cluster config")
    scope = run.add_mutually_exclusive_group()
    _option(
        scope,
        "-n",
        "--namespace",
        env="NAMESPACE",
        default=None,
        type=_CSV,
        action=_ExtendList,
        help="watch this namespace (repeatable, or comma-separated; kopf globs like 'team-*' work);"
        " default: all namespaces",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces (the default)")
    _option(
        run,
        "--resync-interval",
        env="RESYNC_INTERVAL",
        type=_POSITIVE_FLOAT,
        default=None,
        help=f"seconds between drift checks of each resource (default {DEFAULT_RESYNC_SECONDS:.0f};"
        f" {DEFAULT_EVENTS_RESYNC_SECONDS:.0f} with --events-queue-url)",
    )
    _option(
        run,
        "--inventory-interval",
        env="INVENTORY_INTERVAL",
        type=_POSITIVE_FLOAT,
        default=None,
        help="seconds between refreshes of each resource's status.images, status.scan and"
        f" status.estimatedMonthlyCostUSD (default {DEFAULT_INVENTORY_SECONDS:.0f};"
        f" {DEFAULT_EVENTS_RESYNC_SECONDS:.0f} with --events-queue-url; jittered per resource; not part of the"
        " drift resync)",
    )
    _option(
        run,
        "--events-queue-url",
        env="EVENTS_QUEUE_URL",
        default="",
        help="long-poll this SQS queue for ECR's and CloudTrail's events (deploy/aws/): drift is corrected and pushes"
        " shown within seconds, and the resync becomes a safety net (docs/events.md); default: none",
    )
    _option(
        run,
        "--events-fallback-interval",
        env="EVENTS_FALLBACK_INTERVAL",
        type=_POSITIVE_FLOAT,
        default=str(DEFAULT_RESYNC_SECONDS),
        help="with --events-queue-url: seconds between drift checks and inventory refreshes while the queue cannot"
        f" be read (default {DEFAULT_RESYNC_SECONDS:.0f})",
    )
    _option(
        run,
        "--storage-price-per-gb-month",
        env="STORAGE_PRICE_PER_GB_MONTH",
        type=_PRICE,
        default=str(DEFAULT_STORAGE_PRICE_PER_GB_MONTH),
        help="USD per GB-month of ECR storage for the cost estimate (default 0.10, Seoul)",
    )
    _option(
        run,
        "--kms-key-price-per-month",
        env="KMS_KEY_PRICE_PER_MONTH",
        type=_PRICE,
        default=str(DEFAULT_KMS_KEY_PRICE_PER_MONTH),
        help="USD per month of a customer-managed KMS key, counted when the operator manages the key (default 1)",
    )
    _option(
        run,
        "--workers",
        env="WORKERS",
        type=_POSITIVE_INT,
        default="8",
        help="threads for AWS calls (default 8); kopf handles at most twice as many objects at once",
    )
    _add_judgement_flags(run)
    _option(
        run,
        "--account-mapping",
        env="ACCOUNT_MAPPING",
        type=_choice(*ACCOUNT_MAPPINGS),
        choices=ACCOUNT_MAPPINGS,
        default="namespace-annotation",
        help="'namespace-annotation' (default): resources in a Namespace a cluster admin annotated"
        " ecr.platform.dev/aws-role-arn live in that role's AWS account (sts:AssumeRole); 'disabled': one account",
    )
    _option(
        run,
        "--no-registries",
        env="NO_REGISTRIES",
        action=_StoreTrue,
        default=None,
        help="do not serve the cluster-scoped EcrRegistry kind (every shard but one of a sharded installation)",
    )
    _option(
        run,
        "--require-account-mapping",
        env="REQUIRE_ACCOUNT_MAPPING",
        action=_StoreTrue,
        default=None,
        help="refuse resources in Namespaces without the ecr.platform.dev/aws-role-arn annotation (AccountNotMapped)"
        " instead of creating them in the operator's own account",
    )
    _option(
        run,
        "--assume-role-external-id",
        env="ASSUME_ROLE_EXTERNAL_ID",
        default="",
        help="sts:ExternalId sent with every AssumeRole into a mapped account; set it from a Secret (the variable),"
        " not on the command line",
    )
    _option(
        run,
        "--aws-rate-limits",
        env="AWS_RATE_LIMITS",
        type=_RATES,
        default="",
        help="request rates per account, region and operation overriding the defaults (AWS's quotas), e.g."
        " 'kms:CreateKey=5,ecr:*=20'; 'off': no client-side limit",
    )
    _option(
        run,
        "--aws-rate-limit-scale",
        env="AWS_RATE_LIMIT_SCALE",
        type=_SCALE,
        default="1",
        help="multiplies every request rate (e.g. 0.5 to leave half of each quota to other clients; default 1)",
    )
    _option(
        run,
        "--peering",
        env="PEERING",
        default=None,
        help="kopf peering name for active/standby replicas (needs kopf's peering CRDs)",
    )
    _option(
        run,
        "--peering-priority",
        env="PEERING_PRIORITY",
        type=_INT,
        default=None,
        help="the highest priority serves, the others stand by (default, or 0: random per process, because kopf"
        " pauses every replica that shares the highest priority)",
    )
    _option(
        run,
        "--peering-lifetime",
        env="PEERING_LIFETIME",
        type=_POSITIVE_INT,
        default="60",
        help="seconds a replica's peering record stays valid; a killed active replica is replaced after at most"
        " this long (default 60)",
    )
    _option(
        run,
        "--log-format",
        env="LOG_FORMAT",
        type=_choice(*LOG_FORMATS),
        choices=LOG_FORMATS,
        default="full",
        help="kopf's log format (default full; json in a cluster)",
    )
    _option(run, "-v", "--verbose", env="VERBOSE", action=_StoreTrue, default=None, help="debug logging")
    _option(
        run,
        "--liveness",
        env="LIVENESS",
        default=None,
        help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz (default: none)",
    )
    _option(
        run,
        "--metrics-port",
        env="METRICS_PORT",
        type=_INT,
        default="8081",
        help="port of /metrics (Prometheus) and /readyz (API server and AWS answer); 0: none (default 8081)",
    )
    _option(
        run,
        "--metrics-address",
        env="METRICS_ADDRESS",
        default="0.0.0.0",
        help="address /metrics and /readyz listen on (default 0.0.0.0)",
    )
    _option(
        run,
        "--readiness-interval",
        env="READINESS_INTERVAL",
        type=_POSITIVE_FLOAT,
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
    commands.add_parser("reasons", help="print every condition and Event reason, retried or not, as a table")
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


def _run(args: argparse.Namespace) -> int:
    # kopf imports the `kubernetes` client when it is installed (to accept its models as bodies), ~7-20 MiB the
    # operator never uses; the image does not install it, and a dev environment (where tests need it) must not
    # make the operator bigger than it is in the cluster. None in sys.modules makes `import kubernetes` fail.
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]
    import kopf

    from ecr_operator.core.kube import drop_managed_fields_from_watches
    from ecr_operator.runtime import probes
    from ecr_operator.runtime.handlers import Runtime, build_registry, build_settings
    from ecr_operator.runtime.probes import Readiness

    resync_seconds, inventory_seconds = intervals(args)
    settings = Settings(
        region=args.region,
        cluster_id=args.cluster_id,
        required_tags=args.required_tags,
        resync_seconds=resync_seconds,
        inventory_seconds=inventory_seconds,
        prices=Prices(args.storage_price_per_gb_month, args.kms_key_price_per_month),
        namespaces=() if args.all_namespaces else tuple(args.namespace or ()),
        max_workers=args.workers,
        repository_name_policy=args.repository_name_policy,
        adoption=args.adoption,
        account_mapping=args.account_mapping,
        require_account_mapping=args.require_account_mapping,
        manage_registries=not args.no_registries,
        assume_role_external_id=args.assume_role_external_id,
        aws_rate_limits=args.aws_rate_limits,
        aws_rate_limit_scale=args.aws_rate_limit_scale,
        events_queue_url=args.events_queue_url,
        events_fallback_seconds=args.events_fallback_interval,
    )
    log_format = {"plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}
    kopf.configure(verbose=args.verbose, log_format=log_format[args.log_format])
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger(__package__).info("settings: %s", settings)
    peering = args.peering or None
    kopf_settings = build_settings(peering, concurrency=2 * settings.max_workers)
    drop_managed_fields_from_watches()
    kopf_settings.peering.lifetime = args.peering_lifetime
    runtime = Runtime(settings, kopf_settings, readiness=Readiness(interval=args.readiness_interval))
    if args.metrics_port:
        probes.serve(runtime.readiness, args.metrics_address, args.metrics_port)
    kopf.run(
        registry=build_registry(settings),
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
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "reasons":
        from ecr_operator.core.reasons import markdown_table

        sys.stdout.write(markdown_table())
        return 0
    if args.command == "crd":
        from ecr_operator.core.crd import render_crd_yaml
        from ecr_operator.registry.crd import render_registry_crd_yaml

        kinds = {"EcrRepository": render_crd_yaml, "EcrRegistry": render_registry_crd_yaml}
        renders = list(kinds.values()) if args.kind == "all" else [kinds[args.kind]]
        sys.stdout.write("---\n".join(render() for render in renders))
        return 0
    if args.command == "plan":
        return plan_command.run(args, plan_command.plan_settings(args))
    if args.command == "report":
        return report_command.run(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
