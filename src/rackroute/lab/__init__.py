"""The emulated data center in Linux network namespaces.

Layer 6: imports layers 0-5; never imported by the daemon.
"""
