"""The node agent (datastore -> announcements -> speaker + fib) and the CNI plugin.

Layer 4: imports layers 0-3.
"""
