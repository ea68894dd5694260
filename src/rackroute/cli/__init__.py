"""The ``rackroute`` command line: operator tools and clients of the REST API.

Layer 7: may import every layer.
"""
