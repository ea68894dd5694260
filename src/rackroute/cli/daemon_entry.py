"""How a daemon's command hands its parsed options to the running daemon: one mechanism for
``rackroute speaker run`` (``cli.speaker_run``) and ``rackroute agent`` (``cli.agent_run``).

typer parses the command line; the same process (same PID, for supervisors, signals and kill -9) then
execs into ``python -m rackroute.cli.<daemon>_run OPTIONS_JSON``, whose module imports neither typer,
click nor rich (issues 11 and 13: a few MiB of each daemon's resident set). Each run module declares
its ``DaemonEntry``: the option names and types the command passes, checked on both sides of the exec.
This module imports only the standard library, so the running daemons can use it.

Started any other way, the entry says how to start the daemon: ``--help`` prints it (exit 0); missing,
malformed, unknown or mistyped options print it with what is wrong on stderr (exit 2, no traceback).
After that, the exit status is the daemon's own.
"""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, get_args

HELP = ("--help", "-h")


def _accepts(kind: Any, value: Any) -> bool:
    """A JSON value for an option of type ``kind`` (str, bool, int, float, or a union with None)."""
    if isinstance(kind, types.UnionType):
        return any(_accepts(member, value) for member in get_args(kind))
    if kind is type(None):
        return value is None
    if kind is float:  # JSON writes 30.0 as 30.0, but a hand-written 30 is as good
        return type(value) in (int, float)
    return type(value) is kind  # bool is an int in Python, not for an option


def _type_name(kind: Any) -> str:
    return str(kind) if isinstance(kind, types.UnionType) else str(kind.__name__)


@dataclass(frozen=True, slots=True)
class DaemonEntry:
    command: str  # the command that parses the options: "rackroute agent"
    usage: str  # how an operator starts it: "rackroute agent --node NAME"
    module: str  # the module exec'd into: "rackroute.cli.agent_run"
    options: Mapping[str, Any]  # option name -> its type, exactly what the command passes

    def parse(self, argv: list[str]) -> dict[str, Any]:
        """The options in ``argv[1]``; ValueError naming what is wrong."""
        if len(argv) != 2:
            raise ValueError("no options given" if len(argv) < 2 else f"unexpected arguments {argv[2:]}")
        try:
            options = json.loads(argv[1])
        except ValueError:
            raise ValueError("the options are not JSON") from None
        if not isinstance(options, dict):
            raise ValueError("the options are not a JSON object")
        unknown = sorted(options.keys() - self.options.keys())
        if unknown:
            raise ValueError(f"unknown options {', '.join(unknown)}")
        for name, kind in self.options.items():
            if name not in options:
                raise ValueError(f"option {name!r} missing")
            if not _accepts(kind, options[name]):
                raise ValueError(f"option {name!r} must be {_type_name(kind)}, not {options[name]!r}")
        return options

    def help_text(self) -> str:
        listed = ", ".join(f"{name} ({_type_name(kind)})" for name, kind in self.options.items())
        return (
            f"usage: python -m {self.module} OPTIONS_JSON\n\n"
            f"The running daemon of `{self.command}`, which parses its command line and execs into this"
            f" module under the same PID. Start it as `{self.usage}` (`{self.command} --help` lists the"
            f" options).\nOPTIONS_JSON is one JSON object with exactly: {listed}.\n"
        )

    def main(self, argv: list[str], run: Callable[[dict[str, Any]], int]) -> int:
        """The entry module's ``__main__``: ``run(options)``'s exit status, 0 for help, 2 for bad ones."""
        if len(argv) == 2 and argv[1] in HELP:
            print(self.help_text(), end="")
            return 0
        try:
            options = self.parse(argv)
        except ValueError as error:
            print(f"{self.command}: start it as `{self.usage}` ({error})", file=sys.stderr)
            return 2
        return run(options)

    def exec_into(self, options: dict[str, Any]) -> NoReturn:
        """Become the running daemon (same PID): the command's side of the exec."""
        json_options = json.dumps(options)
        self.parse([self.module, json_options])  # the command and its daemon agree, or this raises
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", self.module, json_options])


__all__ = ["DaemonEntry"]
