"""Bad input never crashes the loader: whatever the text, it loads or raises LoadError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rackroute.control.resources.kinds import KINDS
from rackroute.control.resources.loader import LoadError, load_text

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "",
            "yes",
            "10.0.0.0/8",
            "10.0.0.1:179",
            "[fd00::1]:179",
            "1234:1",
            "9m0s",
            "all()",
            "!has(x)",
            "65x",
        ]
    ),
    st.text(max_size=12),
)
FIELD_NAMES = st.sampled_from(
    [
        "spec",
        "metadata",
        "name",
        "namespace",
        "labels",
        "cidr",
        "peerIP",
        "asNumber",
        "nodeSelector",
        "peerSelector",
        "node",
        "addresses",
        "myASN",
        "peerASN",
        "peerAddress",
        "password",
        "passwordSecret",
        "exportV4",
        "action",
        "communities",
        "value",
        "endpoints",
        "status",
        "blockSize",
        "ipipMode",
        "holdTime",
        "items",
        "x",
    ]
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(FIELD_NAMES, inner, max_size=4),
    max_leaves=12,
)
HEADERS = st.sampled_from([(version, row.kind) for row in KINDS for version in row.models])


@settings(max_examples=300, deadline=None)
@given(
    HEADERS,
    st.dictionaries(FIELD_NAMES, VALUES, max_size=5),
    st.dictionaries(FIELD_NAMES, VALUES, max_size=3),
)
def test_any_document_of_a_known_kind_loads_or_is_a_load_error(
    header: tuple[str, str], spec: dict[str, Any], metadata: dict[str, Any]
) -> None:
    document = {
        "apiVersion": header[0],
        "kind": header[1],
        "metadata": {"name": "x", **metadata},
        "spec": spec,
        **spec,
    }
    try:
        load_text(json.dumps(document), "fuzz.json")
    except LoadError as error:
        assert all(problem.source == "fuzz.json" and problem.line >= 1 for problem in error.problems)


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("apiVersion: kind-\n\t {}[]!&*|>'\"#%@`,?0123456789.:/")), max_size=80
    )
)
def test_any_text_loads_or_is_a_load_error(text: str) -> None:
    try:
        load_text("apiVersion: v1\nkind: Node\nmetadata: {name: n}\n---\n" + text, "fuzz.yaml")
    except LoadError as error:
        assert all(problem.source == "fuzz.yaml" and problem.line >= 1 for problem in error.problems)
