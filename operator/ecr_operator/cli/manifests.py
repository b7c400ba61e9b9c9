"""Reading manifests for the CLI: files, directories and standard input, each document checked for the shape of a
Kubernetes object before anything looks inside it.

A problem is a :class:`ManifestError`: one line naming the document (file, its position in a multi-document stream
or a List) and the field, never a traceback. The API's own kinds are told apart from typos (an unknown kind or
version of ``ecr.platform.dev`` is an error); objects of other APIs are the caller's to skip.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from ecr_operator.core.api import GROUP, VERSION
from ecr_operator.registry.spec import REGISTRY_KIND
from ecr_operator.repository.spec import KIND

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it (ten times faster on a repository of manifests), else PyYAML's."""
MAX_ALIASED_VALUES = 100_000
"""How many values YAML aliases may add to a document when expanded: a few anchors of nine aliases each, nested,
would otherwise expand to billions of values ("billion laughs") and exhaust memory and time."""
OUR_KINDS = (KIND, REGISTRY_KIND)
OUR_API_VERSION = f"{GROUP}/{VERSION}"


class ManifestError(Exception):
    """A document that cannot be judged: ``<where>: <field>: <problem>``."""

    def __init__(self, where: str, field: str, problem: str) -> None:
        self.where, self.field, self.problem = where, field, problem
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


@dataclass(frozen=True)
class Document:
    """One Kubernetes object of the input, with where it was found (for messages)."""

    where: str
    body: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def api_version(self) -> str:
        return str(self.body["apiVersion"])

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.body.get("metadata") or {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def namespace(self) -> str | None:
        namespace = self.metadata.get("namespace")
        return str(namespace) if namespace else None

    @property
    def ours(self) -> bool:
        """An object of this operator's API (``ecr.platform.dev``), checked by :func:`check_object`."""
        return self.api_version.split("/")[0] == GROUP


def describe(value: Any) -> str:
    """A value's type as YAML calls it, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) <= 40 else "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def texts(sources: Sequence[str], stdin: TextIO) -> Iterator[tuple[str, str]]:
    """(name, text) of every source: ``-`` is standard input, a directory its manifest files (recursively)."""
    for source in sources:
        if source == "-":
            yield "<stdin>", stdin.read()
            continue
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
        elif path.exists():
            files = [path]
        else:
            raise ManifestError(source, "", "no such file or directory")
        for file in files:
            try:
                yield str(file), file.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise ManifestError(str(file), "", f"not UTF-8 text (byte {exc.start})") from exc
            except OSError as exc:
                raise ManifestError(str(file), "", f"cannot be read: {exc.strerror or exc}") from exc


def parse_stream(name: str, text: str) -> list[tuple[str, Any]]:
    """(where, value) of each non-empty YAML (or JSON) document of ``text``; a syntax error names its position."""
    try:
        loaded = list(yaml.load_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise ManifestError(name, "", f"not valid YAML{where}: {exc.problem or exc.context}") from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise ManifestError(name, "", f"not valid YAML: {exc}") from exc
    except ValueError as exc:  # a value PyYAML cannot construct: an integer of over 4300 digits, a 13th month
        cause = str(exc).split("; use sys.set_int_max_str_digits", 1)[0]
        raise ManifestError(name, "", f"not valid YAML: a value cannot be read: {cause}") from exc
    for index, document in enumerate(loaded):
        problem = aliasing_problem(document)
        if problem is not None:
            raise ManifestError(name if len(loaded) == 1 else f"{name} (document {index + 1})", "", problem)
    documents = [d for d in loaded if d is not None]
    if len(loaded) == 1:
        return [(name, d) for d in documents]
    return [(f"{name} (document {i + 1})", d) for i, d in enumerate(loaded) if d is not None]


def aliasing_problem(document: Any) -> str | None:
    """Why a loaded document's aliases make it unusable, or None: an alias inside the node it names (a value that
    contains itself), or aliases adding more than MAX_ALIASED_VALUES values once expanded. Each node is counted
    once (memoized), so the check is linear in the document's text."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    written = 0  # values as written: each container and scalar once
    stack: list[tuple[Any, bool]] = [(document, False)]
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, dict | list) or (id(node) in sizes and not children_done):
            continue
        children = list(node.values()) if isinstance(node, dict) else node
        if children_done:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] if isinstance(c, dict | list) else 1 for c in children)
            written += 1 + sum(1 for c in children if not isinstance(c, dict | list))
            continue
        if id(node) in open_nodes:
            return "a YAML alias refers to a node that contains it (a value that contains itself)"
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if isinstance(child, dict | list) and id(child) in open_nodes:
                return "a YAML alias refers to a node that contains it (a value that contains itself)"
            stack.append((child, False))
    expanded = sizes.get(id(document), 1)
    if expanded - max(written, 1) > MAX_ALIASED_VALUES:
        return (
            f"its YAML aliases expand it to {expanded} values; at most {MAX_ALIASED_VALUES} values may come from "
            "aliases (write the values out, or use fewer aliases of aliases)"
        )
    return None


def objects(where: str, value: Any) -> Iterator[Document | ManifestError]:
    """The objects of one document: itself, or each item of a List (``kind: List``, ``EcrRepositoryList``...),
    or the error that makes one unusable (a bad item does not hide the others)."""
    try:
        check_envelope(where, value)
        items = value.get("items")
        if not (str(value["kind"]).endswith("List") and "items" in value):
            yield check_object(Document(where, value))
            return
        if items is not None and not isinstance(items, list):
            raise ManifestError(where, "items", f"must be a list of objects, not {describe(items)}")
    except ManifestError as error:
        yield error
        return
    for index, item in enumerate(items or ()):
        try:
            check_envelope(f"{where}: items[{index}]", item)
            yield check_object(Document(f"{where}: items[{index}]", item))
        except ManifestError as error:
            yield error


def check_envelope(where: str, value: Any) -> None:
    """A Kubernetes object: a mapping with the strings apiVersion and kind."""
    if not isinstance(value, Mapping):
        raise ManifestError(
            where, "", f"not a Kubernetes object (a mapping with apiVersion and kind): {describe(value)}"
        )
    for field in ("apiVersion", "kind"):
        if field not in value:
            raise ManifestError(where, field, "missing: not a Kubernetes object")
        if not isinstance(value[field], str) or not value[field].strip():
            raise ManifestError(where, field, f"must be a non-empty string, not {describe(value[field])}")


def check_object(document: Document) -> Document:
    """metadata's shape (what any API server refuses to decode), and for this API: a kind and version it serves."""
    where, body = document.where, document.body
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ManifestError(where, "metadata", f"must be an object, not {describe(metadata)}")
    metadata = metadata or {}
    for field in ("name", "namespace", "generateName"):
        if field in metadata and not isinstance(metadata[field], str):
            raise ManifestError(where, f"metadata.{field}", f"must be a string, not {describe(metadata[field])}")
    for field in ("labels", "annotations"):
        entries = metadata.get(field)
        if entries is None:
            continue
        if not isinstance(entries, Mapping):
            raise ManifestError(where, f"metadata.{field}", f"must be an object, not {describe(entries)}")
        for key, entry in entries.items():
            if not isinstance(entry, str):
                raise ManifestError(where, f"metadata.{field}.{key}", f"must be a string, not {describe(entry)}")
    if not document.ours:
        return document
    if document.api_version != OUR_API_VERSION:
        raise ManifestError(where, "apiVersion", f"{document.api_version!r} is not served: use {OUR_API_VERSION}")
    if document.kind not in OUR_KINDS:
        raise ManifestError(
            where, "kind", f"unknown kind {document.kind!r} of {GROUP} (it serves {' and '.join(OUR_KINDS)})"
        )
    if not metadata.get("name"):
        raise ManifestError(where, "metadata.name", "missing: every object needs a name")
    return document


@dataclass
class Reading:
    """Every object found in the input, and every document that could not be read as one."""

    documents: list[Document]
    errors: list[ManifestError]


def read(sources: Sequence[str], stdin: TextIO) -> Reading:
    """Each source and document on its own: one bad document is reported, the others are still read."""
    reading = Reading([], [])
    try:
        streams = list(texts(sources, stdin))
    except ManifestError as error:
        reading.errors.append(error)
        return reading
    for name, text in streams:
        try:
            parsed = parse_stream(name, text)
        except ManifestError as error:
            reading.errors.append(error)
            continue
        for where, value in parsed:
            for found in objects(where, value):
                if isinstance(found, ManifestError):
                    reading.errors.append(found)
                else:
                    reading.documents.append(found)
    return reading
