"""The BGP-4 protocol, sans-IO: wire codec, path attributes, capabilities, messages, FSM, Session.

Layer 1: imports only ``rackroute.net``. No asyncio, sockets, clocks or logging handlers: bytes and
``now`` in, events and bytes out.
RFCs: 4271 (BGP-4), 4760 (multiprotocol), 5492 (capabilities), 9072 (extended optional parameters
length), 4486/9003 (cease subcodes, shutdown communication), 2918/7313 (route refresh, enhanced),
1997 (communities), 4360 (extended communities), 8092 (large communities), 4456 (route reflection
attributes), 6793 (4-octet AS), 8950 (extended next hop), 4724/8538 (graceful restart), 9494
(long-lived GR), 7911 (ADD-PATH), 7606 (revised UPDATE error handling), 6608 (FSM error subcodes),
8654 (extended messages).
"""
