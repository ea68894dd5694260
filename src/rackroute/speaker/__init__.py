"""The asyncio BGP speaker runtime: listeners, dynamic neighbours, peers, timers.

Layer 3: imports layers 0-2.
"""
