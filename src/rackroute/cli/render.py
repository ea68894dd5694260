"""Tables for ``rackroute status`` and ``rackroute routes``, drawn from the API's JSON.

Rendering works on the JSON (the ``rackroute.speaker.status`` field names), so what the table shows
is exactly what ``--json`` documents.
"""

from __future__ import annotations

import time
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

STATE_STYLES = {"Established": "green", "Idle": "red", "Active": "yellow", "Connect": "yellow"}
UNLIMITED_WIDTH = 10_000
WRAPPED_TEXT_WIDTH = 20
TYPE_WIDTH = 14  # "iBGP, dynamic," over "RR client"
ROUTE_LEGEND = "> best   = multipath (ECMP)   S stale (graceful restart)"


def format_duration(seconds: float | None) -> str:
    """``3d04h``, ``2h05m``, ``4m09s``, ``12s``: the two largest units, as operators read uptimes."""
    if seconds is None:
        return ""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def format_since(timestamp: float, now: float | None = None) -> str:
    """Local time of day within the last 24 hours, else the date (like ``birdc show protocols``)."""
    now = time.time() if now is None else now
    moment = time.localtime(timestamp)
    if 0 <= now - timestamp < 86400:
        return time.strftime("%H:%M:%S", moment)
    return time.strftime("%Y-%m-%d", moment)


def peer_type(peer: dict[str, Any]) -> str:
    words = ["iBGP" if peer["peer_type"] == "internal" else "eBGP"]
    if peer["dynamic"]:
        words.append("dynamic")
    if peer["route_reflector_client"]:
        words.append("RR client")
    return ", ".join(words)


def prefix_counts(peer: dict[str, Any]) -> str:
    """``received/accepted/advertised`` per family (``v4``/``v6`` when there are several)."""
    families = peer["families"]
    if not families:
        return "-"
    lines = []
    for counters in families:
        counts = f"{counters['received']}/{counters['accepted']}/{counters['advertised']}"
        if counters["stale"]:
            counts += f" ({counters['stale']} stale)"
        label = counters["family"].split("-")[0].replace("ip", "")
        lines.append(f"{label} {counts}" if len(families) > 1 else counts)
    return "\n".join(lines)


def status_header(status: dict[str, Any]) -> str:
    routes = ", ".join(f"{family} {count}" for family, count in sorted(status["routes"].items()))
    text = (
        f"rackroute speaker: router ID {status['router_id']}, AS {status['local_as']}, "
        f"up {format_duration(status['uptime'])}"
    )
    if status["restarting"]:
        text += ", restarting (best path and FIB deferred until End-of-RIB)"
    return f"{text}\nLoc-RIB: {routes or 'empty'}"


def status_table(status: dict[str, Any], now: float | None = None, text_width: int | None = None) -> Table:
    """The neighbours' table; ``text_width`` wraps the free-text columns (graceful restart, last
    error) at that width."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for column in ("Neighbor", "AS"):
        table.add_column(column, no_wrap=True)
    table.add_column("Type", max_width=text_width and TYPE_WIDTH)
    for column in ("State", "Since", "Uptime", "Prefixes\nrcv/acc/adv"):
        table.add_column(column, no_wrap=True)
    table.add_column("Graceful\nrestart", max_width=text_width)
    table.add_column("Last error", max_width=text_width)
    for peer in status["peers"]:
        neighbor = Text(peer["address"])
        if peer["description"]:
            neighbor.append(f"\n{peer['description']}", style="dim")
        table.add_row(
            neighbor,
            _remote_as(peer),
            peer_type(peer),
            _state_cell(peer),
            format_since(peer["since"], now),
            format_duration(peer["uptime"]),
            prefix_counts(peer),
            peer["graceful_restart"],
            peer["last_error"] or "",
        )
    return table


def _remote_as(peer: dict[str, Any]) -> str:
    return str(peer["remote_as"]) if peer["remote_as"] is not None else "?"


def _state(peer: dict[str, Any]) -> Text:
    return Text(peer["state"], style=STATE_STYLES.get(peer["state"], ""))


def _state_cell(peer: dict[str, Any]) -> Text:
    """The state, with the BFD session's state and a hold under it (docs/bfd.md)."""
    text = _state(peer)
    if peer.get("bfd"):
        text.append(f"\nBFD {peer['bfd']}", style="dim")
    if peer.get("held"):
        text.append("\nheld down", style="red")
    return text


def status_blocks(status: dict[str, Any], now: float | None = None) -> list[Text]:
    """One block per neighbour, for terminals too narrow for the table (``birdc show protocols all``)."""
    blocks = []
    for peer in status["peers"]:
        block = Text(peer["address"], style="bold")
        block.append(f" ({peer['description']})" if peer["description"] else "")
        block.append(f"  AS {_remote_as(peer)}  {peer_type(peer)}\n  ")
        block.append_text(_state(peer))
        block.append(f" since {format_since(peer['since'], now)}")
        block.append(f", up {format_duration(peer['uptime'])}" if peer["uptime"] is not None else "")
        counts = prefix_counts(peer).replace("\n", ", ")
        block.append(f"\n  prefixes rcv/acc/adv: {counts}\n  graceful restart: {peer['graceful_restart']}")
        block.append(f"\n  last error: {peer['last_error']}" if peer["last_error"] else "")
        block.append(f"\n  BFD: {peer['bfd']}" if peer.get("bfd") else "")
        block.append(f"\n  held down: {peer['held']}" if peer.get("held") else "")
        blocks.append(block)
    return blocks


def print_status(console: Console, status: dict[str, Any], now: float | None = None) -> None:
    console.print(status_header(status), highlight=False)
    if not status["peers"]:
        console.print("No neighbours (configured or dynamic).")
        return
    # The whole table if it fits, else with its free-text columns wrapped, else a block per neighbour.
    unlimited = console.options.update(max_width=UNLIMITED_WIDTH)
    for text_width in (None, WRAPPED_TEXT_WIDTH):
        table = status_table(status, now, text_width)
        if Measurement.get(console, unlimited, table).maximum <= console.width:
            console.print(table)
            return
    for block in status_blocks(status, now):
        console.print(block, highlight=False)


def path_flags(path: dict[str, Any]) -> str:
    return ("S" if path["stale"] else " ") + (">" if path["best"] else "=" if path["multipath"] else " ")


def _optional(value: Any) -> str:
    return "" if value is None else str(value)


def _path_row(route: dict[str, Any], path: dict[str, Any], first: bool) -> dict[str, str]:
    return {
        "": path_flags(path),
        "Prefix": route["prefix"] if first else "",
        "Next hop": path["next_hop"],
        "From": path["peer"],
        "AS path": path["as_path"] or "-",
        "Origin": path["origin"],
        "LocPref": _optional(path["local_pref"]),
        "MED": _optional(path["med"]),
        "Communities": " ".join(list(path["communities"]) + list(path["large_communities"])),
        "Best because": route["reason"] if path["best"] else "",
    }


# Shown only when some path has a value: most fabrics set no MED and no communities.
OPTIONAL_ROUTE_COLUMNS = ("LocPref", "MED", "Communities")


def routes_table(routes: list[dict[str, Any]]) -> Table:
    rows = [_path_row(r, p, i == 0) for r in routes for i, p in enumerate(r["paths"])]
    shown = [
        column
        for column in (rows[0] if rows else ())
        if column not in OPTIONAL_ROUTE_COLUMNS or any(row[column] for row in rows)
    ]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for column in shown:
        if column in ("", "Prefix", "Next hop", "From"):  # never cut an address
            table.add_column(column, no_wrap=True, min_width=max(len(row[column]) for row in rows))
        elif column in ("LocPref", "MED"):
            table.add_column(column, overflow="fold", justify="right")
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(row[column] for column in shown))
    return table


def routes_footer(routes: list[dict[str, Any]]) -> str:
    paths = sum(len(route["paths"]) for route in routes)
    return f"{len(routes)} prefixes, {paths} paths.   {ROUTE_LEGEND}"
