"""Calico selectors, Kubernetes label selectors and kubectl's -l text: parsed once, evaluated purely.

Calico's selector semantics: https://docs.tigera.io/calico/latest/reference/resources/networkpolicy#selectors
Kubernetes' label selectors: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from rackroute.control.selectors import (
    All,
    And,
    Compare,
    Global,
    Has,
    InSet,
    LabelSelector,
    Not,
    Or,
    Selector,
    SelectorError,
    matches,
    parse_label_query,
    parse_selector,
)

RACK1 = {"rack": "r1", "role": "worker", "kubernetes.io/hostname": "node-1a"}


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("rack == 'r1'", True),
        ('rack == "r1"', True),  # Calico's docs use both quotes (rack == "0")
        ("rack == 'r2'", False),
        ("rack != 'r2'", True),
        ("zone != 'z1'", True),  # != also matches a resource without the label
        ("has(rack)", True),
        ("has(zone)", False),
        ("!has(zone)", True),
        ("! has(rack)", False),
        ("rack == 'r1' && role == 'worker'", True),
        ("rack == 'r1' && role == 'edge'", False),
        ("rack == 'r2' || role == 'worker'", True),
        ("!(rack == 'r2' || role == 'edge')", True),
        ("(rack == 'r2' || rack == 'r1') && has(role)", True),
        ("rack in {'r1', 'r2'}", True),
        ("rack in {'r3'}", False),
        ("rack in {}", False),
        ("rack not in {'r3'}", True),
        ("zone not in {'z1'}", True),  # not in matches a missing label, as !=
        ("all()", True),
        ("", True),  # the empty selector selects everything
        ("global()", True),  # a node is not namespaced
        ("kubernetes.io/hostname contains '1a'", True),
        ("kubernetes.io/hostname starts with 'node-'", True),
        ("kubernetes.io/hostname ends with '-1a'", True),
        ("kubernetes.io/hostname ends with '-2b'", False),
        ("zone contains 'z'", False),  # contains needs the label
        ("rack == 'r1' && role == 'worker' || has(zone)", True),
        ("has(zone) || rack == 'r1' && role == 'edge'", False),  # && binds tighter than ||
    ],
)
def test_calico_selector_evaluation(text: str, selected: bool) -> None:
    assert matches(parse_selector(text), RACK1) is selected


def test_global_does_not_match_namespaced_resources() -> None:
    assert matches(parse_selector("global()"), {}, namespaced=True) is False
    assert matches(parse_selector("!global()"), {}, namespaced=True) is True


def test_selector_parses_into_a_typed_tree() -> None:
    tree = parse_selector("rack in {'r1','r2'} && !has(edge) || all()")
    assert tree == Or((And((InSet("rack", frozenset({"r1", "r2"})), Not(Has("edge")))), All()))


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("rack = 'r1'", 6, "unexpected character '='"),
        ("rack == r1", 9, "expected a quoted string"),
        ("has(rack", 9, "expected ')'"),
        ("rack in {'a' 'b'}", 14, "expected ',' or '}'"),
        ("rack == 'r1' &&", 16, "expected a label"),
        ("rack == 'r1' & role == 'x'", 14, "unexpected character '&'"),
        ("(rack == 'r1'", 14, "expected ')'"),
        ("rack == 'r1)", 9, "unterminated string"),
        ("rack starts 'r'", 13, "expected 'with'"),
        ("rack", 5, "expected ==, !=, in"),
        ("rack == 'r1' rack", 14, "expected &&, || or the end"),
    ],
)
def test_selector_errors_name_the_column(text: str, column: int, reason: str) -> None:
    with pytest.raises(SelectorError) as raised:
        parse_selector(text)
    assert raised.value.column == column
    assert reason in raised.value.reason
    assert f"at column {column}" in str(raised.value)


# -- properties ----------------------------------------------------------------------------------

LABEL_NAMES = st.sampled_from(["rack", "role", "zone", "kubernetes.io/hostname", "a_b", "x-1"])
VALUES = st.sampled_from(["r1", "r2", "", "worker", "it's", "node-1a"])


def selectors() -> st.SearchStrategy[Selector]:
    leaves = st.one_of(
        st.just(All()),
        st.just(Global()),
        LABEL_NAMES.map(Has),
        st.builds(
            Compare,
            LABEL_NAMES,
            st.sampled_from(["==", "!=", "contains", "starts with", "ends with"]),
            VALUES,
        ),
        st.builds(InSet, LABEL_NAMES, st.frozensets(VALUES, max_size=3), st.booleans()),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            inner.map(Not),
            st.lists(inner, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
            st.lists(inner, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
        ),
        max_leaves=8,
    )


LABEL_MAPS = st.dictionaries(LABEL_NAMES, VALUES, max_size=4)


@given(selectors(), LABEL_MAPS, st.booleans())
def test_rendered_selector_parses_back_to_the_same_meaning(
    tree: Selector, labels: dict[str, str], namespaced: bool
) -> None:
    reparsed = parse_selector(str(tree))
    assert matches(reparsed, labels, namespaced=namespaced) == matches(tree, labels, namespaced=namespaced)
    assert str(parse_selector(str(reparsed))) == str(reparsed)  # the rendering is canonical


@given(selectors(), LABEL_MAPS)
def test_negation_inverts_every_selector(tree: Selector, labels: dict[str, str]) -> None:
    assert matches(Not(tree), labels) is not matches(tree, labels)


@given(st.text(alphabet="rack=!&|(){}'\", inhsaltw_.-/01", max_size=40))
def test_any_text_parses_or_raises_a_selector_error(text: str) -> None:
    try:
        tree = parse_selector(text)
    except SelectorError as error:
        assert 1 <= error.column <= len(text) + 1
    else:
        matches(tree, RACK1)


# -- Kubernetes label selectors -----------------------------------------------------------------


def test_label_selector_ands_match_labels_and_expressions() -> None:
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"rack": "r1"},
            "matchExpressions": [
                {"key": "role", "operator": "In", "values": ["worker", "edge"]},
                {"key": "zone", "operator": "DoesNotExist"},
                {"key": "kubernetes.io/hostname", "operator": "Exists"},
                {"key": "tier", "operator": "NotIn", "values": ["db"]},
            ],
        }
    )
    assert selector.matches(RACK1)
    assert not selector.matches({**RACK1, "zone": "z1"})
    assert not selector.matches({**RACK1, "rack": "r2"})
    assert not selector.matches({**RACK1, "tier": "db"})


def test_empty_label_selector_selects_everything() -> None:
    assert LabelSelector.model_validate({}).matches({})
    assert LabelSelector.model_validate({}).is_empty


@pytest.mark.parametrize(
    "expression",
    [
        {"key": "rack", "operator": "In", "values": []},
        {"key": "rack", "operator": "Exists", "values": ["r1"]},
        {"key": "rack", "operator": "Equals", "values": ["r1"]},
        {"key": "", "operator": "Exists"},
    ],
)
def test_invalid_label_selector_requirements_are_refused(expression: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LabelSelector.model_validate({"matchExpressions": [expression]})


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("rack=r1", True),
        ("rack==r1", True),
        ("rack!=r1", False),
        ("rack=r1,role=worker", True),
        ("rack=r1, role=edge", False),
        ("rack in (r1,r2)", True),
        ("rack notin (r1)", False),
        ("rack", True),
        ("!zone", True),
        ("!rack", False),
        ("rack in (r2), role", False),
    ],
)
def test_kubectl_label_query(text: str, selected: bool) -> None:
    assert parse_label_query(text).matches(RACK1) is selected


def test_kubectl_label_query_error_names_the_column() -> None:
    with pytest.raises(SelectorError) as raised:
        parse_label_query("rack=r1,=x")
    assert raised.value.column == 9
