"""Interning: equal attribute sets (and advertisements) are one object per RIB.

Everything derived from a path (import policy results, export rewrites) goes through the interner,
so 1000 neighbours sent the same route share one ``Advertisement`` and the runtime encodes one UPDATE
for all of them (STYLE pattern 14), and "did it change" is an identity test.
"""

from __future__ import annotations

import sys

from ..bgp.attributes import PathAttributes
from .path import Advertisement

_UNUSED_ADVERTISEMENT = 4
_UNUSED_ATTRIBUTES = 5


class Interner:
    def __init__(self) -> None:
        self._attributes: dict[PathAttributes, PathAttributes] = {}
        self._advertisements: dict[tuple[PathAttributes, bytes], Advertisement] = {}

    def attributes(self, attributes: PathAttributes) -> PathAttributes:
        return self._attributes.setdefault(attributes, attributes)

    def advertisement(self, attributes: PathAttributes, next_hop: bytes) -> Advertisement:
        attributes = self.attributes(attributes)
        key = (attributes, next_hop)
        found = self._advertisements.get(key)
        if found is None:
            found = self._advertisements[key] = Advertisement(attributes, next_hop)
        return found

    def __len__(self) -> int:
        return len(self._attributes)

    def prune(self) -> int:
        """Forget entries nothing outside this table refers to any more; returns how many.

        Called by the runtime now and then (not on the hot path). Reference counts are a CPython
        detail; elsewhere nothing is pruned, which costs memory, never correctness.
        """
        # Advertisements first: each one holds its attribute set alive.
        return self._prune_advertisements() + self._prune_attributes()

    # While checked, an entry is referenced by the table (key and value for attribute sets), the
    # snapshot list, the loop variable and getrefcount's argument; more means it is still in use.
    def _prune_advertisements(self) -> int:
        unused = [
            advertisement
            for advertisement in list(self._advertisements.values())
            if sys.getrefcount(advertisement) <= _UNUSED_ADVERTISEMENT
        ]
        for advertisement in unused:
            del self._advertisements[(advertisement.attributes, advertisement.next_hop)]
        return len(unused)

    def _prune_attributes(self) -> int:
        unused = [
            attributes
            for attributes in list(self._attributes)
            if sys.getrefcount(attributes) <= _UNUSED_ATTRIBUTES
        ]
        for attributes in unused:
            del self._attributes[attributes]
        return len(unused)
