"""Composition root of the rackroute daemon.

Layer 6: imports layers 0-5; never imports ``rackroute.lab``.
"""
