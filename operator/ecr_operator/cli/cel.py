"""CEL as the Kubernetes API server evaluates it, for `plan --offline`: the CRDs' ``x-kubernetes-validations`` rules
and ValidatingAdmissionPolicy expressions.

The evaluator is cel-python (``celpy``, the optional extra ``ecr-operator[offline]``: the operator's image does not
need it). Standard CEL with its macros (``has``, ``all``, ``exists``, ``exists_one``, ``map``, ``filter``) and
``matches`` (RE2) is celpy's own. Of Kubernetes' CEL libraries, the functions of the strings extension are added
here (:data:`STRING_FUNCTIONS`); an expression calling any other (``quantity``, ``url``, ``isSorted``, the ``sets``
functions...) is reported as not evaluable by name, never passed: :func:`unsupported_functions` finds them, and a
test keeps every rule of our CRDs and policies evaluable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

try:
    import celpy
    import celpy.adapter
    import celpy.celtypes as celtypes
    import celpy.evaluation

    _AVAILABLE = True
except ImportError:  # the extra is not installed (the operator's image): plan --offline says how to install it
    _AVAILABLE = False

INSTALL_HINT = "plan --offline needs the CEL evaluator: pip install 'ecr-operator[offline]'"


class CelError(Exception):
    """An expression that does not compile or cannot be evaluated (the message says which and why)."""


def available() -> bool:
    return _AVAILABLE


def _split(text: Any, separator: Any, limit: Any = None) -> Any:
    if limit is None or int(limit) < 0:
        parts = str(text).split(str(separator)) if str(separator) else list(str(text))
    elif int(limit) == 0:
        parts = []
    else:
        parts = str(text).split(str(separator), int(limit) - 1)
    return celtypes.ListType([celtypes.StringType(part) for part in parts])


def _join(items: Any, separator: Any = "") -> Any:
    return celtypes.StringType(str(separator).join(str(item) for item in items))


def _index_of(text: Any, sub: Any, start: Any = 0) -> Any:
    return celtypes.IntType(str(text).find(str(sub), int(start)))


def _last_index_of(text: Any, sub: Any, end: Any = None) -> Any:
    return celtypes.IntType(str(text).rfind(str(sub), 0, None if end is None else int(end) + len(str(sub))))


def _substring(text: Any, start: Any, end: Any = None) -> Any:
    value = str(text)
    first, last = int(start), len(value) if end is None else int(end)
    if not 0 <= first <= last <= len(value):
        raise ValueError(f"substring({first}, {last}) out of range of a string of {len(value)} characters")
    return celtypes.StringType(value[first:last])


def _replace(text: Any, old: Any, new: Any, count: Any = -1) -> Any:
    return celtypes.StringType(str(text).replace(str(old), str(new), int(count)))


def _string(function: Callable[[str], str]) -> Callable[[Any], Any]:
    return lambda text: celtypes.StringType(function(str(text)))


STRING_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "split": _split,
    "join": _join,
    "trim": _string(str.strip),
    "lowerAscii": _string(lambda s: "".join(c.lower() if c.isascii() else c for c in s)),
    "upperAscii": _string(lambda s: "".join(c.upper() if c.isascii() else c for c in s)),
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "substring": _substring,
    "replace": _replace,
    "charAt": lambda text, i: celtypes.StringType(str(text)[int(i)] if int(i) < len(str(text)) else ""),
}
"""Kubernetes' strings extension (cel-go ext.Strings), the subset every rule of ours may use."""

KNOWN_FUNCTIONS = frozenset(
    {
        # standard CEL, evaluated by celpy
        "has", "all", "exists", "exists_one", "map", "filter", "size", "matches", "startsWith", "endsWith",
        "contains", "int", "uint", "double", "string", "bytes", "bool", "type", "dyn", "duration", "timestamp",
        "in",
        *STRING_FUNCTIONS,
    }
)  # fmt: skip
_CALL = re.compile(r"(?<![\w'\"])\.?([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def unsupported_functions(expression: str) -> list[str]:
    """Functions ``expression`` calls that this evaluator does not have (Kubernetes libraries beyond strings)."""
    without_strings = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", expression)
    return sorted({name for name in _CALL.findall(without_strings) if name not in KNOWN_FUNCTIONS})


class Evaluator:
    """Compiles each expression once; evaluates it over JSON values bound to names (``self``, ``object``...)."""

    def __init__(self) -> None:
        if not _AVAILABLE:
            raise CelError(INSTALL_HINT)
        self._environment = celpy.Environment()
        self._programs: dict[str, Any] = {}

    def _program(self, expression: str) -> Any:
        program = self._programs.get(expression)
        if program is None:
            missing = unsupported_functions(expression)
            if missing:
                raise CelError(f"uses {', '.join(missing)}, which plan --offline cannot evaluate")
            try:
                program = self._environment.program(self._environment.compile(expression), functions=STRING_FUNCTIONS)
            except Exception as exc:  # celpy raises its own parse errors, and lark's
                raise CelError(f"does not compile: {str(exc).strip().splitlines()[0]}") from exc
            self._programs[expression] = program
        return program

    def evaluate(self, expression: str, bindings: Mapping[str, Any]) -> Any:
        """The value of ``expression`` (a celpy value) with each binding's JSON value under its name."""
        program = self._program(expression)
        activation = {name: to_cel(value) for name, value in bindings.items()}
        try:
            return program.evaluate(activation)
        except Exception as exc:  # CELEvalError, or a function of ours refusing its arguments
            detail = exc.args[0] if exc.args else exc
            raise CelError(f"cannot be evaluated: {detail}") from exc

    @staticmethod
    def lazy_map(thunks: Mapping[str, Callable[[], Any]]) -> Any:
        """A CEL map whose entries are computed on first use (a policy's ``variables``: the API server evaluates
        one only when an expression reads it, so a variable that cannot be evaluated where it is not needed, e.g.
        one reading a field a matchCondition checked for, is no error)."""
        return _LazyMap(thunks)

    def evaluate_bound(self, expression: str, bindings: Mapping[str, Any]) -> Any:
        """Like :meth:`evaluate` with values already converted (:func:`to_cel`), e.g. a policy's variables."""
        program = self._program(expression)
        try:
            return program.evaluate(dict(bindings))
        except Exception as exc:
            detail = exc.args[0] if exc.args else exc
            raise CelError(f"cannot be evaluated: {detail}") from exc


def to_cel(value: Any) -> Any:
    """A JSON value as CEL sees it (celpy's types); values already converted pass through."""
    if isinstance(value, celtypes.MapType | celtypes.ListType | celtypes.StringType):
        return value
    return celpy.adapter.json_to_cel(value)


def is_true(value: Any) -> bool:
    return isinstance(value, celtypes.BoolType) and bool(value)


if _AVAILABLE:

    class _LazyMap(celtypes.MapType):
        def __init__(self, thunks: Mapping[str, Callable[[], Any]]) -> None:
            super().__init__({})
            self._thunks = dict(thunks)

        def __getitem__(self, key: Any) -> Any:
            name = str(key)
            if name in self._thunks:
                try:
                    computed = self._thunks.pop(name)()
                except CelError as error:  # an error value, as CEL's || and && absorb it: never an exception
                    computed = celpy.evaluation.CELEvalError(str(error))
                dict.__setitem__(self, celtypes.StringType(name), computed)
            return super().__getitem__(key)

        def __contains__(self, key: object) -> bool:
            return str(key) in self._thunks or dict.__contains__(self, key)
