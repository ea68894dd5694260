"""Commands registered by name and imported when they are used.

``rackroute status`` should not pay for what ``rackroute decode`` (dpkt, the BGP codec), ``rackroute
lab`` or ``rackroute speaker run`` (the daemon) import. The command line is therefore a table of
``name -> "module:attribute"``, where the attribute is a command function or a ``typer.Typer`` sub-app,
and ``LazyCommandGroup`` imports a module only when click resolves that name: to run the command, to
show its help, or to list every command in ``rackroute --help`` (which thus imports them all).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup


def load_command(name: str, target: str) -> Any:
    """The click command for ``target`` ("module:attribute"), built as ``app.command(name)`` /
    ``app.add_typer(sub_app, name=name)`` would have built it."""
    module_name, _, attribute = target.partition(":")
    # __import__ rather than importlib.import_module: `python -X importtime` reports only the former.
    implementation = getattr(__import__(module_name, fromlist=[attribute]), attribute)
    if isinstance(implementation, typer.Typer):
        command: Any = typer.main.get_group(implementation)
    else:
        holder = typer.Typer(add_completion=False)
        holder.command(name)(implementation)
        command = typer.main.get_command(holder)
    command.name = name
    return command


class LazyCommands(MutableMapping[str, Any]):
    """Name -> click command; a registered name is imported on first lookup.

    Iterating (``list_commands``, typer's "Did you mean ...?") yields names without importing.
    """

    def __init__(self, registry: Mapping[str, str], loaded: Mapping[str, Any]) -> None:
        self._registry = dict(registry)
        self._loaded: dict[str, Any] = dict(loaded)

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in self._registry:
                raise KeyError(name)  # ``get()`` answers None: click says "No such command"
            self._loaded[name] = load_command(name, self._registry[name])
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._registry.pop(name, None)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:  # the registry's order, whatever has been loaded
        yield from self._registry
        yield from (name for name in self._loaded if name not in self._registry)

    def __len__(self) -> int:
        return len(self._loaded.keys() | self._registry.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._registry


class LazyCommandGroup(TyperGroup):
    """A typer group whose ``commands`` are the class's ``registry``, imported on first use.

    Subclass it with ``registry = {...}`` and pass the subclass as ``typer.Typer(cls=...)``.
    """

    registry: Mapping[str, str] = {}

    def __init__(self, **attributes: Any) -> None:
        super().__init__(**attributes)
        self.commands = LazyCommands(self.registry, self.commands)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # names only: listing must not import every command
