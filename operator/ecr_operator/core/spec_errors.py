"""Errors of spec processing, all as InvalidSpec naming the field: what both kinds' manifest modules use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ecr_operator.core.errors import SpecError
from ecr_operator.core.reasons import Reason

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def judged(judge: Callable[[], T]) -> T:
    """``judge()``, with any error of spec processing reported as InvalidSpec.

    Every known bad input is refused by name where it is read (the model, ``core.documents``, a kind's checks). This is
    the net under them: a ValueError, TypeError or RecursionError that still escapes is a spec the operator cannot
    process, and must end as Ready=False with a Warning event and no hot retry, like any refused spec. Left to
    propagate, kopf would retry a traceback for ever while status kept its old Ready=True.
    """
    try:
        return judge()
    except (ValueError, TypeError, RecursionError) as exc:
        raise SpecError(Reason.INVALID_SPEC, f"spec: cannot be processed: {type(exc).__name__}: {exc}") from exc


def parse_spec_as(model: type[M], spec: Any) -> M:
    """A kind's spec model from the object's spec; SpecError (InvalidSpec, naming each field) when it is not one."""
    if not isinstance(spec, Mapping):
        raise SpecError(Reason.INVALID_SPEC, f"spec: must be an object, not {type(spec).__name__}")
    try:
        return model.model_validate(dict(spec))
    except ValidationError as exc:
        raise SpecError(Reason.INVALID_SPEC, validation_problems(exc)) from exc


def validation_problems(exc: ValidationError) -> str:
    """pydantic's errors, each naming its field (``spec.lifecycle.maxImageCount: ...``)."""
    return "; ".join(f"{'.'.join(['spec', *(str(p) for p in e['loc'])])}: {e['msg']}" for e in exc.errors())
