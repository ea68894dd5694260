"""Structured logs on stderr: one line per event, ``key=value`` (default) or JSON (``--log-format json``).

Modules log with the standard library and put fields in ``extra``::

    log.info("neighbor established", extra={"neighbor": "10.0.0.2", "remote_as": 65001})

    time=2024-05-01T10:00:00.123Z level=info logger=rackroute.speaker msg="neighbor established" neighbor=10.0.0.2 remote_as=65001

Any field whose name mentions a password or secret is written as ``<redacted>``: a TCP MD5 key must
never reach a log file, whoever logs it.

A burst of events (a thousand dynamic neighbours connecting at once) must not cost a write system
call each: lines go to a block-buffered stream that is flushed once per event-loop iteration (like
the speaker's BGP writes), at once for warnings and errors, and at exit. Caller file and line, thread
and process names are not recorded (the lines do not show them; the logging HOWTO's
"Optimization" switches).
"""

from __future__ import annotations

import asyncio
import io
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
_LEVEL_NAMES = {name.upper(): name for name in ("debug", "info", "warning", "error", "critical")}


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
        "level": _LEVEL_NAMES.get(record.levelname) or record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    extras = vars(record).keys() - _STANDARD_ATTRIBUTES  # usually none to four: look no further
    if extras:
        for name, value in vars(record).items():
            if name in extras and name[0] != "_":
                fields[name] = REDACTED if _is_secret(name) else value
    if record.exc_info and record.exc_info[1] is not None:
        fields["exception"] = logging.Formatter().formatException(record.exc_info)
    return fields


_RENDERED_KEPT = 4096
_rendered: dict[str, str] = {}  # string -> as written (bare or quoted): names and messages repeat


def _text_value(value: Any) -> str:
    if type(value) is str:
        rendered = _rendered.get(value)
        if rendered is None:
            # Quoting with JSON's escapes keeps a multi-line message (a ConfigError) on one line.
            rendered = value if _BARE_VALUE.fullmatch(value) else json.dumps(value)
            if len(_rendered) >= _RENDERED_KEPT:
                _rendered.clear()
            _rendered[value] = rendered
        return rendered
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return _text_value(str(value))


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join([f"{name}={_text_value(value)}" for name, value in event_fields(record).items()])


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(event_fields(record), default=str)


class IterationFlushedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes each record at once but flushes the stream once per event-loop
    iteration (``StreamHandler`` flushes after every line). Warnings and worse, records logged
    outside a running loop, and ``flush()`` itself (``logging.shutdown``) flush at once."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._flush_scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING or not self._flush_later():
            self.flush()

    def _flush_later(self) -> bool:
        """Flush at the loop's next iteration; False when no loop is running."""
        if self._flush_scheduled:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._flush_scheduled = True
        loop.call_soon(self._scheduled_flush)
        return True

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self.flush()


def buffered_stderr() -> TextIO:
    """Standard error as a block-buffered text stream (Python makes it line-buffered: a write
    system call per line); the file descriptor stays open when the wrapper goes. A replaced
    ``sys.stderr`` without a descriptor (tests capturing it) is used as it is."""
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both of the last two
        return sys.stderr
    raw = open(descriptor, "wb", buffering=0, closefd=False)  # noqa: SIM115
    return io.TextIOWrapper(
        io.BufferedWriter(raw, 1 << 16), encoding="utf-8", errors="backslashreplace", newline="\n"
    )


def configure_logging(log_format: str = "text", level: str = "info", stream: TextIO | None = None) -> None:
    """Send every logger's events to ``stream`` (stderr, block-buffered and flushed once per loop
    iteration) in ``log_format``; replaces other handlers."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: expected one of {', '.join(LOG_FORMATS)}")
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # no caller file/line lookup per record
    handler = IterationFlushedHandler(stream if stream is not None else buffered_stderr())
    handler.setFormatter(JsonFormatter() if log_format == "json" else KeyValueFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp logs each request at INFO through its access logger; the control API is not that chatty.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
