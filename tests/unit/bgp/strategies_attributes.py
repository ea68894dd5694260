"""Hypothesis strategies for path attributes, shared by the attribute, UPDATE and RIB tests.

``path_attributes()`` draws attribute sets in the form ``decode_attributes`` gives back: AS_PATH
segments of 1..255 AS numbers with confederation segments only in front, unknown attributes as
optional transitive with Partial set, in ascending unique codes not in ``ATTRIBUTES``.
For a round trip over a 2-octet AS session pass ``confederation_asns=TWO_OCTET_ASNS``: AS4_PATH
cannot carry confederation segments (RFC 6793), so their 4-octet numbers are lost by design.
"""

from __future__ import annotations

from hypothesis import strategies as st

from rackroute.bgp.attribute_codec import ATTRIBUTES
from rackroute.bgp.attributes import Aggregator, AsPathSegment, PathAttributes, UnknownAttribute
from rackroute.bgp.communities import WellKnownCommunity
from rackroute.bgp.wire import Origin, SegmentType

ASNS = st.integers(1, 0xFFFFFFFF)
TWO_OCTET_ASNS = st.integers(1, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
UNKNOWN_CODES = sorted(set(range(1, 256)) - set(ATTRIBUTES))
UNKNOWN_TRANSITIVE_FLAGS = 0xE0  # Optional | Transitive | Partial


def segments(
    types: tuple[SegmentType, ...], asns: st.SearchStrategy[int] = ASNS, max_asns: int = 12
) -> st.SearchStrategy[AsPathSegment]:
    return st.builds(
        AsPathSegment,
        st.sampled_from(types).map(int),
        st.lists(asns, min_size=1, max_size=max_asns).map(tuple),
    )


@st.composite
def as_paths(
    draw: st.DrawFn,
    asns: st.SearchStrategy[int] = ASNS,
    confederation_asns: st.SearchStrategy[int] = ASNS,
    max_segments: int = 4,
    confederation: bool = True,
) -> tuple[AsPathSegment, ...]:
    confederation_types = (SegmentType.AS_CONFED_SEQUENCE, SegmentType.AS_CONFED_SET)
    leading = draw(
        st.lists(segments(confederation_types, confederation_asns), max_size=2 if confederation else 0)
    )
    rest = draw(
        st.lists(segments((SegmentType.AS_SEQUENCE, SegmentType.AS_SET), asns), max_size=max_segments)
    )
    return tuple(leading + rest)


def communities() -> st.SearchStrategy[tuple[int, ...]]:
    value = st.one_of(U32, st.sampled_from([int(member) for member in WellKnownCommunity]))
    return st.lists(value, max_size=80).map(tuple)  # up to 320 octets: exercises extended length


@st.composite
def unknown_attributes(draw: st.DrawFn) -> tuple[UnknownAttribute, ...]:
    codes = sorted(draw(st.sets(st.sampled_from(UNKNOWN_CODES), max_size=3)))
    return tuple(
        UnknownAttribute(UNKNOWN_TRANSITIVE_FLAGS, code, draw(st.binary(max_size=300))) for code in codes
    )


@st.composite
def path_attributes(
    draw: st.DrawFn,
    asns: st.SearchStrategy[int] = ASNS,
    confederation_asns: st.SearchStrategy[int] = ASNS,
    internal: bool = True,
) -> PathAttributes:
    """An attribute set; ``internal=False`` leaves out what an external peer may not send
    (LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST, confederation segments)."""
    optional_u32 = st.none() | U32
    return PathAttributes(
        origin=draw(st.none() | st.sampled_from([int(origin) for origin in Origin])),
        as_path=draw(as_paths(asns, confederation_asns, confederation=internal)),
        next_hop=draw(st.none() | st.binary(min_size=4, max_size=4)),
        med=draw(optional_u32),
        local_pref=draw(optional_u32) if internal else None,
        atomic_aggregate=draw(st.booleans()),
        aggregator=draw(st.none() | st.builds(Aggregator, asns, U32)),
        communities=draw(communities()),
        originator_id=draw(optional_u32) if internal else None,
        cluster_list=draw(st.lists(U32, max_size=5).map(tuple)) if internal else (),
        extended_communities=draw(st.lists(st.integers(0, 2**64 - 1), max_size=5).map(tuple)),
        large_communities=draw(st.lists(st.tuples(U32, U32, U32), max_size=5).map(tuple)),
        unknown=draw(unknown_attributes()),
    )
