"""Operator-facing route policies expressed as ``policy.Policy``: Calico ``BGPFilter`` rules and
MetalLB ``BGPAdvertisement`` knobs.

Takes plain values (the resources' own field names and strings), not the ``control`` layer's
resource classes: ``rib`` may not import ``control``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..bgp.communities import parse_community, parse_large_community
from ..net.family import IPV4_UNICAST, IPV6_UNICAST, Family
from ..net.prefix import Prefix
from .peer import PeerType
from .policy import Actions, Match, Policy, PrefixRange, Term, Verdict

_CALICO_ACTIONS = {"Accept": Verdict.ACCEPT, "Reject": Verdict.REJECT}
_CALICO_OPERATORS = ("Equal", "NotEqual", "In", "NotIn")
_REMOTE_PEERS = frozenset({PeerType.INTERNAL, PeerType.EXTERNAL})


@dataclass(frozen=True, slots=True)
class CalicoFilterRule:
    """One rule of a Calico ``BGPFilter`` list (``importV4``, ``exportV6``...)."""

    action: str  # "Accept" | "Reject"
    cidr: str = ""  # empty: every prefix
    match_operator: str = ""  # "Equal" | "NotEqual" | "In" | "NotIn"; required with cidr
    prefix_length_min: int | None = None  # with In / NotIn
    prefix_length_max: int | None = None
    source: str = ""  # "" or "RemotePeers": only routes learned from BGP neighbours

    @classmethod
    def from_spec(cls, spec: Mapping[str, object]) -> CalicoFilterRule:
        """From the resource's JSON/YAML form (``matchOperator``, ``prefixLength: {min, max}``)."""
        known = {"action", "cidr", "matchOperator", "prefixLength", "source", "interface"}
        if unknown := set(spec) - known:
            raise ValueError(f"unknown BGPFilter rule fields {sorted(unknown)}")
        if spec.get("interface"):
            raise ValueError("BGPFilter interface matches select kernel routes; rackroute has none")
        lengths = spec.get("prefixLength") or {}
        if not isinstance(lengths, Mapping):
            raise ValueError("prefixLength must be a mapping with min and/or max")
        return cls(
            action=str(spec.get("action", "")),
            cidr=str(spec.get("cidr", "")),
            match_operator=str(spec.get("matchOperator", "")),
            prefix_length_min=_optional_int(lengths.get("min")),
            prefix_length_max=_optional_int(lengths.get("max")),
            source=str(spec.get("source", "")),
        )

    def term(self, family: Family) -> Term:
        if self.action not in _CALICO_ACTIONS:
            raise ValueError(f"BGPFilter action {self.action!r} is not Accept or Reject")
        match = Match(
            families=frozenset({family}),
            source_types=_REMOTE_PEERS if self.source == "RemotePeers" else frozenset(),
        )
        if self.source not in ("", "RemotePeers"):
            raise ValueError(f"BGPFilter source {self.source!r} is not RemotePeers")
        if self.cidr:
            match = _with_prefix(match, self, family)
        return Term(match=match, verdict=_CALICO_ACTIONS[self.action], name=f"{self.action} {self.cidr}")


def _with_prefix(match: Match, rule: CalicoFilterRule, family: Family) -> Match:
    if rule.match_operator not in _CALICO_OPERATORS:
        raise ValueError(f"BGPFilter matchOperator {rule.match_operator!r} not in {_CALICO_OPERATORS}")
    cidr = Prefix.parse(rule.cidr, strict=False)
    if cidr.family != family:
        raise ValueError(f"BGPFilter cidr {rule.cidr} is not {family}")
    if rule.match_operator in ("Equal", "NotEqual"):
        entry = PrefixRange(cidr)
    else:  # In / NotIn: the cidr itself or anything inside it, within the length bounds
        full = family.address_length * 8
        low = max(cidr.length, rule.prefix_length_min or 0)
        high = full if rule.prefix_length_max is None else rule.prefix_length_max
        entry = PrefixRange(cidr, ge=low, le=high)
    return Match(
        prefixes=(entry,),
        prefixes_negated=rule.match_operator.startswith("Not"),
        families=match.families,
        source_types=match.source_types,
    )


def calico_filter_policy(
    v4_rules: Sequence[CalicoFilterRule], v6_rules: Sequence[CalicoFilterRule] = (), name: str = ""
) -> Policy:
    """One direction (import or export) of one or more BGPFilters, rules in order: the first rule
    that matches decides; a route no rule matches is accepted (Calico's default)."""
    terms = [rule.term(IPV4_UNICAST) for rule in v4_rules]
    terms += [rule.term(IPV6_UNICAST) for rule in v6_rules]
    return Policy(tuple(terms), Verdict.ACCEPT, name)


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int | str):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


# -- MetalLB -------------------------------------------------------------------------------------


def aggregated(address: str | Prefix, aggregation_length: int) -> Prefix:
    """The prefix MetalLB announces for a service address with ``aggregationLength`` (or
    ``aggregationLengthV6``): the address's network of that length."""
    prefix = address if isinstance(address, Prefix) else Prefix.parse(address)
    network = prefix.network.supernet(new_prefix=aggregation_length)
    return Prefix(prefix.family, network.network_address.packed, aggregation_length)


def metallb_advertisement_policy(
    pool_cidrs: Iterable[str],
    *,
    aggregation_length: int = 32,
    aggregation_length_v6: int = 128,
    local_pref: int | None = None,
    communities: Iterable[str] = (),
    name: str = "",
) -> Policy:
    """Export policy for one BGPAdvertisement: announcements of its pools' addresses (at the
    aggregation length) carry ``communities`` (``ASN:value``, ``ASN:value:value`` large, or a
    well-known name) and, towards iBGP neighbours only as MetalLB does, ``localPref``. Every other
    route passes untouched (the terms continue rather than accept)."""
    ranges = []
    for cidr in pool_cidrs:
        prefix = Prefix.parse(cidr, strict=False)
        length = aggregation_length if prefix.family == IPV4_UNICAST else aggregation_length_v6
        if length < prefix.length:
            raise ValueError(f"aggregation length {length} is shorter than the pool {cidr}")
        ranges.append(PrefixRange(prefix, ge=length, le=length))
    plain = tuple(parse_community(text) for text in communities if text.count(":") != 2)
    large = tuple(parse_large_community(text) for text in communities if text.count(":") == 2)
    in_pools = Match(prefixes=tuple(ranges))
    terms = [Term(in_pools, Actions(add_communities=plain, add_large_communities=large), Verdict.NEXT)]
    if local_pref is not None:
        internal = Match(prefixes=tuple(ranges), peer_types=frozenset({PeerType.INTERNAL}))
        terms.append(Term(internal, Actions(local_pref=local_pref), Verdict.NEXT))
    return Policy(tuple(terms), Verdict.ACCEPT, name)
