"""Configuration text -> RIB values: policies (``rib.policy.Policy``) and announcements.

A neighbour's ``import_policy``/``export_policy`` lists several policies "applied in order": their
terms are evaluated in sequence and the first term whose match holds decides (``accept`` and
``reject`` end the evaluation, ``next`` applies its changes and goes on). Between policies, a
policy whose default is ``reject`` rejects what none of its terms matched; a default of ``accept``
hands the route to the next policy. The last policy's default is the final one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..bgp.attributes import PathAttributes
from ..bgp.communities import parse_community, parse_large_community
from ..bgp.wire import Origin
from ..net.family import Family, family_from_name
from ..net.prefix import Prefix
from ..rib.peer import PeerType
from ..rib.policy import Actions, Match, Policy, PrefixRange, Term, Verdict
from . import config

VERDICTS = {"accept": Verdict.ACCEPT, "reject": Verdict.REJECT, "next": Verdict.NEXT}
PEER_TYPES = {"internal": PeerType.INTERNAL, "external": PeerType.EXTERNAL}
NEXT_HOP_SELF = "self"


def combine_policies(
    names: Sequence[str], policies: Mapping[str, config.Policy], where: str
) -> Policy | None:
    """One RIB policy for a neighbour's list of policy names (None: accept everything unchanged)."""
    if not names:
        return None
    terms: list[Term] = []
    default = Verdict.ACCEPT
    for position, name in enumerate(names):
        policy = policies[name]
        try:
            terms.extend(policy_term(term, f"{name}[{index}]") for index, term in enumerate(policy.terms))
        except ValueError as error:
            raise ValueError(f"{where} policy {name}: {error}") from None
        default = VERDICTS[policy.default]
        if default is Verdict.REJECT and position < len(names) - 1:
            terms.append(Term(Match(), Actions(), Verdict.REJECT, f"{name} default"))
    return Policy(tuple(terms), default, "+".join(names))


def policy_term(term: config.PolicyTerm, fallback_name: str) -> Term:
    return Term(
        match=policy_match(term.match),
        actions=policy_actions(term.set),
        verdict=VERDICTS[term.action],
        name=term.name or fallback_name,
    )


def policy_match(match: config.PolicyMatch) -> Match:
    prefixes = None
    if match.prefixes is not None:
        prefixes = tuple(
            PrefixRange(Prefix.parse(entry.prefix), entry.ge, entry.le) for entry in match.prefixes
        )
    contains = match.as_path_contains or []
    regex = None
    if len(contains) > 1:  # "holds any of these": one alternation over the AS_PATH text
        regex = r"(?<![0-9])(" + "|".join(str(asn) for asn in contains) + r")(?![0-9])"
    return Match(
        prefixes=prefixes,
        communities=frozenset(parse_community(text) for text in match.communities or ()),
        large_communities=frozenset(parse_large_community(text) for text in match.large_communities or ()),
        as_path_regex=regex,
        as_path_contains=contains[0] if len(contains) == 1 else None,
        peer_types=frozenset({PEER_TYPES[match.peer_type]}) if match.peer_type else frozenset(),
        families=frozenset({family_from_name(match.family)}) if match.family else frozenset(),
    )


def policy_actions(changes: config.PolicySet) -> Actions:
    next_hop = None
    if changes.next_hop is not None:
        try:
            next_hop = ipaddress.ip_address(changes.next_hop).packed
        except ValueError:
            raise ValueError(f"set next_hop {changes.next_hop!r} must be an address") from None
    return Actions(
        local_pref=changes.local_pref,
        med=changes.med,
        next_hop=next_hop,
        add_communities=tuple(parse_community(text) for text in changes.add_communities),
        remove_communities=frozenset(parse_community(text) for text in changes.remove_communities),
        add_large_communities=tuple(parse_large_community(text) for text in changes.add_large_communities),
        prepend_count=changes.prepend,
    )


@dataclass(frozen=True, slots=True)
class Origination:
    """One announced prefix as the RIB takes it; ``next_hop`` b"" is each neighbour's own address."""

    family: Family
    key: bytes
    attributes: PathAttributes
    next_hop: bytes


def origination(announcement: config.Announcement) -> Origination:
    """An ``announce[]`` entry (or an agent's announcement) as the RIB's originated route."""
    prefix = Prefix.parse(announcement.prefix)
    attributes = PathAttributes(
        origin=Origin.IGP,
        med=announcement.med,
        local_pref=announcement.local_pref,
        communities=tuple(parse_community(text) for text in announcement.communities),
        large_communities=tuple(parse_large_community(text) for text in announcement.large_communities),
    )
    next_hop = b""
    if announcement.next_hop != NEXT_HOP_SELF:
        address = ipaddress.ip_address(announcement.next_hop)
        if len(address.packed) != prefix.family.address_length:
            raise ValueError(f"announce {announcement.prefix}: next hop {address} is of another family")
        next_hop = address.packed
    return Origination(prefix.family, prefix.key, attributes, next_hop)
