"""Kernel route programming: a pure diff plan plus one thin netlink module.

Layer 3: imports layers 0-2.
"""
