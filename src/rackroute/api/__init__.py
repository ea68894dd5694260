"""REST API, Prometheus metrics and dashboard over the public methods of the layers below.

Layer 5: imports layers 0-4.
"""
