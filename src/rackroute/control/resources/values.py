"""Value types that Calico, MetalLB and Kubernetes resources share, as pydantic annotated types.

Each type validates what users write in their YAML (which the loader keeps as written: see
``loader``) and stores a normal form: AS numbers become integers (written as ``65001``, ``"65001"``
or Calico's dotted ``"1.10"``), Go durations stay the strings the user wrote (``9m0s``, ``"180s"``)
and ``duration_seconds`` reads them, a peer address may carry a port (``10.192.0.1:166``,
``[ac13::57]:50``). Errors are ``PydanticCustomError`` with a message meant for an operator
("must be an AS number (got "65x")"), reported with file, line and field by the loader.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

AS_NUMBER_MAX = 0xFFFFFFFF


def _got(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def parse_as_number(value: Any) -> int:
    """An AS number: an integer 0..4294967295, its decimal text, or asdot ``"1.10"`` (RFC 5396)."""
    if isinstance(value, float):
        raise PydanticCustomError(
            "as_number",
            'must be an AS number (got {got}); quote a dotted AS number ("1.10"): unquoted, YAML reads it as a decimal fraction',
            {"got": repr(value)},
        )
    if isinstance(value, bool):
        raise PydanticCustomError("as_number", "must be an AS number (got {got})", {"got": _got(value)})
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,10}", value.strip()):
        number = int(value.strip())
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,5}\.[0-9]{1,5}", value.strip()):
        high, low = (int(part) for part in value.strip().split("."))
        if high > 0xFFFF or low > 0xFFFF:
            raise PydanticCustomError("as_number", "must be an AS number (got {got})", {"got": _got(value)})
        number = high << 16 | low
    else:
        raise PydanticCustomError("as_number", "must be an AS number (got {got})", {"got": _got(value)})
    if not 0 <= number <= AS_NUMBER_MAX:
        raise PydanticCustomError(
            "as_number", "must be an AS number 0..4294967295 (got {got})", {"got": _got(value)}
        )
    return number


ASNumber = Annotated[int, BeforeValidator(parse_as_number)]

# Go's time.ParseDuration units; Kubernetes' metav1.Duration is a Go duration string.
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)")


def duration_seconds(text: str) -> float:
    """Seconds in a Go duration string (``"1h2m3.5s"``, ``"9m0s"``, ``"-1.5h"``, ``"0"``)."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    total, position = 0.0, 0
    if not body:
        raise ValueError(text)
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        if match is None or match.group(1) in ("", "."):
            raise ValueError(text)
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return sign * total


def check_duration(value: Any) -> str:
    if isinstance(value, str):
        try:
            if duration_seconds(value) >= 0:
                return value
        except ValueError:
            pass
    raise PydanticCustomError(
        "duration",
        'must be a duration like "90s", "9m0s" or "1h30m" (got {got})',
        {"got": _got(value)},
    )


GoDuration = Annotated[str, BeforeValidator(check_duration)]


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """A BGP peer's address and optional TCP port, as Calico's ``peerIP`` writes them."""

    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int | None = None


def parse_peer_address(text: str) -> PeerAddress:
    """``10.192.0.1``, ``10.192.0.1:166``, ``ac13::57``, ``[ac13::57]:50``; ValueError otherwise."""
    text = text.strip()
    port_text: str | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if not rest.startswith(":"):
            raise ValueError("a bracketed IPv6 address needs a port: [ac13::57]:50")
        port_text = rest[1:]
        address: Any = ipaddress.IPv6Address(host)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        address = ipaddress.IPv4Address(host)
    else:
        address = ipaddress.ip_address(text)  # IPv4, or IPv6 without a port
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"port must be 1..65535 (got {port_text!r})")
        port = int(port_text)
    return PeerAddress(address, port)


def check_peer_address(value: Any) -> str:
    if isinstance(value, str):
        try:
            parse_peer_address(value)
            return value.strip()
        except ValueError as error:
            reason = str(error) if "port" in str(error) else "not an IP address"
            raise PydanticCustomError(
                "peer_address",
                "must be an IP address with an optional port (10.0.0.1, 10.0.0.1:179, "
                "fd00::1, [fd00::1]:179): {reason} (got {got})",
                {"reason": reason, "got": _got(value)},
            ) from None
    raise PydanticCustomError("peer_address", "must be an IP address (got {got})", {"got": _got(value)})


PeerIP = Annotated[str, BeforeValidator(check_peer_address)]


def _check_ip(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(value)) if isinstance(value, str) else _fail_ip(value)
    except ValueError:
        return _fail_ip(value)


def _fail_ip(value: Any) -> str:
    raise PydanticCustomError("ip", "must be an IP address (got {got})", {"got": _got(value)})


IPAddress = Annotated[str, BeforeValidator(_check_ip)]


def _check_cidr(value: Any) -> str:
    if isinstance(value, str) and "/" in value:
        try:
            ipaddress.ip_network(value.strip(), strict=False)
            return value.strip()
        except ValueError:
            pass
    raise PydanticCustomError(
        "cidr", "must be a CIDR like 10.0.0.0/16 or fd00::/64 (got {got})", {"got": _got(value)}
    )


CIDR = Annotated[str, BeforeValidator(_check_cidr)]
"""A network in CIDR notation, kept as written (host bits allowed, as Calico and MetalLB accept)."""


def _check_cidr_or_ip(value: Any) -> str:
    if isinstance(value, str) and "/" not in value:
        return _check_ip(value)
    return _check_cidr(value)


CIDROrIP = Annotated[str, BeforeValidator(_check_cidr_or_ip)]

_COMMUNITY = re.compile(r"[0-9]{1,10}:[0-9]{1,10}(:[0-9]{1,10})?")


def check_community(value: Any) -> str:
    """A standard community ``aa:nn`` (16-bit halves) or large community ``aa:nn:mm`` (32-bit parts)."""
    if isinstance(value, str) and _COMMUNITY.fullmatch(value.strip()):
        parts = [int(part) for part in value.strip().split(":")]
        limit = 0xFFFF if len(parts) == 2 else 0xFFFFFFFF
        if all(part <= limit for part in parts):
            return value.strip()
    hint = ""
    if isinstance(value, int) and not isinstance(value, bool):
        hint = "; quote it: YAML 1.1 reads an unquoted 1234:1 as a number"
    raise PydanticCustomError(
        "community",
        "must be a BGP community aa:nn (two 16-bit numbers) or a large community aa:nn:mm (got {got}){hint}",
        {"got": _got(value), "hint": hint},
    )


CommunityValue = Annotated[str, BeforeValidator(check_community)]


def _strict_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    hint = ""
    if isinstance(value, str) and value.lower() in ("yes", "no", "on", "off", "y", "n", "true", "false"):
        hint = (
            "; YAML 1.1 reads yes/no/on/off as booleans and YAML 1.2 as strings: write true or false unquoted"
        )
    raise PydanticCustomError(
        "bool", "must be true or false (got {got}){hint}", {"got": _got(value), "hint": hint}
    )


Bool = Annotated[bool, BeforeValidator(_strict_bool)]


def _strict_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise PydanticCustomError("int", "must be an integer (got {got})", {"got": _got(value)})


Int = Annotated[int, BeforeValidator(_strict_int)]


def _strict_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    hint = "; quote it" if isinstance(value, int | float | bool) else ""
    raise PydanticCustomError(
        "string", "must be a string (got {got}){hint}", {"got": _got(value), "hint": hint}
    )


Str = Annotated[str, BeforeValidator(_strict_str)]


class OneOf:
    """Annotation marker of a string field whose values are ``supported`` (rackroute implements them)
    or ``refused`` (valid in the project's schema, not implemented here: refused with ``reason``, never
    ignored): ``Annotated[str, OneOf("Never", refused=("Always",), reason="...")]``."""

    def __init__(self, *supported: str, refused: tuple[str, ...] = (), reason: str = "") -> None:
        self.supported = supported
        self.refused = refused
        self.reason = reason

    def __call__(self, value: Any) -> str:
        if isinstance(value, str) and value in self.supported:
            return value
        if isinstance(value, str) and value in self.refused:
            raise PydanticCustomError(
                "not_supported",
                "{got} is not supported: {reason} (supported: {supported})",
                {"got": _got(value), "reason": self.reason, "supported": ", ".join(self.supported)},
            )
        every = ", ".join((*self.supported, *self.refused))
        raise PydanticCustomError(
            "one_of", "must be one of {every} (got {got})", {"every": every, "got": _got(value)}
        )

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self, handler(source))


class Refused:
    """Annotation marker of a field of the project's schema that rackroute does not implement: any
    value other than the ``harmless`` ones (which mean "off") is refused with ``reason``. Give the
    field the default None: absent is fine."""

    def __init__(self, reason: str, *harmless: Any) -> None:
        self.reason = reason
        self.harmless = harmless

    def __call__(self, value: Any) -> Any:
        if any(value == ok and type(value) is type(ok) for ok in self.harmless):
            return value
        raise PydanticCustomError("not_supported", "not supported: {reason}", {"reason": self.reason})

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self, handler(source))


def not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty", {})
    return value


Name = Annotated[str, BeforeValidator(_strict_str), AfterValidator(not_blank)]
