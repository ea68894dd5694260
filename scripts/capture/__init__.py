"""Helpers of scripts/capture_vectors.py: namespaces, the three daemons, scenarios, vector files."""
