"""A BGP load generator for benchmarking rackroute against BIRD, FRR and GoBGP (bgperf-style).

It runs as its own process, plays *testers* that announce routes and *monitors* that receive them,
and times the device under test (DUT) from the first announcement until every monitor holds every
expected prefix. Everything it sends is encoded before the clock starts, with rackroute's sans-IO
codec (``rackroute.bgp``); monitors count prefixes from the UPDATE field lengths instead of decoding
(``tally``), and the stream is checked against the expected routes after the clock (``verify``).

Modules: ``plan`` (addresses and prefixes), ``encode`` (pre-encoded messages), ``tally`` (the
receive path), ``engine`` (the epoll loop and sessions), ``run`` (clock and report), ``ingest``,
``fanout`` (rr-fanout and churn), ``verify``, ``relayproc`` (starts ``bench/relay.py``), ``cli``.
Loopback (127.0.0.0/8) only; RFC 4271 (framing, FSM), RFC 4724 (graceful restart, End-of-RIB),
RFC 4456 (what a reflector keeps), RFC 6793 (4-octet AS).
"""

from .fanout import ChurnSettings, FanoutSettings, run_churn, run_fanout
from .ingest import IngestSettings, run_ingest
from .plan import FanoutPlan
from .relayproc import RelayProcess
from .run import Limits, Target

__all__ = [
    "ChurnSettings",
    "FanoutPlan",
    "FanoutSettings",
    "IngestSettings",
    "Limits",
    "RelayProcess",
    "Target",
    "run_churn",
    "run_fanout",
    "run_ingest",
]
