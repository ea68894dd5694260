"""The field reference of every kind (docs/resources/), rendered from the models themselves so it
cannot drift from what the loader accepts: every field with its type, default and accepted values,
every refused field and value with the reason. ``python -m rackroute.control.resources.reference
DIR`` writes the pages; a test checks the committed ones are current.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .kind_info import KindInfo
from .kinds import KINDS
from .values import OneOf, Refused

_TYPE_NAMES = {
    "parse_as_number": 'AS number (integer, decimal string or asdot "1.10")',
    "check_duration": 'duration (Go syntax: "90s", "9m0s", "1h30m")',
    "check_peer_address": "IP address with optional port (10.0.0.1:179, [fd00::1]:179)",
    "_check_ip": "IP address",
    "_check_cidr": "CIDR",
    "_check_cidr_or_ip": "CIDR or IP address",
    "check_community": "community (aa:nn or aa:nn:mm)",
    "check_metallb_community": "community (aa:nn or large:aa:nn:mm)",
    "check_address_range": "CIDR or address range (a-b)",
    "_strict_bool": "boolean",
    "_strict_int": "integer",
    "_strict_str": "string",
    "_ipv4_cluster_id": "cluster ID (IPv4 form)",
    "check_calico_selector": "Calico selector",
    "check_name": "name",
}


def _validator_name(metadata: Any) -> str | None:
    function = getattr(metadata, "func", None)
    return getattr(function, "__name__", None) if function is not None else None


def describe(annotation: Any) -> tuple[str, list[str], type[BaseModel] | None]:
    """(type text, notes, nested model) of a field annotation."""
    notes: list[str] = []
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        text, inner_notes, model = describe(base)
        for item in metadata:
            if isinstance(item, OneOf):
                text = "one of " + ", ".join(f"`{v}`" for v in item.supported)
                if item.refused:
                    notes.append(
                        "refused: " + ", ".join(f"`{v}`" for v in item.refused) + f" ({item.reason})"
                    )
            elif isinstance(item, Refused):
                harmless = [f"`{v!r}`" for v in item.harmless if v is not None]
                text = "**refused**"
                notes.append(
                    f"not supported: {item.reason}"
                    + (f" (accepted: {', '.join(harmless)})" if harmless else "")
                )
            elif (name := _validator_name(item)) in _TYPE_NAMES:
                text = _TYPE_NAMES[name]
        return text, inner_notes + notes, model
    if origin in (typing.Union, types.UnionType):
        parts = [describe(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(parts) == 1:
            return parts[0]
        return (
            " or ".join(p[0] for p in parts),
            [n for p in parts for n in p[1]],
            next((p[2] for p in parts if p[2]), None),
        )
    if origin in (list, tuple):
        text, notes, model = describe(typing.get_args(annotation)[0])
        return f"list of {text}", notes, model
    if origin is dict:
        return "map of string to " + describe(typing.get_args(annotation)[1])[0], [], None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"object ({annotation.__name__})", [], annotation
    if annotation is typing.Any:
        return "any", [], None
    if typing.get_origin(annotation) is typing.Literal:
        return " or ".join(f"`{v}`" for v in typing.get_args(annotation)), [], None
    name = getattr(annotation, "__name__", str(annotation))
    return {"str": "string", "int": "integer", "bool": "boolean", "float": "number"}.get(name, name), [], None


def _default(field: FieldInfo) -> str:
    if field.default is not PydanticUndefined and field.default is not None:
        value = field.default
        return f"`{str(value).lower() if isinstance(value, bool) else value}`"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return f"`{value}`" if value else ""
    return "" if not field.is_required() else "required"


def _constraints(field: FieldInfo) -> list[str]:
    found = []
    for item in field.metadata:
        for name, symbol in (
            ("ge", ">="),
            ("le", "<="),
            ("gt", ">"),
            ("lt", "<"),
            ("min_length", "at least"),
        ):
            value = getattr(item, name, None)
            if value is not None:
                found.append("not empty" if name == "min_length" and value == 1 else f"{symbol} {value}")
    return found


def field_rows(
    model: type[BaseModel], prefix: str = "", seen: frozenset[type] = frozenset()
) -> list[list[str]]:
    rows: list[list[str]] = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        # pydantic keeps a field's own Annotated metadata apart from its annotation
        annotation = (
            typing.Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        )
        text, notes, nested = describe(annotation)
        path = f"{prefix}{alias}"
        notes = [*_constraints(field), *notes]
        rows.append([f"`{path}`", text, _default(field), "; ".join(notes)])
        if nested is not None and nested not in seen:
            suffix = "[]." if text.startswith("list of") else "."
            rows.extend(field_rows(nested, path + suffix, seen | {nested}))
    if model.model_config.get("extra") == "allow":
        rows.append([f"`{prefix}*`", "any", "", "other fields of the Kubernetes schema are kept as written"])
    return rows


def rules_of(model: type[BaseModel], seen: frozenset[type] = frozenset()) -> list[str]:
    """The cross-field rules (``RULES``) of a model and the models of its fields."""
    found = list(getattr(model, "RULES", ()))
    for field in model.model_fields.values():
        annotation = (
            typing.Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        )
        nested = describe(annotation)[2]
        if nested is not None and nested not in seen:
            found.extend(rule for rule in rules_of(nested, seen | {model, nested}) if rule not in found)
    return found


def page(kind: KindInfo) -> str:
    model = kind.model
    names = ", ".join(f"`{n}`" for n in dict.fromkeys((*kind.names, kind.qualified_plural)))
    lines = [
        f"# {kind.kind} ({kind.api_version})",
        "",
        (model.__doc__ or kind.summary).strip().replace("\n    ", " "),
        "",
        f"- apiVersion: {', '.join(f'`{v}`' for v in kind.models)} (stored as `{kind.api_version}`)",
        f"- names on the command line: {names}",
        f"- scope: {'namespaced' if kind.namespaced else 'cluster'}; status: "
        + ("written by its owner" if kind.has_status and not kind.status_from_input else "")
        + ("copied from applied input (as the kubelet writes it)" if kind.status_from_input else "")
        + ("none" if not kind.has_status else ""),
    ]
    if kind.docs:
        lines.append(f"- field semantics: {kind.docs}")
    lines += [
        "",
        "Generated from the models (`python -m rackroute.control.resources.reference docs/resources`).",
        "",
    ]
    lines += ["| field | type | default | notes |", "|---|---|---|---|"]
    for row in field_rows(model):
        if row[0] in ("`apiVersion`", "`kind`"):
            continue
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    rules = rules_of(model)
    if rules:
        lines += ["", "## Rules", "", *(f"- {rule}" for rule in rules)]
    for version, older in list(kind.models.items())[1:]:
        lines += ["", f"## {version}", "", f"Read and stored as {kind.api_version}. Its fields:", ""]
        lines += ["| field | type | default | notes |", "|---|---|---|---|"]
        for row in field_rows(older):
            if row[0] not in ("`apiVersion`", "`kind`") and not row[0].startswith("`metadata"):
                lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    refused = [row for row in field_rows(model) if "not supported" in row[3] or "refused:" in row[3]]
    lines += ["", "## Refused", ""]
    if refused:
        lines += [f"- {row[0]}: {row[3]}" for row in refused]
    else:
        lines.append(
            "Nothing of this kind's schema is refused; an unknown field is an error naming the fields that exist."
        )
    return "\n".join(lines) + "\n"


def file_name(kind: KindInfo) -> str:
    return f"{kind.plural}.{kind.group or 'core'}.md"


def index() -> str:
    lines = [
        "# Resources",
        "",
        "Every kind rackroute stores, as `rackroute apply/get/delete` handle it (docs/cli.md). A field rackroute",
        "does not implement is refused by name, never ignored; see each page's *Refused* section. How YAML is",
        "read (YAML 1.2 scalars, tags, duplicate keys, errors with file and line): docs/resources/loading.md.",
        "",
        "| kind | apiVersion | names | scope | what |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        names = ", ".join(f"`{n}`" for n in (kind.plural, *kind.short_names))
        scope = "namespaced" if kind.namespaced else "cluster"
        versions = ", ".join(kind.models)
        lines.append(
            f"| [{kind.kind}]({file_name(kind)}) | {versions} | {names} | {scope} | {kind.summary} |"
        )
    return "\n".join(lines) + "\n"


def pages() -> dict[str, str]:
    return {"index.md": index(), **{file_name(kind): page(kind) for kind in KINDS}}


def main(argv: list[str]) -> None:
    directory = Path(argv[0] if argv else "docs/resources")
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        (directory / name).write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:])
