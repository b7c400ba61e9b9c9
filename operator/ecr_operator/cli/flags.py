"""Options whose defaults come from ``ECR_OPERATOR_*`` variables: the flag wins, and a bad variable is one line
naming it.

A variable's value is a string default, which argparse converts with the option's ``type`` like a command-line
value, lazily, only when the flag is absent (so ``--help`` works whatever the environment holds).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

ENV_PREFIX = "ECR_OPERATOR_"
T = TypeVar("T")

_FROM_ENV = " (from the environment)"


class Parser(argparse.ArgumentParser):
    """An error in an environment variable is one line naming it: the usage does not help there."""

    def error(self, message: str) -> NoReturn:
        if _FROM_ENV in message:
            self.exit(2, f"{self.prog}: error: {message}\n")
        super().error(message)


class _EnvValue(str):
    """A default read from an environment variable, carrying the variable's name for the error message."""

    variable: str

    def __new__(cls, variable: str, value: str) -> _EnvValue:
        self = super().__new__(cls, value)
        self.variable = variable
        return self


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


INT = checked(int, "an integer")
POSITIVE_INT = checked(int, "a positive integer", lambda n: n > 0)
POSITIVE_SECONDS = checked(float, "a positive number of seconds", lambda x: x > 0)
POSITIVE_NUMBER = checked(float, "a positive number", lambda x: x > 0)
PRICE = checked(float, "a non-negative number of US dollars", lambda x: x >= 0)
BOOLEAN = checked(_boolean, "true or false")
CSV = checked(_csv, "a comma-separated list")


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
