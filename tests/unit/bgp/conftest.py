"""Hypothesis without a per-example deadline: on the shared 2-core machine a loaded moment makes a
200 ms deadline fail examples that are correct (DeadlineExceeded, then FlakyFailure). The examples
and their assertions are unchanged; only the wall-clock limit goes. Hypothesis settings are global:
loaded here, this profile applies to every test of a run that collects this directory."""

from hypothesis import settings

settings.register_profile("no-deadline", deadline=None)
settings.load_profile("no-deadline")
