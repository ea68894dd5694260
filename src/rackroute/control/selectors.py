"""Selectors, parsed once into a typed form and evaluated as pure functions of a label map.

Three syntaxes, each the one its users know:

- **Calico selectors** (``nodeSelector``/``peerSelector`` of a BGPPeer, an IPPool's
  ``nodeSelector``): ``rack == 'r1'``, ``rack != 'r1'``, ``has(label)``, ``!``, ``&&``, ``||``,
  parentheses, ``rack in {'r1', 'r2'}``, ``rack not in {...}``, ``all()``, ``global()``,
  ``name contains 's'``, ``starts with``, ``ends with``. As in Calico, ``!=`` and ``not in`` also
  match a resource without the label; the empty selector is ``all()``. ``parse_selector`` returns
  the tree or raises ``SelectorError`` naming the column; ``matches(tree, labels)`` evaluates it.
- **Kubernetes LabelSelector** objects (MetalLB's ``nodeSelectors``, ``ipAddressPoolSelectors``,
  ``serviceAllocation``): ``matchLabels`` and ``matchExpressions`` (In, NotIn, Exists, DoesNotExist),
  all ANDed; the empty selector selects everything.
- **kubectl's ``-l`` text** (``rack=r1,env!=prod,tier in (a,b),!canary``): ``parse_label_query``
  turns it into a LabelSelector.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Labels = Mapping[str, str]


class SelectorError(ValueError):
    """A selector that does not parse: ``column`` is 1-based, into ``text``."""

    def __init__(self, text: str, column: int, reason: str) -> None:
        super().__init__(f"{reason} at column {column} of selector {text!r}")
        self.text = text
        self.column = column
        self.reason = reason


# -- the Calico selector tree --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class All:
    def __str__(self) -> str:
        return "all()"


@dataclass(frozen=True, slots=True)
class Global:
    """Calico's ``global()``: matches resources that are not namespaced."""

    def __str__(self) -> str:
        return "global()"


@dataclass(frozen=True, slots=True)
class Has:
    label: str

    def __str__(self) -> str:
        return f"has({self.label})"


Operator = Literal["==", "!=", "contains", "starts with", "ends with"]


@dataclass(frozen=True, slots=True)
class Compare:
    label: str
    operator: Operator
    value: str

    def __str__(self) -> str:
        return f"{self.label} {self.operator} {_quote(self.value)}"


@dataclass(frozen=True, slots=True)
class InSet:
    label: str
    values: frozenset[str]
    negated: bool = False  # ``not in``

    def __str__(self) -> str:
        members = ", ".join(_quote(value) for value in sorted(self.values))
        return f"{self.label} {'not in' if self.negated else 'in'} {{{members}}}"


@dataclass(frozen=True, slots=True)
class Not:
    operand: Selector

    def __str__(self) -> str:
        inner = str(self.operand)
        return f"!{inner}" if isinstance(self.operand, Has | All | Global | Not) else f"!({inner})"


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Selector, ...]

    def __str__(self) -> str:
        return " && ".join(f"({o})" if isinstance(o, Or) else str(o) for o in self.operands)


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Selector, ...]

    def __str__(self) -> str:
        return " || ".join(str(o) for o in self.operands)


Selector = All | Global | Has | Compare | InSet | Not | And | Or


def _quote(value: str) -> str:
    return f'"{value}"' if "'" in value else f"'{value}'"


def matches(selector: Selector, labels: Labels, *, namespaced: bool = False) -> bool:
    """Whether a resource with ``labels`` is selected (``namespaced``: for ``global()``)."""
    match selector:
        case All():
            return True
        case Global():
            return not namespaced
        case Has(label):
            return label in labels
        case Compare(label, operator, value):
            actual = labels.get(label)
            if operator == "!=":
                return actual != value
            if actual is None:
                return False
            if operator == "==":
                return actual == value
            if operator == "contains":
                return value in actual
            if operator == "starts with":
                return actual.startswith(value)
            return actual.endswith(value)
        case InSet(label, values, negated):
            return (labels.get(label) in values) != negated
        case Not(operand):
            return not matches(operand, labels, namespaced=namespaced)
        case And(operands):
            return all(matches(o, labels, namespaced=namespaced) for o in operands)
        case Or(operands):
            return any(matches(o, labels, namespaced=namespaced) for o in operands)
    raise TypeError(f"not a selector: {selector!r}")


def uses_global(selector: Selector) -> bool:
    match selector:
        case Global():
            return True
        case Not(operand):
            return uses_global(operand)
        case And(operands) | Or(operands):
            return any(uses_global(o) for o in operands)
    return False


# -- the Calico selector parser ------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'[^']*'|"[^"]*")
    | (?P<op>&&|\|\||==|!=|[!(){},])
    | (?P<word>[A-Za-z0-9_][A-Za-z0-9_./-]*)
    | (?P<bad>\S)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string, op, word, end
    text: str
    column: int


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only trailing whitespace is left
            break
        kind = match.lastgroup or "end"
        column = match.start(kind) + 1
        if kind == "bad":
            bad = match.group("bad")
            reason = "unterminated string" if bad in "'\"" else f"unexpected character {bad!r}"
            if bad in "=&|":
                reason += " (the operators are ==, !=, &&, ||)"
            raise SelectorError(text, column, reason)
        found.append(_Token(kind, match.group(kind), column))
        position = match.end()
    found.append(_Token("end", "", len(text) + 1))
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def fail(self, expected: str) -> SelectorError:
        token = self.current
        got = "the end" if token.kind == "end" else repr(token.text)
        return SelectorError(self.text, token.column, f"expected {expected}, got {got}")

    def take(self, kind: str, text: str | None = None, expected: str | None = None) -> _Token:
        token = self.current
        if token.kind != kind or (text is not None and token.text != text):
            raise self.fail(expected or repr(text) if text else expected or kind)
        self.index += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        token = self.current
        return token.kind == kind and (text is None or token.text == text)

    def parse(self) -> Selector:
        if self.at("end"):
            return All()
        tree = self.disjunction()
        if not self.at("end"):
            raise self.fail("&&, || or the end")
        return tree

    def disjunction(self) -> Selector:
        operands = [self.conjunction()]
        while self.at("op", "||"):
            self.index += 1
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self) -> Selector:
        operands = [self.unary()]
        while self.at("op", "&&"):
            self.index += 1
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Selector:
        if self.at("op", "!"):
            self.index += 1
            return Not(self.unary())
        if self.at("op", "("):
            self.index += 1
            inner = self.disjunction()
            self.take("op", ")", "')'")
            return inner
        return self.term()

    def term(self) -> Selector:
        word = self.take("word", expected="a label, has(...), all(), '!' or '('")
        if word.text in ("all", "global", "has") and self.at("op", "("):
            self.index += 1
            if word.text == "has":
                label = self.take("word", expected="a label name").text
                self.take("op", ")", "')'")
                return Has(label)
            self.take("op", ")", "')'")
            return All() if word.text == "all" else Global()
        label = word.text
        token = self.current
        if token.kind == "op" and token.text in ("==", "!="):
            self.index += 1
            return Compare(label, token.text, self.string())  # type: ignore[arg-type]
        if token.kind == "word":
            if token.text == "in":
                self.index += 1
                return InSet(label, self.string_set())
            if token.text == "not":
                self.index += 1
                self.take("word", "in", "'in' after 'not'")
                return InSet(label, self.string_set(), negated=True)
            if token.text == "contains":
                self.index += 1
                return Compare(label, "contains", self.string())
            if token.text in ("starts", "ends"):
                self.index += 1
                self.take("word", "with", f"'with' after {token.text!r}")
                return Compare(label, f"{token.text} with", self.string())  # type: ignore[arg-type]
        raise self.fail("==, !=, in, not in, contains, starts with or ends with")

    def string(self) -> str:
        return self.take("string", expected="a quoted string ('value' or \"value\")").text[1:-1]

    def string_set(self) -> frozenset[str]:
        self.take("op", "{", "'{'")
        values: list[str] = []
        if not self.at("op", "}"):
            values.append(self.string())
            while self.at("op", ","):
                self.index += 1
                values.append(self.string())
        self.take("op", "}", "',' or '}'")
        return frozenset(values)


def parse_selector(text: str) -> Selector:
    """The tree of a Calico selector; ``SelectorError`` (with the column) when it does not parse."""
    return _Parser(text).parse()


@functools.lru_cache(maxsize=4096)
def compiled(text: str) -> Selector:
    """``parse_selector`` once per text: models validate their selectors when loaded and evaluate
    the cached tree afterwards."""
    return parse_selector(text)


# -- Kubernetes label selectors ------------------------------------------------------------------


class LabelSelectorRequirement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self

    def matches(self, labels: Labels) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


class LabelSelector(BaseModel):
    """Kubernetes' ``metav1.LabelSelector``: every matchLabels pair and every expression must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: tuple[LabelSelectorRequirement, ...] = Field(default=(), alias="matchExpressions")

    def matches(self, labels: Labels) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            requirement.matches(labels) for requirement in self.match_expressions
        )

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


_QUERY_PART = re.compile(
    r"""\s*(?:
      (?P<absent>!\s*(?P<absent_key>[^\s=!,()]+))
    | (?P<set_key>[^\s=!,()]+)\s+(?P<set_op>notin|in)\s*\((?P<set_values>[^)]*)\)
    | (?P<cmp_key>[^\s=!,()]+)\s*(?P<cmp_op>==|=|!=)\s*(?P<cmp_value>[^\s,()]*)
    | (?P<present>[^\s=!,()]+)
    )\s*(?:,|$)""",
    re.VERBOSE,
)


def parse_label_query(text: str) -> LabelSelector:
    """kubectl's ``-l`` syntax: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a)``, ``k``,
    ``!k``, joined by commas (all must hold). ``SelectorError`` names the column."""
    match_labels: dict[str, str] = {}
    expressions: list[LabelSelectorRequirement] = []
    position = 0
    while position < len(text) and text[position:].strip():
        match = _QUERY_PART.match(text, position)
        if match is None:
            column = position + 1 + (len(text[position:]) - len(text[position:].lstrip()))
            raise SelectorError(text, column, "expected key, !key, key=value, key!=value or key in (a,b)")
        if match.group("absent"):
            expressions.append(
                LabelSelectorRequirement(key=match.group("absent_key"), operator="DoesNotExist")
            )
        elif match.group("set_key"):
            values = tuple(v.strip() for v in match.group("set_values").split(",") if v.strip())
            operator = "In" if match.group("set_op") == "in" else "NotIn"
            if not values:
                raise SelectorError(
                    text, match.start("set_values") + 1, f"{operator} needs at least one value"
                )
            expressions.append(
                LabelSelectorRequirement(key=match.group("set_key"), operator=operator, values=values)
            )
        elif match.group("cmp_key"):
            key, value = match.group("cmp_key"), match.group("cmp_value")
            if match.group("cmp_op") == "!=":
                expressions.append(LabelSelectorRequirement(key=key, operator="NotIn", values=(value,)))
            else:
                match_labels[key] = value
        else:
            expressions.append(LabelSelectorRequirement(key=match.group("present"), operator="Exists"))
        position = match.end()
    return LabelSelector(match_labels=match_labels, match_expressions=tuple(expressions))
