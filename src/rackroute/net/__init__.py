"""Value types shared by every layer: address families, prefixes, AS numbers, router IDs.

Layer 0: imports nothing from rackroute. Pure values, no I/O.
Implements the IANA AFI/SAFI numbering (RFC 4760) and the NLRI prefix encoding (RFC 4271 §4.3)
used as compact prefix keys throughout the RIB.
"""
