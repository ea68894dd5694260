"""What ``rackroute speaker validate`` reports about a configuration file.

Neighbour settings are shown as they take effect (the neighbour's own value, else its peer group's).
Passwords are never shown, only whether one is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api.endpoint import parse_listen_address
from ..daemon.config_file import load_config
from ..speaker.config import ConfigError, NeighborSettings, SpeakerConfig


@dataclass(frozen=True, slots=True)
class ValidationReport:
    file: Path
    config: SpeakerConfig | None = None
    errors: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        if self.config is None:
            return {"valid": False, "file": str(self.file), "errors": list(self.errors)}
        return {"valid": True, "file": str(self.file), **config_summary(self.config)}

    def summary_lines(self) -> list[str]:
        assert self.config is not None
        return [f"OK: {self.file}", *summary_lines(self.config)]


def validation_report(file: Path) -> ValidationReport:
    try:
        config = load_config(file)
    except ConfigError as error:
        return ValidationReport(file, errors=tuple(str(error).splitlines()))
    try:
        parse_listen_address(config.control_api.listen)
    except ValueError as error:
        return ValidationReport(file, errors=(f"{file}: control_api.listen: {error}",))
    return ValidationReport(file, config)


def _effective(config: SpeakerConfig, settings: NeighborSettings, group: str | None, name: str) -> Any:
    value = getattr(settings, name)
    if value is None and group is not None:
        value = getattr(config.peer_groups[group], name)
    return value


def _neighbor_summary(config: SpeakerConfig, settings: NeighborSettings, group: str | None) -> dict[str, Any]:
    return {
        "remote_as": _effective(config, settings, group, "remote_as"),
        "group": group,
        "description": _effective(config, settings, group, "description"),
        "route_reflector_client": bool(_effective(config, settings, group, "route_reflector_client")),
        "passive": bool(_effective(config, settings, group, "passive")),
        "password": _effective(config, settings, group, "password") is not None,
    }


def config_summary(config: SpeakerConfig) -> dict[str, Any]:
    return {
        "router_id": config.router_id,
        "local_as": config.local_as,
        "families": list(config.families),
        "listen": [
            f"[{a}]:{config.listen_port}" if ":" in a else f"{a}:{config.listen_port}"
            for a in config.listen_addresses
        ],
        "neighbors": [
            {"address": n.address, **_neighbor_summary(config, n, n.group)} for n in config.neighbors
        ],
        "listen_ranges": [
            {"prefix": r.prefix, "limit": r.limit, **_neighbor_summary(config, r, r.group), "passive": True}
            for r in config.listen_ranges
        ],
        "announcements": [a.prefix for a in config.announce],
        "policies": sorted(config.policies),
        "graceful_restart": config.graceful_restart.enabled,
        "fib": _fib_summary(config),
        "control_api": config.control_api.listen,
    }


def _fib_summary(config: SpeakerConfig) -> str:
    fib = config.fib
    if not fib.enabled:
        return "off (control-plane only)"
    blocks = f", local blocks {', '.join(fib.local_blocks)}" if fib.local_blocks else ""
    return f"kernel table {fib.table}, protocol {fib.protocol}{blocks} (needs root)"


def _peer_line(entry: dict[str, Any], key: str) -> str:
    words = [f"AS {entry['remote_as'] if entry['remote_as'] is not None else '?'}"]
    if "limit" in entry:
        words.append(f"up to {entry['limit']}")
    words += [f"group {entry['group']}"] if entry["group"] else []
    words += ["RR client"] if entry["route_reflector_client"] else []
    words += ["passive"] if entry["passive"] and "limit" not in entry else []  # ranges always are
    words += ["TCP MD5"] if entry["password"] else []
    description = f"  ({entry['description']})" if entry["description"] else ""
    return f"    {entry[key]:<20} {', '.join(words)}{description}"


def _line(label: str, value: object) -> str:
    return f"  {label:<19}{value}"


def summary_lines(config: SpeakerConfig) -> list[str]:
    summary = config_summary(config)
    restart = config.graceful_restart
    return [
        _line("speaker", f"router ID {summary['router_id']}, AS {summary['local_as']}"),
        _line("families", ", ".join(summary["families"])),
        _line("listen", ", ".join(summary["listen"]) or "nowhere (connects out only)"),
        _line("neighbours", len(summary["neighbors"])),
        *(_peer_line(n, "address") for n in summary["neighbors"]),
        _line("listen ranges", len(summary["listen_ranges"])),
        *(_peer_line(r, "prefix") for r in summary["listen_ranges"]),
        _line("announcements", len(summary["announcements"])),
        *(f"    {prefix}" for prefix in summary["announcements"]),
        _line("policies", ", ".join(summary["policies"]) or "none"),
        _line("graceful restart", f"on, restart time {restart.restart_time} s" if restart.enabled else "off"),
        _line("control API", summary["control_api"]),
        _line("fib", summary["fib"]),
    ]
