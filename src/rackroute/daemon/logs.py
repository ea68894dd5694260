"""Structured logs on stderr: one line per event, ``key=value`` (default) or JSON (``--log-format json``).

Modules log with the standard library and put fields in ``extra``::

    log.info("neighbor established", extra={"neighbor": "10.0.0.2", "remote_as": 65001})

    time=2024-05-01T10:00:00.123Z level=info logger=rackroute.speaker msg="neighbor established" neighbor=10.0.0.2 remote_as=65001

Any field whose name mentions a password or secret is written as ``<redacted>``: a TCP MD5 key must
never reach a log file, whoever logs it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SECRET_FIELD = re.compile(r"password|secret|passphrase|token", re.IGNORECASE)
_BARE_VALUE = re.compile(r"[A-Za-z0-9_.:/@+<>\-\[\]]+")
REDACTED = "<redacted>"


_second_text: tuple[int, str] = (-1, "")  # the last formatted second: a burst of events shares it
_secret_names: dict[str, bool] = {}  # field name -> names a secret (field names are few)


def _time_text(created: float, msecs: float) -> str:
    global _second_text
    second = int(created)
    if _second_text[0] != second:
        _second_text = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_second_text[1]}.{int(msecs):03d}Z"


def _is_secret(name: str) -> bool:
    secret = _secret_names.get(name)
    if secret is None:
        secret = _secret_names[name] = _SECRET_FIELD.search(name) is not None
    return secret


def event_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields of one log event, in output order: time, level, logger, msg, then the extras."""
    fields: dict[str, Any] = {
        "time": _time_text(record.created, record.msecs),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for name, value in vars(record).items():
        if name not in _STANDARD_ATTRIBUTES and name[0] != "_":
            fields[name] = REDACTED if _is_secret(name) else value
    if record.exc_info and record.exc_info[1] is not None:
        fields["exception"] = logging.Formatter().formatException(record.exc_info)
    return fields


def _text_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    text = value if isinstance(value, str) else str(value)
    # Quoting with JSON's escapes keeps a multi-line message (a ConfigError) on one line.
    return text if _BARE_VALUE.fullmatch(text) else json.dumps(text)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{name}={_text_value(value)}" for name, value in event_fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(event_fields(record), default=str)


def configure_logging(log_format: str = "text", level: str = "info", stream: TextIO | None = None) -> None:
    """Send every logger's events to ``stream`` (stderr) in ``log_format``; replaces other handlers."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: expected one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else KeyValueFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp logs each request at INFO through its access logger; the control API is not that chatty.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
