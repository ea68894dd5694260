"""The monitor's receive path: count the prefixes in a stream of UPDATEs without decoding them.

A monitor needs to know *how many* prefixes arrived, not what they are, while the clock runs. So
``UpdateTally.feed`` walks the BGP framing (RFC 4271 §4.1, §4.3) and takes the size of the
withdrawn routes and NLRI fields from their length fields. When every expected prefix has the same
key size (the scenarios see to it: /24s are 4 octets, /26s and /32s 5), a field of ``n`` octets
holds ``n / size`` prefixes; otherwise the field is cut into keys by rackroute's ``decode_nlri``.

Most of a reflector's output is runs of UPDATEs of one shape (same length, same field lengths, only
the prefixes and next hops differ). A run is measured with C-level strided slices over the header
columns instead of a Python step per message, which takes the monitor from ~550 ns to ~45 ns per
message. UPDATEs that carry attributes but no NLRI field (MP_REACH_NLRI, RFC 4760) take the exact
path through ``decode_update``.

The counts are trusted on the clock path; ``record`` keeps the raw stream so that the report can
check, after the clock stopped, that the monitor holds exactly the expected routes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rackroute.bgp.attribute_codec import decode_attributes
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.nlri import MalformedNlri, decode_nlri
from rackroute.bgp.notification import BgpError
from rackroute.bgp.update_codec import decode_update
from rackroute.bgp.wire import HEADER_LENGTH, MARKER, MAX_MESSAGE_LENGTH, MessageType
from rackroute.net.family import IPV4_UNICAST

UPDATE = int(MessageType.UPDATE)
KEEPALIVE = int(MessageType.KEEPALIVE)
UPDATE_FIXED = HEADER_LENGTH + 4  # the two field-length octet pairs
MARKER_OCTET = MARKER[:1]
NO_MESSAGES: tuple[tuple[int, bytes], ...] = ()
CLASSIFIER_CACHE_LIMIT = 65536


class TallyError(Exception):
    """The DUT sent something the monitor cannot count (broken framing, a malformed field)."""


class Classifier:
    """Sorts announcements into classes by their path attributes, one decode per distinct attribute
    field (a reflector sends one field per originating client, so the cache stays small).

    ``class_of(next_hop, med, originator_id)`` is the scenario's rule; ``classes`` is how many
    classes it returns (0 .. classes-1).
    """

    __slots__ = ("_cache", "class_of", "classes", "session")

    def __init__(
        self,
        class_of: Callable[[bytes | None, int | None, int | None], int],
        classes: int,
        session: Negotiated,
    ) -> None:
        self.class_of = class_of
        self.classes = classes
        self.session = session
        self._cache: dict[bytes, int] = {}

    def of_field(self, field: bytes) -> int:
        found = self._cache.get(field)
        if found is None:
            attributes = decode_attributes(field, self.session).attributes
            found = self.class_of(attributes.next_hop, attributes.med, attributes.originator_id)
            if len(self._cache) >= CLASSIFIER_CACHE_LIMIT:
                self._cache.clear()
            self._cache[field] = found
        return found


class UpdateTally:
    """What one session received: prefixes announced and withdrawn, End-of-RIBs, and (with a
    classifier) announcements per class. ``feed`` returns the messages that are neither UPDATE nor
    KEEPALIVE, as ``(type, body)``, for the session to act on (a NOTIFICATION ends it)."""

    __slots__ = (
        "announced",
        "by_class",
        "bytes",
        "classifier",
        "end_of_rib",
        "key_size",
        "messages",
        "pending",
        "record",
        "session",
        "withdrawn",
    )

    def __init__(self, key_size: int, session: Negotiated, *, record: bool = False) -> None:
        self.key_size = key_size  # 0: key sizes vary, cut every field
        self.session = session
        self.pending = b""
        self.announced = 0
        self.withdrawn = 0
        self.end_of_rib = 0
        self.messages = 0
        self.bytes = 0
        self.classifier: Classifier | None = None
        self.by_class: list[int] = []
        self.record: list[bytes] | None = [] if record else None  # the raw stream, for ``verify``

    def classify(self, classifier: Classifier | None) -> None:
        """Count announcements per class from now on (None: stop)."""
        self.classifier = classifier
        self.by_class = [0] * classifier.classes if classifier is not None else []

    def count(self, field: bytes) -> int:
        size = self.key_size
        if size and len(field) % size == 0:
            return len(field) // size
        try:
            return len(decode_nlri(field, IPV4_UNICAST, False))
        except MalformedNlri as error:
            raise TallyError(f"malformed prefix field: {error}") from None

    def feed(self, data: bytes) -> Sequence[tuple[int, bytes]]:
        if self.pending:
            data = self.pending + data
        end = len(data)
        offset = 0
        others: list[tuple[int, bytes]] | None = None
        while end - offset >= HEADER_LENGTH:
            length = (data[offset + 16] << 8) | data[offset + 17]
            if length < HEADER_LENGTH or length > MAX_MESSAGE_LENGTH:
                raise TallyError(f"message length {length} at stream offset {self.bytes + offset}")
            if end - offset < length:
                break
            if data[offset : offset + 16] != MARKER:
                raise TallyError(f"marker is not all ones at stream offset {self.bytes + offset}")
            kind = data[offset + 18]
            if kind == UPDATE:
                offset = self._update(data, offset, length, end)
                continue
            if kind != KEEPALIVE:
                if others is None:
                    others = []
                others.append((kind, data[offset + HEADER_LENGTH : offset + length]))
            offset += length
        if self.record is not None and offset:
            self.record.append(data[:offset])
        self.bytes += offset
        self.pending = data[offset:]
        return others if others is not None else NO_MESSAGES

    def _update(self, data: bytes, offset: int, length: int, end: int) -> int:
        """Count one UPDATE (or a run of them); returns the offset after what was counted."""
        if length < UPDATE_FIXED:
            raise TallyError(f"UPDATE of {length} octets has no room for its field lengths")
        stop = offset + length
        withdrawn_length = (data[offset + 19] << 8) | data[offset + 20]
        attributes_start = offset + UPDATE_FIXED + withdrawn_length
        if attributes_start > stop:
            raise TallyError("withdrawn routes length overruns the UPDATE")
        attributes_end = attributes_start + ((data[attributes_start - 2] << 8) | data[attributes_start - 1])
        if attributes_end > stop:
            raise TallyError("path attribute length overruns the UPDATE")
        nlri_length = stop - attributes_end
        if not nlri_length:
            if attributes_end > attributes_start:  # attributes without NLRI: MP_REACH_NLRI or MP_UNREACH
                self._multiprotocol(data[offset + HEADER_LENGTH : stop])
                return stop
            if not withdrawn_length:
                self.end_of_rib += 1  # RFC 4724 §2: the IPv4 unicast End-of-RIB
                self.messages += 1
                return stop
        size = self.key_size
        if size and not (withdrawn_length % size or nlri_length % size):
            run = self._run_length(data, offset, length, withdrawn_length, end)
            self.messages += run
            self.withdrawn += run * (withdrawn_length // size)
            self.announced += run * (nlri_length // size)
            if self.classifier is not None and nlri_length:
                self._classify_run(data, attributes_start, attributes_end, length, run, nlri_length // size)
            return offset + run * length
        self.messages += 1
        if withdrawn_length:
            self.withdrawn += self.count(data[offset + 21 : offset + 21 + withdrawn_length])
        if nlri_length:
            announced = self.count(data[attributes_end:stop])
            self.announced += announced
            if self.classifier is not None:
                self.by_class[self.classifier.of_field(data[attributes_start:attributes_end])] += announced
        return stop

    def _classify_run(self, data: bytes, start: int, end: int, stride: int, run: int, announced: int) -> None:
        """Each UPDATE of a run has its own attributes (next hop, MED): one dict lookup each."""
        assert self.classifier is not None
        of_field = self.classifier.of_field
        by_class = self.by_class
        size = end - start
        for position in range(start, start + run * stride, stride):
            by_class[of_field(data[position : position + size])] += announced

    @staticmethod
    def _run_length(data: bytes, offset: int, length: int, withdrawn_length: int, end: int) -> int:
        """How many UPDATEs from ``offset`` have this one's length and field lengths (at least 1).

        Each header column (marker ends, length, type, the two field lengths) of the candidate run
        is one strided slice; ``lstrip`` of its first octet says how far it stays equal.
        """
        most = (end - offset) // length
        if most < 2:
            return 1
        after = offset + length
        attribute_column = 21 + withdrawn_length
        if (
            data[after + 16 : after + 21] != data[offset + 16 : offset + 21]
            or data[after + attribute_column : after + attribute_column + 2]
            != data[offset + attribute_column : offset + attribute_column + 2]
        ):
            return 1
        limit = offset + most * length
        run = most
        for column in (0, 15, 16, 17, 18, 19, 20, attribute_column, attribute_column + 1):
            values = data[offset + column : limit : length]
            equal = most - len(values.lstrip(values[:1]))
            if equal < run:
                run = equal
        return run

    def _multiprotocol(self, body: bytes) -> None:
        """The exact path, for UPDATEs whose prefixes travel in MP attributes (RFC 4760)."""
        try:
            update = decode_update(body, self.session)
        except BgpError as error:
            raise TallyError(f"UPDATE the monitor cannot decode: {error}") from None
        self.messages += 1
        if update.end_of_rib is not None:
            self.end_of_rib += 1
            return
        announced = len(update.nlri)
        reach = update.mp_reach
        if reach is not None and reach.family == IPV4_UNICAST:
            announced += len(reach.nlri)
        withdrawn = len(update.withdrawn)
        if update.mp_unreach is not None and update.mp_unreach.family == IPV4_UNICAST:
            withdrawn += len(update.mp_unreach.withdrawn)
        self.announced += announced
        self.withdrawn += withdrawn
        if self.classifier is not None and announced and update.attributes is not None:
            next_hop = update.attributes.next_hop or (reach.next_hop[:4] if reach is not None else None)
            attributes = update.attributes
            self.by_class[self.classifier.class_of(next_hop, attributes.med, attributes.originator_id)] += (
                announced
            )
