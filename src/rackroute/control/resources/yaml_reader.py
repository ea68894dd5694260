"""Reading YAML (and JSON) documents as written, with the line of every field.

PyYAML implements YAML 1.1, whose implicit types are traps for network configuration: ``1234:1``
(a BGP community) is the sexagesimal integer 74041, ``yes``/``no``/``on``/``off`` are booleans,
``010`` is 8. This reader resolves plain scalars by the YAML 1.2 core schema instead (null, true/false,
decimal/0o/0x integers, floats; everything else a string) and keeps a plain scalar with a leading
zero (``010``) as text, since YAML 1.1 and 1.2 disagree on it. Explicit standard tags (``!!str``,
``!!int``...) are honoured. Any other tag is refused: an unquoted ``nodeSelector: !has(x)`` is the
YAML tag ``!has(x)`` on an empty value (calicoctl once dropped it silently and the peer became
global), so the error says how to quote it. Duplicate keys and YAML 1.1 merge keys (``<<``) are
refused rather than resolved silently.

``read_documents(text, source)`` returns one ``RawDocument`` per YAML document (a ``kind: List``
is expanded into its items), each with ``lines``: field path -> line (1-based).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

_PLAIN = "rackroute:plain"  # the tag the reader gives plain scalars before resolving them
_NULL = re.compile(r"~|null|Null|NULL|")
_TRUE = re.compile(r"true|True|TRUE")
_FALSE = re.compile(r"false|False|FALSE")
_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_OCTAL = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INFINITY = re.compile(r"[-+]?(\.inf|\.Inf|\.INF)")
_NAN = re.compile(r"\.nan|\.NaN|\.NAN")
_STANDARD = "tag:yaml.org,2002:"


@dataclass(frozen=True, slots=True)
class Problem:
    """One error in the input: ``source:line: path: reason``."""

    source: str
    line: int
    path: str
    reason: str
    context: str = ""  # which document: "BGPPeer rack1-tor, document 2 at line 9"

    @property
    def headline(self) -> str:
        """``source:line: path: reason`` without the document's context."""
        where = f"{self.path}: " if self.path else ""
        return f"{self.source}:{self.line}: {where}{self.reason}"

    def __str__(self) -> str:
        return f"{self.headline} ({self.context})" if self.context else self.headline


class LoadError(Exception):
    """Every problem found in the input (nothing of it may be written)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class RawDocument:
    source: str
    index: int  # 1-based position in its source
    line: int  # where the document starts
    content: Any  # dict for a resource; anything else is an error for the validator
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """The line of the deepest part of ``path`` that is in the input (the document's line else)."""
        for length in range(len(path), 0, -1):
            line = self.lines.get(path[:length])
            if line is not None:
                return line
        return self.line


# libyaml's parser when PyYAML has it (about 10x faster); both call ``resolve`` for every scalar.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]
    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)


def _plain(value: str) -> Any:
    """A plain scalar by the YAML 1.2 core schema (leading-zero numbers stay text)."""
    if _NULL.fullmatch(value):
        return None
    if _TRUE.fullmatch(value):
        return True
    if _FALSE.fullmatch(value):
        return False
    if _INT.fullmatch(value):
        return int(value)
    if _OCTAL.fullmatch(value):
        return int(value[2:], 8)
    if _HEX.fullmatch(value):
        return int(value[2:], 16)
    if re.fullmatch(r"[-+]?0[0-9]+", value):
        return value
    if _FLOAT.fullmatch(value) and any(c.isdigit() for c in value):
        return float(value)
    if _INFINITY.fullmatch(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.fullmatch(value):
        return float("nan")
    return value


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path, int] = {}
        self.problems: list[Problem] = []

    def problem(self, node: yaml.Node, path: Path, reason: str) -> None:
        self.problems.append(Problem(self.source, node.start_mark.line + 1, dotted(path), reason))

    def build(self, node: yaml.Node, path: Path) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index)))
            return items
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "a key must be a plain name")
                continue
            key = key_node.value
            if key == "<<" and key_node.tag in (_PLAIN, _STANDARD + "merge"):
                self.problem(key_node, path, "YAML merge keys (<<) are not supported: write the fields out")
                continue
            if key in result:
                self.problem(
                    key_node, (*path, key), "duplicate key (YAML keeps only one of them: remove the other)"
                )
                continue
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*path, key))
        return result

    def scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        tag, value = node.tag, node.value
        if tag == _PLAIN:
            return _plain(value)
        if tag == _STANDARD + "str":
            return value
        if tag in (_STANDARD + "int", _STANDARD + "float", _STANDARD + "bool", _STANDARD + "null"):
            resolved = _plain(value)
            wanted: type = {"int": int, "float": float, "bool": bool, "null": type(None)}[
                tag.rpartition(":")[2]
            ]
            if wanted is float and type(resolved) is int:
                return float(resolved)
            if type(resolved) is wanted:
                return resolved
            self.problem(node, path, f"{value!r} is not a valid {tag.rpartition(':')[2]}")
            return None
        written = f"{tag} {value}".strip() if value else tag
        self.problem(
            node,
            path,
            f"{tag!r} is a YAML tag, not part of the value: a value starting with '!' must be quoted, "
            f'e.g. {path[-1] if path else "value"}: "{written}"',
        )
        return written


def dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def read_documents(text: str, source: str) -> list[RawDocument]:
    """Every document of a YAML or JSON text; ``LoadError`` lists syntax problems with their lines."""
    documents: list[RawDocument] = []
    problems: list[Problem] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        reason = f"YAML syntax: {error.problem or error.context}"
        snippet = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
        if re.search(r":\s*!", snippet):
            reason += "; a value starting with '!' (a selector like !has(x)) must be quoted: \"!has(x)\""
        raise LoadError([Problem(source, line, "", reason)]) from None
    except yaml.YAMLError as error:
        raise LoadError([Problem(source, 1, "", f"YAML: {error}")]) from None
    for node in nodes:
        if node is None:
            continue
        builder = _Builder(source)
        content = builder.build(node, ())
        problems.extend(builder.problems)
        line = node.start_mark.line + 1
        if (
            isinstance(content, dict)
            and content.get("kind") == "List"
            and isinstance(content.get("items"), list)
        ):
            for index, item in enumerate(content["items"]):
                prefix: Path = ("items", index)
                lines = {p[2:]: n for p, n in builder.lines.items() if p[:2] == prefix and len(p) > 2}
                item_line = builder.lines.get(prefix, line)
                documents.append(RawDocument(source, len(documents) + 1, item_line, item, lines))
            continue
        if content is None:  # an empty document between two ---
            continue
        documents.append(RawDocument(source, len(documents) + 1, line, content, builder.lines))
    if problems:
        raise LoadError(problems)
    return documents
