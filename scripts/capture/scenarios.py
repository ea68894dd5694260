"""What happens during each captured session, step by step.

Every pair: the right side listens (passive), the left side connects, so each capture holds exactly
one TCP connection. After the initial exchange (OPEN, KEEPALIVE, UPDATEs, End-of-RIB) each scenario
triggers route refreshes and withdrawals, lets a few KEEPALIVEs pass and ends the session with a
Cease/Administrative Shutdown carrying an RFC 9003 shutdown communication.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .lab import Side, wait_for
from .speakers import Bird, Frr, Gobgp, Speaker

LEFT_IPV4, RIGHT_IPV4 = "10.179.0.1", "10.179.0.2"
LEFT_IPV6, RIGHT_IPV6 = "fd00:179::1", "fd00:179::2"
LEFT_MAC, RIGHT_MAC = "02:00:00:00:01:01", "02:00:00:00:01:02"
KEEPALIVE_PAUSE = 4.0  # hold time 9 s, keepalive 3 s: at least one KEEPALIVE each way


@dataclass(frozen=True, slots=True)
class Pair:
    name: str  # "frr-bird": also the vector file stem and the config directory
    left: str  # speaker kind on the connecting side
    right: str  # speaker kind on the listening side
    left_peer: str  # how the left speaker's CLI names its neighbour
    right_peer: str
    expect_left: dict[str, set[str]]  # prefixes the left side must have learned before the scenario runs
    expect_right: dict[str, set[str]]
    scenario: Callable[[Speaker, Speaker, Callable[[str], None]], None]
    gobgp_routes: tuple[tuple[str, ...], ...] = ()  # `gobgp global rib add` arguments, before connecting
    asns: tuple[int, int] = (0, 0)  # (left, right): for the vector files' header
    four_octet_as: bool = True  # False: AS_PATH is 2-octet on the wire (tells tshark, see tshark_fields)
    description: str = ""

    def sides(self) -> tuple[Side, Side]:
        return (
            Side(self.left, f"rrt-cap-{self.left}", LEFT_IPV4, LEFT_IPV6, LEFT_MAC),
            Side(self.right, f"rrt-cap-{self.right}", RIGHT_IPV4, RIGHT_IPV6, RIGHT_MAC),
        )


def settle(seconds: float = 1.0) -> None:
    time.sleep(seconds)


def frr_bird(frr: Speaker, bird: Speaker, log: Callable[[str], None]) -> None:
    assert isinstance(frr, Frr) and isinstance(bird, Bird)
    log("  FRR asks for a refresh of IPv4 (BIRD answers with BoRR ... EoRR, RFC 7313)")
    frr.command(f"clear bgp ipv4 unicast {RIGHT_IPV4} soft in")
    settle()
    log("  BIRD asks for a refresh of both families")
    bird.command("reload", "in", "frr")
    settle()
    log("  FRR withdraws 10.1.2.0/24 and fd00:1:2::/48; BIRD withdraws fd00:2:2::/48")
    frr.configure("address-family ipv4 unicast", "no network 10.1.2.0/24")
    frr.configure("address-family ipv6 unicast", "no network fd00:1:2::/48")
    bird.command("disable", "static6_extra")
    settle(KEEPALIVE_PAUSE)
    log("  FRR shuts the session down with a shutdown communication")
    frr.configure(f"neighbor {RIGHT_IPV4} shutdown message rack maintenance: draining before reboot")
    wait_for("session down", lambda: not bird.established("frr"), timeout=15)


def frr_gobgp(frr: Speaker, gobgp: Speaker, log: Callable[[str], None]) -> None:
    assert isinstance(frr, Frr) and isinstance(gobgp, Gobgp)
    # GoBGP keeps its Adj-RIB-In, so its soft reset never sends a ROUTE-REFRESH: only FRR asks.
    log("  FRR asks for a refresh of IPv6")
    frr.command(f"clear bgp ipv6 unicast {RIGHT_IPV4} soft in")
    settle()
    log("  GoBGP withdraws 10.3.1.0/24 and fd00:3:2::/48; FRR withdraws 10.1.2.0/24")
    gobgp.command("global", "rib", "del", "10.3.1.0/24")
    gobgp.command("global", "rib", "del", "-a", "ipv6", "fd00:3:2::/48")
    frr.configure("address-family ipv4 unicast", "no network 10.1.2.0/24")
    settle(KEEPALIVE_PAUSE)
    log("  FRR shuts the session down with a shutdown communication")
    frr.configure(f"neighbor {RIGHT_IPV4} shutdown message leaving the fabric for a kernel upgrade")
    wait_for("session down", lambda: not gobgp.established(LEFT_IPV4), timeout=15)


def bird_gobgp(bird: Speaker, gobgp: Speaker, log: Callable[[str], None]) -> None:
    assert isinstance(bird, Bird) and isinstance(gobgp, Gobgp)
    log("  BIRD asks for a refresh (GoBGP supports plain route refresh only)")
    bird.command("reload", "in", "gobgp")
    settle()
    log("  BIRD withdraws 10.2.2.0/24; GoBGP withdraws fd00:3:1::/48")
    bird.command("disable", "static4_extra")
    gobgp.command("global", "rib", "del", "-a", "ipv6", "fd00:3:1::/48")
    settle(KEEPALIVE_PAUSE)
    log("  BIRD shuts the session down with a shutdown communication")
    bird.command("disable", "gobgp", '"planned maintenance (ticket 4711)"')
    wait_for("session down", lambda: not gobgp.established(LEFT_IPV4), timeout=15)


PAIRS: dict[str, Pair] = {
    "frr-bird": Pair(
        name="frr-bird",
        left="frr",
        right="bird",
        left_peer=RIGHT_IPV4,
        right_peer="frr",
        expect_left={"ipv4": {"10.2.1.0/24", "10.2.2.0/24"}, "ipv6": {"fd00:2:1::/48", "fd00:2:2::/48"}},
        expect_right={"ipv4": {"10.1.1.0/24", "10.1.2.0/24", "10.1.0.0/16"}, "ipv6": {"fd00:1:1::/48"}},
        scenario=frr_bird,
        asns=(4200000001, 65002),
        description=(
            "eBGP, 4-octet AS; ADD-PATH both ways on IPv4; IPv6 with global + link-local next hops; "
            "communities (incl. well-known), extended and large communities, MED, aggregates with "
            "ATOMIC_AGGREGATE and with an AS_SET, graceful restart, long-lived GR, FQDN, extended "
            "messages, route refresh with BoRR/EoRR (RFC 7313), End-of-RIB, withdrawals, and a "
            "Cease/Administrative Shutdown with a shutdown communication (RFC 9003)"
        ),
    ),
    "frr-gobgp": Pair(
        name="frr-gobgp",
        left="frr",
        right="gobgp",
        left_peer=RIGHT_IPV4,
        right_peer=LEFT_IPV4,
        expect_left={"ipv4": {"10.3.1.0/24", "10.3.2.0/24"}, "ipv6": {"fd00:3:1::/48"}},
        expect_right={"ipv4": {"10.1.1.0/24", "10.1.2.0/24"}, "ipv6": {"fd00:1:1::/48"}},
        scenario=frr_gobgp,
        asns=(4200000001, 4200000001),
        description=(
            "iBGP in a 4-octet AS: LOCAL_PREF, empty AS_PATH; GoBGP sends two paths for one prefix "
            "with ADD-PATH; AGGREGATOR, NO_EXPORT/NO_PEER communities, site-of-origin extended "
            "community, large communities, IPv6 over the IPv4 session, route refresh, End-of-RIB, "
            "withdrawals (IPv4 field and MP_UNREACH_NLRI), and a shutdown communication"
        ),
        gobgp_routes=(
            (
                *("10.3.1.0/24", "nexthop", RIGHT_IPV4, "local-pref", "300", "med", "30"),
                *("community", "64512:301,65535:65284", "large-community", "4200000001:3:3"),
            ),
            ("10.3.2.0/24", "identifier", "10", "nexthop", RIGHT_IPV4, "origin", "egp"),
            (
                "10.3.2.0/24",
                "identifier",
                "11",
                "nexthop",
                "10.179.0.22",
                "aggregator",
                "4200000001:10.179.0.2",
            ),
            ("-a", "ipv6", "fd00:3:1::/48", "nexthop", RIGHT_IPV6, "community", "64512:600"),
            ("-a", "ipv6", "fd00:3:2::/48", "nexthop", RIGHT_IPV6),
        ),
    ),
    "bird-gobgp": Pair(
        name="bird-gobgp",
        left="bird",
        right="gobgp",
        left_peer="gobgp",
        right_peer=LEFT_IPV4,
        expect_left={"ipv4": {"10.3.1.0/24"}, "ipv6": {"fd00:3:1::/48"}},
        expect_right={"ipv4": {"10.2.1.0/24", "10.2.2.0/24"}, "ipv6": {"fd00:2:1::/48"}},
        scenario=bird_gobgp,
        asns=(65002, 65003),
        four_octet_as=False,
        description=(
            "eBGP with a 2-octet-only BIRD (no 4-octet AS capability): GoBGP sends AS_TRANS in "
            "AS_PATH and the real path, with an AS_SET, in AS4_PATH (RFC 6793); extended next hop "
            "negotiated, so BIRD sends IPv4 routes in MP_REACH_NLRI (RFC 8950); route refresh, "
            "End-of-RIB, withdrawals, and a shutdown communication sent by BIRD"
        ),
        gobgp_routes=(
            (
                *("10.3.1.0/24", "aspath", "4200000099 {65010,4200000010}", "med", "5"),
                *("community", "64512:31", "large-community", "65003:1:1"),
            ),
            ("-a", "ipv6", "fd00:3:1::/48", "nexthop", RIGHT_IPV6, "aspath", "65030"),
            ("-a", "ipv6", "fd00:3:2::/48", "nexthop", RIGHT_IPV6),
        ),
    ),
}
