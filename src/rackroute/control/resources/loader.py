"""Loading resources from files, directories or stdin: every document validated, every problem
reported with file, line, field path and reason (``peers.yaml:14: spec.asNumber: must be an AS
number (got "65x")``), nothing returned unless every document is valid.

The documents come from ``yaml_reader`` (scalars as written, lines kept); each is matched to the
kinds table by apiVersion and kind (an unknown one is an error listing the supported), validated by
its model, upgraded to the stored apiVersion (MetalLB BGPPeer v1beta1 -> v1beta2), and given the
namespace asked for (``-n``, else ``default``) when its kind is namespaced and it names none (one
naming another namespace than ``-n`` is an error, as in kubectl; so is a cluster-scoped kind naming a
namespace). One input defining one resource twice is an error too.
"""

from __future__ import annotations

import difflib
import re
import sys
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from pydantic import BaseModel, ValidationError

from ..store import Document, ResourceKey
from .base import Resource
from .kind_info import KindInfo
from .kinds import KINDS, KindTable, UnknownKind
from .yaml_reader import LoadError, Path, Problem, RawDocument, dotted, read_documents

__all__ = [
    "LoadError",
    "LoadedResource",
    "Problem",
    "load_documents",
    "load_paths",
    "load_text",
    "read_sources",
]

SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class LoadedResource:
    raw: RawDocument
    kind: KindInfo
    resource: Resource  # of the stored apiVersion

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.kind.group, self.kind.kind, self.resource.namespace, self.resource.name)

    @property
    def document(self) -> Document:
        return self.resource.to_document()

    @property
    def where(self) -> str:
        return f"{self.raw.source}:{self.raw.line}"


def _describe(raw: RawDocument) -> str:
    content = raw.content if isinstance(raw.content, dict) else {}
    metadata = content.get("metadata") if isinstance(content.get("metadata"), dict) else {}
    name = metadata.get("name") if metadata else None
    kind = content.get("kind")
    what = f"{kind} {name}, " if kind and name else (f"{kind}, " if kind else "")
    return f"{what}document {raw.index} at line {raw.line}"


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``X | None``, ``list[X]``, ``Annotated[X, ...]``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        for argument in typing.get_args(annotation):
            found = _unwrap(argument)
            if found is not None:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _model_at(model: type[BaseModel] | None, path: Path) -> type[BaseModel] | None:
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        match = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        model = _unwrap(match.annotation) if match is not None else None
    return model


def _field_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _clean_loc(raw: RawDocument, loc: Sequence[Any]) -> Path:
    """The error's location as a path into the document (pydantic adds union member names)."""
    path: list[str | int] = []
    node = raw.content
    for part in loc:
        present = isinstance(node, dict) and part in node
        if present or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not re.search(r"[\[\]\- ]", part):
            path.append(part)  # a missing field: name it
            node = None
    return tuple(path)


def _parse_at(text: str) -> Path:
    path: list[str | int] = []
    for part in text.split("."):
        name, _, rest = part.partition("[")
        if name:
            path.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            path.append(int(index))
            rest = rest.lstrip("[")
    return tuple(path)


def _reason(error: Any, model: type[Resource], path: Path) -> str:
    kind, message = str(error["type"]), str(error["msg"])
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        parent = _model_at(model, path[:-1])
        if parent is None:
            return "unknown field"
        names = _field_names(parent)
        close = difflib.get_close_matches(str(path[-1]), names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return f"unknown field ({hint}fields here: {', '.join(names)})"
    if message.startswith("Value error, "):
        return message[len("Value error, ") :]
    value = error.get("input")
    got = f'"{value}"' if isinstance(value, str) else repr(value)
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a mapping of fields (got {got})"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list (got {got})"
    if kind == "too_short":
        return "must not be empty"
    if message.startswith("Input should be "):
        return f"must be {message[len('Input should be ') :]} (got {got})"
    return message


def _merged(problems: list[Problem]) -> list[Problem]:
    """One problem per field: the alternatives of a union (``targetPort``: integer or string) are
    said together ("must be an integer or a string (got [1])")."""
    merged: dict[tuple[int, str], Problem] = {}
    for problem in problems:
        key = (problem.line, problem.path)
        earlier = merged.get(key)
        if earlier is None:
            merged[key] = problem
            continue
        first, _, got = earlier.reason.partition(" (got ")
        second, _, other = problem.reason.partition(" (got ")
        if got and got == other and first.startswith("must be ") and second.startswith("must be "):
            reason = f"{first} or {second[len('must be ') :]} (got {got}"
        else:
            reason = f"{earlier.reason}; {problem.reason}"
        merged[key] = Problem(earlier.source, earlier.line, earlier.path, reason, earlier.context)
    return list(merged.values())


def problems_of(error: ValidationError, raw: RawDocument, model: type[Resource]) -> list[Problem]:
    problems = []
    for item in error.errors():
        path = _clean_loc(raw, item["loc"])
        at = (item.get("ctx") or {}).get("at")
        if at:  # a model validator's error about one of its fields
            path = (*path, *_parse_at(at))
        problems.append(
            Problem(raw.source, raw.line_of(path), dotted(path), _reason(item, model, path), _describe(raw))
        )
    return sorted(_merged(problems), key=lambda problem: problem.line)


def validate_document(
    raw: RawDocument, *, kinds: KindTable = KINDS, namespace: str | None = None
) -> LoadedResource:
    """The resource a raw document describes; ``LoadError`` with every problem found in it."""
    content = raw.content

    def fail(path: Path, reason: str) -> LoadError:
        return LoadError([Problem(raw.source, raw.line_of(path), dotted(path), reason, _describe(raw))])

    if not isinstance(content, dict):
        raise fail((), "a resource document must be a mapping with apiVersion, kind, metadata and spec")
    api_version, kind_name = content.get("apiVersion"), content.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind_name, str):
        missing = "apiVersion" if not isinstance(api_version, str) else "kind"
        raise fail((missing,), f"required (supported: {kinds.supported_text()})")
    try:
        kind, model = kinds.for_document(api_version, kind_name)
    except UnknownKind as error:
        raise fail(("kind",) if "unknown kind" in str(error) else ("apiVersion",), str(error)) from None
    metadata = content.get("metadata")
    if isinstance(metadata, dict):
        written = metadata.get("namespace")
        if kind.namespaced and not written:
            content = {**content, "metadata": {**metadata, "namespace": namespace or DEFAULT_NAMESPACE}}
        elif kind.namespaced and namespace is not None and written != namespace:
            raise fail(
                ("metadata", "namespace"),
                f"the document's namespace {written!r} is not the one asked for (-n {namespace}): "
                "remove one of them",
            )
        elif not kind.namespaced and metadata.get("namespace"):
            raise fail(
                ("metadata", "namespace"),
                f"{kind.kind} ({kind.api_version}) is cluster-scoped: remove namespace",
            )
    if isinstance(content.get("spec", {}), type(None)):
        content = {key: value for key, value in content.items() if key != "spec"}  # `spec:` left empty
    try:
        resource = model.from_document(content)
    except ValidationError as error:
        raise LoadError(problems_of(error, raw, model)) from None
    if kind.upgrade is not None:
        resource = kind.upgrade(resource)
    return LoadedResource(raw, kind, resource)


def load_documents(
    raws: Iterable[RawDocument], *, kinds: KindTable = KINDS, namespace: str | None = None
) -> list[LoadedResource]:
    """Every document validated; ``LoadError`` with the problems of all of them when any fails."""
    loaded: list[LoadedResource] = []
    problems: list[Problem] = []
    seen: dict[ResourceKey, LoadedResource] = {}
    for raw in raws:
        try:
            resource = validate_document(raw, kinds=kinds, namespace=namespace)
        except LoadError as error:
            problems.extend(error.problems)
            continue
        earlier = seen.get(resource.key)
        if earlier is not None:
            problems.append(
                Problem(
                    raw.source,
                    raw.line,
                    "metadata.name",
                    f"{resource.key} is also defined at {earlier.where}",
                    _describe(raw),
                )
            )
            continue
        seen[resource.key] = resource
        loaded.append(resource)
    if problems:
        raise LoadError(problems)
    return loaded


def files_of(path: FilePath, *, recursive: bool = False) -> list[FilePath]:
    """A file, or a directory's .yaml/.yml/.json files in name order (``recursive``: subdirectories too)."""
    if not path.is_dir():
        return [path]
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix in SUFFIXES)


def read_sources(
    paths: Sequence[str], *, recursive: bool = False, stdin: typing.TextIO | None = None
) -> list[RawDocument]:
    """The raw documents of ``paths`` (``-`` is stdin); ``LoadError`` for unreadable files and syntax."""
    raws: list[RawDocument] = []
    problems: list[Problem] = []
    for name in paths:
        sources: list[tuple[str, str]] = []
        if name == "-":
            sources.append(("<stdin>", (stdin or sys.stdin).read()))
        else:
            path = FilePath(name)
            if not path.exists():
                problems.append(Problem(name, 0, "", "no such file or directory"))
                continue
            for file in files_of(path, recursive=recursive):
                try:
                    sources.append((str(file), file.read_text(encoding="utf-8")))
                except (OSError, UnicodeDecodeError) as error:
                    problems.append(Problem(str(file), 0, "", f"cannot read: {error}"))
            if path.is_dir() and not sources:
                problems.append(Problem(name, 0, "", "no .yaml, .yml or .json file in this directory"))
        for source, text in sources:
            try:
                raws.extend(read_documents(text, source))
            except LoadError as error:
                problems.extend(error.problems)
    if problems:
        raise LoadError(problems)
    return raws


def load_paths(
    paths: Sequence[str],
    *,
    recursive: bool = False,
    namespace: str | None = None,
    stdin: typing.TextIO | None = None,
    kinds: KindTable = KINDS,
) -> list[LoadedResource]:
    return load_documents(
        read_sources(paths, recursive=recursive, stdin=stdin), kinds=kinds, namespace=namespace
    )


def load_text(
    text: str, source: str = "<text>", *, namespace: str | None = None, kinds: KindTable = KINDS
) -> list[LoadedResource]:
    return load_documents(read_documents(text, source), kinds=kinds, namespace=namespace)
