#!/usr/bin/env python3
"""The ``rackroute`` CNI plugin: forwards a runtime's request to the node agent, prints the answer.

Standard library only, imports nothing of rackroute (``rackroute cni install`` writes it, compiled
by ``launcher``, to /opt/cni/bin/rackroute, run with ``python -I -S``). What it checks itself is what needs no
state: the environment the CNI specification requires per command (error 4), the JSON of the network
configuration (6), its required fields (7), the cniVersion (1). Everything else — IPAM, the veth, the
routes, the result — is the agent's, reached over its unix socket:

    request  (one JSON object, then the plugin shuts its write side)
        {"command", "containerID", "netns", "ifname", "args": {CNI_ARGS as a dict}, "path",
         "config": {the network configuration as received, prevResult included}}
    answer   (one JSON object, then the agent closes)
        {"result": {...}}  printed as is, exit 0   |   {"error": {"code", "msg", "details"}}  exit 1

The agent unreachable (no socket, refused, no answer within ``timeout`` seconds, default 30) is CNI
error 11, "try again later": the runtime retries; the plugin never hangs longer than the timeout.
Every failure, including one of this file's own, is a CNI error object on stdout, never a traceback.

Start-up is most of a call (the agent's work is a few milliseconds): the plugin imports only modules
built into the interpreter or its C extensions (``_json``, ``_socket``, ``posix``, ``sys``, ``time``),
about 10 ms less CPU per exec than ``json`` + ``socket`` + ``typing``; bench/cni.py measures it. Not
``os`` either (it imports stat, posixpath and _collections_abc: ~2 ms of CPU per exec): the
environment is ``posix.environ``, which the interpreter loaded at start. The annotations are strings
and there is no ``from __future__ import annotations``: that statement also runs an import of
``__future__`` at each exec.
"""

import _json  # the C half of ``json``: ``import json`` pulls in re, enum, typing (~10 ms of a start)
import _socket  # likewise: ``socket`` imports enum and selectors; the plain socket type is all we use
import posix  # loaded at interpreter start (``os`` re-exports it); Linux only, as CNI is
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (never evaluated): importing typing costs ~4 ms at each exec
    from collections.abc import Callable, Mapping
    from typing import Any

    Transport = Callable[[str, Mapping[str, Any], float], dict[str, Any]]

SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
DEFAULT_SOCKET = "/var/run/rackroute/cni.sock"
DEFAULT_TIMEOUT = 30.0
MAX_ANSWER = 4 << 20

# CNI specification, "Error codes" (well-known codes 1-99).
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11

# Which environment variables each command needs (CNI spec, "Parameters").
REQUIRED_ENVIRONMENT = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "STATUS": (),
    "GC": (),
    "VERSION": (),
}
# The first version of the specification that has a command (older configs must not use it).
FIRST_VERSION = {"CHECK": "0.4.0", "STATUS": "1.1.0", "GC": "1.1.0"}


class _JsonSettings:
    """What ``_json.make_scanner`` reads of a ``json.JSONDecoder``: the defaults of ``json.loads``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__


_scan = _json.make_scanner(_JsonSettings())  # type: ignore[arg-type]  # typeshed wants a JSONDecoder; the scanner reads only these attributes


def _no_default(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# json.dumps(value, separators=(",", ":")) with the C encoder (markers None: values are trees).
_encode = _json.make_encoder(
    None, _no_default, _json.encode_basestring_ascii, None, ":", ",", False, False, True
)


def json_loads(data: "bytes | str") -> "Any":
    """``json.loads`` with the C scanner; raises ``ValueError`` (``UnicodeDecodeError`` is one)."""
    text = (data.decode() if isinstance(data, bytes) else data).strip(" \t\n\r")
    try:
        value, end = _scan(text, 0)
    except Exception:  # malformed (the C scanner cannot raise JSONDecodeError before json is loaded)
        import json  # only on this error path: for its exact message

        return json.loads(text)  # raises json.JSONDecodeError, a ValueError
    if end != len(text):
        raise ValueError(f"extra data at offset {end}")
    return value


def json_dumps(value: "Any") -> str:
    return "".join(_encode(value, 0))


class CniError(Exception):
    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_json(self, version: str) -> "dict[str, Any]":
        error: dict[str, Any] = {"cniVersion": version, "code": self.code, "msg": self.msg}
        if self.details:
            error["details"] = self.details
        return error


def version_tuple(version: str) -> "tuple[int, ...]":
    return tuple(int(part) for part in version.split("."))


def parse_cni_args(text: str) -> "dict[str, str]":
    """``CNI_ARGS``: ``K1=V1;K2=V2`` (the spec's alphanumeric keys; runtimes add K8S_POD_NAME...)."""
    args: dict[str, str] = {}
    for item in text.split(";"):
        if not item:
            continue
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise CniError(INVALID_ENVIRONMENT, "CNI_ARGS is not K=V;K=V", f"bad item {item!r}")
        args[key] = value
    return args


def parse_config(stdin: bytes) -> "dict[str, Any]":
    try:
        config = json_loads(stdin)
    except ValueError as error:
        raise CniError(DECODE_FAILURE, "network configuration is not JSON", str(error)) from None
    if not isinstance(config, dict):
        raise CniError(DECODE_FAILURE, "network configuration is not a JSON object")
    for field in ("cniVersion", "name", "type"):
        if not isinstance(config.get(field), str) or not config[field]:
            raise CniError(INVALID_CONFIG, f"network configuration without {field!r}")
    return config


def check_version(command: str, version: str) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            INCOMPATIBLE_VERSION,
            f"cniVersion {version} is not supported",
            f"supported: {', '.join(SUPPORTED_VERSIONS)}",
        )
    first = FIRST_VERSION.get(command)
    if first and version_tuple(version) < version_tuple(first):
        raise CniError(INCOMPATIBLE_VERSION, f"{command} needs cniVersion {first} or later (got {version})")


def build_request(env: "Mapping[str, str]", stdin: bytes) -> "tuple[str, dict[str, Any]]":
    """(command, the request for the agent); raises ``CniError`` for what is wrong without state."""
    command = env.get("CNI_COMMAND", "")
    if command not in REQUIRED_ENVIRONMENT:
        raise CniError(
            INVALID_ENVIRONMENT, f"unknown CNI_COMMAND {command!r}", "ADD DEL CHECK STATUS GC VERSION"
        )
    if command == "VERSION":
        return command, {}
    missing = [name for name in REQUIRED_ENVIRONMENT[command] if not env.get(name)]
    if missing:
        raise CniError(INVALID_ENVIRONMENT, f"{command} without {', '.join(missing)}")
    config = parse_config(stdin)
    check_version(command, config["cniVersion"])
    request = {
        "command": command,
        "containerID": env.get("CNI_CONTAINERID", ""),
        "netns": env.get("CNI_NETNS", ""),
        "ifname": env.get("CNI_IFNAME", ""),
        "args": parse_cni_args(env.get("CNI_ARGS", "")),
        "path": env.get("CNI_PATH", ""),
        "config": config,
    }
    return command, request


def ask_agent(socket_path: str, request: "Mapping[str, Any]", timeout: float) -> "dict[str, Any]":
    """One request over the agent's unix socket; unreachable or silent is "try again later"."""
    deadline = time.monotonic() + timeout
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        connection.settimeout(timeout)
        try:
            connection.connect(socket_path)
        except OSError as error:
            raise CniError(
                TRY_AGAIN_LATER, "the rackroute agent is not reachable", f"{socket_path}: {error.strerror}"
            ) from None
        try:
            connection.sendall(json_dumps(request).encode())
            connection.shutdown(_socket.SHUT_WR)
            chunks: list[bytes] = []
            size = 0
            while True:
                connection.settimeout(max(0.001, deadline - time.monotonic()))
                chunk = connection.recv(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_ANSWER:
                    raise CniError(IO_FAILURE, "the agent's answer is too large")
                chunks.append(chunk)
        except TimeoutError:
            raise CniError(
                TRY_AGAIN_LATER, f"the rackroute agent did not answer within {timeout:g} s", socket_path
            ) from None
        except OSError as error:
            raise CniError(TRY_AGAIN_LATER, "the connection to the agent failed", str(error)) from None
    finally:
        connection.close()
    try:
        answer = json_loads(b"".join(chunks))
    except ValueError:
        raise CniError(IO_FAILURE, "the agent's answer is not JSON (agent restarted mid-request?)") from None
    if not isinstance(answer, dict) or not ("result" in answer or "error" in answer):
        raise CniError(IO_FAILURE, "the agent's answer has neither result nor error")
    return answer


def run(env: "Mapping[str, str]", stdin: bytes, transport: "Transport" = ask_agent) -> "tuple[int, bytes]":
    """The whole plugin as a function: (exit code, what to print on stdout)."""
    version = "1.0.0"
    try:
        command, request = build_request(env, stdin)
        if command == "VERSION":
            answer: Any = {
                "cniVersion": requested_version(stdin),
                "supportedVersions": list(SUPPORTED_VERSIONS),
            }
            return 0, dump(answer)
        config = request["config"]
        version = config["cniVersion"]
        timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
        socket_path = str(config.get("agentSocket", DEFAULT_SOCKET))
        answer = transport(socket_path, request, timeout)
    except CniError as error:
        return 1, dump(error.to_json(version))
    except Exception as error:  # never a traceback for the runtime: an error object
        return 1, dump(CniError(IO_FAILURE, "rackroute-cni failed", repr(error)).to_json(version))
    if "error" in answer:
        error_object = dict(answer["error"])
        error_object.setdefault("cniVersion", version)
        return 1, dump(error_object)
    result = answer["result"]
    if result is None:  # DEL, CHECK, GC, STATUS succeed with no output
        return 0, b""
    return 0, dump(result)


def requested_version(stdin: bytes) -> str:
    """VERSION's answer is in the version the caller asked in (spec: any supported, 1.0.0 if none)."""
    try:
        version = json_loads(stdin).get("cniVersion")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return "1.0.0"
    return version if version in SUPPORTED_VERSIONS else "1.0.0"


def dump(value: "Any") -> bytes:
    return json_dumps(value).encode() + b"\n"


def environment() -> "dict[str, str]":
    """``os.environ`` without ``os``: ``posix.environ`` holds bytes, decoded as ``os`` decodes them."""
    return {
        key.decode("utf-8", "surrogateescape"): value.decode("utf-8", "surrogateescape")
        for key, value in posix.environ.items()
    }


def main() -> None:
    code, output = run(environment(), sys.stdin.buffer.read())
    try:
        sys.stdout.buffer.write(output)
        sys.stdout.buffer.flush()
    except OSError:  # the runtime closed our stdout: nobody can read an error object either
        code = 1
    # Everything is said: end the process without the interpreter's teardown (module and object
    # clean-up, ~2 ms of CPU, a seventh of a call, that nobody waits for; nothing is left buffered).
    posix._exit(code)


if __name__ == "__main__":
    main()
