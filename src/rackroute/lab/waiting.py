"""Polling until a daemon reaches a state, failing with what was last seen instead of a bare timeout."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

SHOWN_STATE_LIMIT = 4000  # characters of the last observed state in a failure message


class WaitAborted(Exception):
    """Raised by an observer when waiting longer is pointless (the daemon exited); ends the wait at once."""


class WaitTimeout(AssertionError):
    """The awaited state did not arrive; the message shows the last observed state (an AssertionError
    so that pytest reports it as a failed expectation, not a crash)."""


def describe(value: object) -> str:
    """A readable, bounded rendering of an observed state (dicts and lists as indented JSON)."""
    try:
        text = json.dumps(value, indent=2, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > SHOWN_STATE_LIMIT:
        text = text[:SHOWN_STATE_LIMIT] + f"\n... ({len(text) - SHOWN_STATE_LIMIT} more characters)"
    return text


def wait_until(
    observe: Callable[[], T],
    predicate: Callable[[T], object] = bool,
    *,
    timeout: float = 30.0,
    interval: float = 0.25,
    what: str = "the expected state",
    context: Callable[[], str] | None = None,
) -> T:
    """Call ``observe()`` until ``predicate(observation)`` is true and return that observation.

    An exception from ``observe`` or ``predicate`` counts as "not yet" (a daemon that is still starting
    refuses connections); on timeout the last observation, or the last exception, is in the message,
    followed by ``context()`` (e.g. the tail of a daemon's log).
    """
    deadline = time.monotonic() + timeout
    last: str = "nothing observed"
    while True:
        try:
            observation = observe()
            if predicate(observation):
                return observation
            last = f"last observed state:\n{describe(observation)}"
        except WaitAborted:
            raise
        except Exception as error:  # any failure to observe means "not yet"
            last = f"last attempt raised {type(error).__name__}: {error}"
        if time.monotonic() >= deadline:
            extra = ""
            if context is not None:
                try:
                    extra = "\n" + context()
                except Exception as error:  # the context must not hide the timeout
                    extra = f"\n(context unavailable: {error})"
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}; {last}{extra}")
        time.sleep(interval)
