"""Import/export policy: ordered terms of match conditions, attribute changes and a verdict.

A ``Policy`` is a pure function of (prefix key, family, attributes, neighbour) to attributes or None
(rejected). The first term whose match holds applies its changes; its verdict ends evaluation
(``ACCEPT``/``REJECT``) or carries on with the following terms (``NEXT``, later terms see the changed
attributes). Past the last term the policy's default verdict applies.

``set next_hop`` writes ``PathAttributes.next_hop``; the RIB moves it into the path's next hop (in
the RIB the attribute field is otherwise always None). Results are interned when a ``PolicyCache``
is given, and repeated changes to one attribute set are computed once per cache.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from ..bgp.attributes import PathAttributes
from ..net.family import Family
from ..net.prefix import Prefix
from . import aspath
from .intern import Interner
from .peer import PeerInfo, PeerType


class Verdict(Enum):
    ACCEPT = "accept"
    REJECT = "reject"
    NEXT = "next"  # apply this term's changes and go on with the next term


@dataclass(frozen=True, slots=True)
class PrefixRange:
    """A prefix-list entry: ``prefix`` with optional ``ge``/``le`` length bounds (Cisco/FRR meaning:
    neither = exactly this prefix; ``le`` alone = lengths prefix.length..le; ``ge`` alone =
    ge..full length)."""

    prefix: Prefix
    ge: int | None = None
    le: int | None = None
    min_length: int = field(init=False, repr=False, compare=False)
    max_length: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        full = self.prefix.family.address_length * 8
        low = self.prefix.length if self.ge is None else self.ge
        high = self.le if self.le is not None else (self.prefix.length if self.ge is None else full)
        if not self.prefix.length <= low <= high <= full:
            raise ValueError(f"prefix range {self}: need {self.prefix.length} <= ge <= le <= {full}")
        object.__setattr__(self, "min_length", low)
        object.__setattr__(self, "max_length", high)

    @classmethod
    def parse(cls, text: str, ge: int | None = None, le: int | None = None) -> PrefixRange:
        return cls(Prefix.parse(text), ge, le)

    def __str__(self) -> str:
        ge = f" ge {self.ge}" if self.ge is not None else ""
        le = f" le {self.le}" if self.le is not None else ""
        return f"{self.prefix}{ge}{le}"

    def matches(self, key: bytes, family: Family) -> bool:
        """Does the (non ADD-PATH) prefix key of ``family`` fall in this range?"""
        length = key[0]
        if not self.min_length <= length <= self.max_length or family != self.prefix.family:
            return False
        whole, bits = divmod(self.prefix.length, 8)
        network = self.prefix.address
        if key[1 : 1 + whole] != network[:whole]:
            return False
        if not bits:
            return True
        mask = (0xFF00 >> bits) & 0xFF
        return key[1 + whole] & mask == network[whole] & mask


@dataclass(frozen=True, slots=True)
class Match:
    """Conditions that must all hold; an empty ``Match`` matches every route."""

    prefixes: tuple[PrefixRange, ...] | None = None  # the prefix is in any of these
    prefixes_negated: bool = False  # ...or, when set, in none of them
    communities: frozenset[int] = frozenset()  # carries any of these
    large_communities: frozenset[tuple[int, int, int]] = frozenset()  # carries any of these
    as_path_regex: str | None = None  # re.search over the AS_PATH text ("65001 65002 {65003}")
    as_path_contains: int | None = None
    peer_types: frozenset[PeerType] = frozenset()  # the neighbour: learned from (import) / sent to (export)
    source_types: frozenset[PeerType] = frozenset()  # where the path came from (LOCAL: originated)
    families: frozenset[Family] = frozenset()
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.as_path_regex is not None:
            object.__setattr__(self, "_regex", re.compile(self.as_path_regex))

    @property
    def depends_on_prefix(self) -> bool:
        return self.prefixes is not None

    def matches(
        self, key: bytes, family: Family, attributes: PathAttributes, peer: PeerInfo, source: PeerInfo
    ) -> bool:
        if self.families and family not in self.families:
            return False
        if self.peer_types and peer.peer_type not in self.peer_types:
            return False
        if self.source_types and source.peer_type not in self.source_types:
            return False
        if self.prefixes is not None:
            inside = any(entry.matches(key, family) for entry in self.prefixes)
            if inside == self.prefixes_negated:
                return False
        if self.communities and self.communities.isdisjoint(attributes.communities):
            return False
        if self.large_communities and self.large_communities.isdisjoint(attributes.large_communities):
            return False
        if self.as_path_contains is not None and not aspath.contains(
            attributes.as_path, self.as_path_contains
        ):
            return False
        return self._regex is None or self._regex.search(attributes.as_path_text()) is not None


@dataclass(frozen=True, slots=True)
class Actions:
    """Attribute changes. ``prepend_count`` prepends ``prepend_asn`` (default: our AS towards the
    neighbour) that many times, on top of the prepend eBGP export does anyway."""

    local_pref: int | None = None
    med: int | None = None
    next_hop: bytes | None = None
    add_communities: tuple[int, ...] = ()
    remove_communities: frozenset[int] = frozenset()
    add_large_communities: tuple[tuple[int, int, int], ...] = ()
    remove_large_communities: frozenset[tuple[int, int, int]] = frozenset()
    prepend_count: int = 0
    prepend_asn: int | None = None

    @property
    def empty(self) -> bool:
        return self == _NO_ACTIONS

    def apply(self, attributes: PathAttributes, peer: PeerInfo) -> PathAttributes:
        if self.empty:
            return attributes
        changes: dict[str, object] = {}
        if self.local_pref is not None:
            changes["local_pref"] = self.local_pref
        if self.med is not None:
            changes["med"] = self.med
        if self.next_hop is not None:
            changes["next_hop"] = self.next_hop
        if self.add_communities or self.remove_communities:
            changes["communities"] = _edit(
                attributes.communities, self.add_communities, self.remove_communities
            )
        if self.add_large_communities or self.remove_large_communities:
            changes["large_communities"] = _edit(
                attributes.large_communities, self.add_large_communities, self.remove_large_communities
            )
        if self.prepend_count:
            asn = peer.local_as if self.prepend_asn is None else self.prepend_asn
            changes["as_path"] = aspath.prepend(attributes.as_path, asn, self.prepend_count)
        return attributes.with_changes(**changes)


_NO_ACTIONS = Actions()
T = TypeVar("T")


def _edit(values: tuple[T, ...], add: Iterable[T], remove: frozenset[T]) -> tuple[T, ...]:
    """Remove, then add what is missing; keep the existing order (communities are a set, RFC 1997)."""
    kept = [value for value in values if value not in remove]
    kept.extend(value for value in add if value not in kept)
    return tuple(kept)


@dataclass(frozen=True, slots=True)
class Term:
    match: Match = field(default_factory=Match)
    actions: Actions = _NO_ACTIONS
    verdict: Verdict = Verdict.ACCEPT
    name: str = ""


class PolicyCache:
    """Interns policy results and remembers the changes made to each attribute set (per RIB)."""

    def __init__(self, interner: Interner) -> None:
        self.interner = interner
        self._changed: dict[tuple[int, int, int], tuple[PathAttributes, PathAttributes]] = {}

    def apply(self, actions: Actions, attributes: PathAttributes, peer: PeerInfo) -> PathAttributes:
        key = (id(actions), id(attributes), peer.local_as)
        found = self._changed.get(key)
        if found is not None and found[0] is attributes:
            return found[1]
        result = self.interner.attributes(actions.apply(attributes, peer))
        self._changed[key] = (attributes, result)  # holding the input keeps its id unique
        return result

    def clear(self) -> None:
        self._changed.clear()


@dataclass(frozen=True, slots=True)
class Policy:
    terms: tuple[Term, ...] = ()
    default: Verdict = Verdict.ACCEPT
    name: str = ""

    def __post_init__(self) -> None:
        if self.default is Verdict.NEXT:
            raise ValueError("a policy's default verdict is accept or reject")

    @property
    def depends_on_prefix(self) -> bool:
        """False when every prefix with the same attributes gets the same result (evaluate once)."""
        return any(term.match.depends_on_prefix for term in self.terms)

    def apply(
        self,
        key: bytes,
        family: Family,
        attributes: PathAttributes,
        peer: PeerInfo,
        cache: PolicyCache | None = None,
        source: PeerInfo | None = None,
    ) -> PathAttributes | None:
        """``peer``: the neighbour the route is learned from (import) or sent to (export);
        ``source``: where the path came from, on export (defaults to ``peer``)."""
        source = peer if source is None else source
        for term in self.terms:
            if not term.match.matches(key, family, attributes, peer, source):
                continue
            if term.verdict is Verdict.REJECT:
                return None
            if cache is not None:
                attributes = cache.apply(term.actions, attributes, peer)
            else:
                attributes = term.actions.apply(attributes, peer)
            if term.verdict is Verdict.ACCEPT:
                return attributes
        return attributes if self.default is Verdict.ACCEPT else None


ACCEPT_ALL = Policy(name="accept-all")
REJECT_ALL = Policy(default=Verdict.REJECT, name="reject-all")
