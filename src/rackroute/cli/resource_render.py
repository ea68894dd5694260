"""How ``rackroute get`` prints resources: kubectl's plain columns, YAML, JSON.

A table is NAME (NAMESPACE first with ``-A``), the kind's columns from the kinds table (more with
``-o wide``), AGE, padded with spaces as kubectl pads them. YAML and JSON print one document, or a
``kind: List`` of them as kubectl does, which ``rackroute apply -f`` reads back unchanged. YAML is
written so that every string reads back as a string under YAML 1.1 and 1.2 alike (``"1234:1"``,
``"yes"`` are quoted).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from rackroute.control.resources.kind_info import KindInfo


def age(timestamp: str | None, now: datetime | None = None) -> str:
    """kubectl's AGE: 45s, 12m, 5h, 3d (of an RFC 3339 creationTimestamp)."""
    if not timestamp:
        return "<unknown>"
    try:
        created = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = int(((now or datetime.now(UTC)) - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "d" else 1):
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _cell(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "<none>" if value is None or value == [] else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def row(kind: KindInfo, document: Mapping[str, Any], *, all_namespaces: bool, wide: bool) -> list[str]:
    """One resource's cells: NAMESPACE (with ``all_namespaces``), NAME, the kind's columns, AGE."""
    metadata = document.get("metadata") or {}
    columns = [*kind.columns, *(kind.wide_columns if wide else ())]
    cells = [metadata.get("namespace", "")] if all_namespaces else []
    cells.append(metadata.get("name", ""))
    cells.extend(_cell(read(document)) for _, read in columns)
    cells.append(age(metadata.get("creationTimestamp")))
    return cells


def table(kind: KindInfo, documents: Sequence[Mapping[str, Any]], *, all_namespaces: bool, wide: bool) -> str:
    columns = [*kind.columns, *(kind.wide_columns if wide else ())]
    header = (["NAMESPACE"] if all_namespaces else []) + ["NAME"] + [title for title, _ in columns] + ["AGE"]
    rows = [header] + [row(kind, d, all_namespaces=all_namespaces, wide=wide) for d in documents]
    widths = [max(len(cells[index]) for cells in rows) for index in range(len(header))]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        for cells in rows
    ]
    return "\n".join(lines)


def as_list(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(documents), "metadata": {"resourceVersion": ""}}


def to_yaml(value: Any) -> str:
    text: str = yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return text


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)
