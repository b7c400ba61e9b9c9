"""Options whose defaults come from ``ECR_OPERATOR_*`` variables: a bad variable is one line naming it, and a flag
that disagrees with its variable is an error naming both.

A variable's value is a string default, which argparse converts with the option's ``type`` like a command-line
value, lazily, only when the flag is absent (so ``--help`` works whatever the environment holds).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

ENV_PREFIX = "ECR_OPERATOR_"
T = TypeVar("T")

_FROM_ENV = " (from the environment)"
MAX_PORT = 65535
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class Parser(argparse.ArgumentParser):
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
                if isinstance(chosen, Parser):
                    _refuse_disagreements(chosen, parsed)
        return parsed, extras


class _EnvValue(str):
    """A default read from an environment variable, carrying the variable's name for the error message."""

    variable: str

    def __new__(cls, variable: str, value: str) -> _EnvValue:
        self = super().__new__(cls, value)
        self.variable = variable
        return self


def _comparable(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def _refuse_disagreements(parser: Parser, parsed: argparse.Namespace) -> None:
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


def checked(convert: Callable[[str], T], expected: str, ok: Callable[[T], bool] = lambda _: True) -> Callable[[str], T]:
    """An argparse ``type``: ``convert``, refused (naming ``expected``) when it raises ValueError or is not ``ok``."""

    def parse(value: str) -> T:
        try:
            result = convert(value)
            if not ok(result):
                raise ValueError(value)
            return result
        except ValueError as exc:
            where = f"{value.variable}={str(value)!r}{_FROM_ENV}" if isinstance(value, _EnvValue) else repr(value)
            raise argparse.ArgumentTypeError(f"{where}: expected {expected}") from exc

    return parse


def choice(*choices: str) -> Callable[[str], str]:
    return checked(str, f"one of {', '.join(choices)}", lambda value: value in choices)


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _address(value: str) -> str:
    """An IP address or a host name to listen on."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.match(value):
            raise ValueError(value) from None
    return value


def _http_url(value: str) -> str:
    """http://HOST[:PORT][/PATH] (kopf's liveness endpoint); urlsplit itself refuses a port above 65535."""
    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname or (parts.port is not None and parts.port < 1):
        raise ValueError(value)
    return value


INT = checked(int, "an integer")
POSITIVE_INT = checked(int, "a positive integer", lambda n: n > 0)
POSITIVE_SECONDS = checked(float, "a positive number of seconds", lambda x: x > 0)
POSITIVE_NUMBER = checked(float, "a positive number", lambda x: x > 0)
PRICE = checked(float, "a non-negative number of US dollars", lambda x: x >= 0)
BOOLEAN = checked(_boolean, "true or false")
CSV = checked(_csv, "a comma-separated list")
PORT_OR_NONE = checked(int, f"a port, 1-{MAX_PORT} (0: none)", lambda n: 0 <= n <= MAX_PORT)
ADDRESS = checked(_address, "an IP address or a host name")
LIVENESS_URL = checked(_http_url, f"an http:// URL with a host and a port 1-{MAX_PORT}")


class StoreTrue(argparse.Action):
    """``store_true`` whose default may come from the environment ("true"/"false", converted like a value)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        if kwargs.get("default") is None:
            kwargs["default"] = False
        super().__init__(option_strings, dest, nargs=0, type=BOOLEAN, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, *_: Any) -> None:
        setattr(namespace, self.dest, True)


class ExtendList(argparse.Action):
    """Like ``extend``, but the first flag replaces a default from the environment instead of extending it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, *_: Any) -> None:
        current = getattr(namespace, self.dest)
        setattr(namespace, self.dest, [*(current if isinstance(current, list) else ()), *values])


def option(
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
