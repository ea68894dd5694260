"""rackroute-cni as a runtime calls it: environment + stdin in, a result or a CNI error object out.

The pure ``run`` is tested with a fake transport; the real file is also exec'd the way
``rackroute cni install`` installs it (``python -I -S plugin.py``) against a real unix socket.
"""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from rackroute.cni import plugin

PLUGIN = Path(plugin.__file__)
CONFIG = {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "rackroute", "mtu": 1450}
ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "c0ffee",
    "CNI_NETNS": "/var/run/netns/x",
    "CNI_IFNAME": "eth0",
    "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0",
    "CNI_PATH": "/opt/cni/bin",
}


def stdin(config: Mapping[str, Any] = CONFIG) -> bytes:
    return json.dumps(config).encode()


def run(
    env: Mapping[str, str], data: bytes, answer: dict[str, Any] | None = None
) -> tuple[int, Any, list[Any]]:
    seen: list[Any] = []

    def transport(path: str, request: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        seen.append((path, dict(request), timeout))
        return answer if answer is not None else {"result": {"cniVersion": "1.0.0", "ips": []}}

    code, output = plugin.run(env, data, transport)
    return code, (json.loads(output) if output else None), seen


def test_the_plugin_imports_only_the_standard_library() -> None:
    tree = ast.parse(PLUGIN.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    imported.discard("__future__")
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_add_forwards_environment_arguments_and_config_to_the_agent() -> None:
    code, output, seen = run(ENV, stdin())
    assert code == 0 and output == {"cniVersion": "1.0.0", "ips": []}
    path, request, timeout = seen[0]
    assert path == plugin.DEFAULT_SOCKET and timeout == plugin.DEFAULT_TIMEOUT
    assert request["command"] == "ADD" and request["containerID"] == "c0ffee" and request["ifname"] == "eth0"
    assert request["args"] == {"IgnoreUnknown": "1", "K8S_POD_NAMESPACE": "default", "K8S_POD_NAME": "web-0"}
    assert request["config"] == CONFIG


def test_socket_and_timeout_come_from_the_network_configuration() -> None:
    _, _, seen = run(ENV, stdin({**CONFIG, "agentSocket": "/tmp/a.sock", "timeout": 2}))
    assert seen[0][0] == "/tmp/a.sock" and seen[0][2] == 2.0


def test_version_answers_without_the_agent() -> None:
    code, output, seen = run({"CNI_COMMAND": "VERSION"}, b'{"cniVersion": "0.4.0"}')
    assert code == 0 and not seen
    assert output == {
        "cniVersion": "0.4.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }


@pytest.mark.parametrize(
    ("env", "data", "code"),
    [
        ({}, stdin(), plugin.INVALID_ENVIRONMENT),  # no CNI_COMMAND
        ({**ENV, "CNI_COMMAND": "BOOT"}, stdin(), plugin.INVALID_ENVIRONMENT),
        ({k: v for k, v in ENV.items() if k != "CNI_NETNS"}, stdin(), plugin.INVALID_ENVIRONMENT),
        ({k: v for k, v in ENV.items() if k != "CNI_CONTAINERID"}, stdin(), plugin.INVALID_ENVIRONMENT),
        ({**ENV, "CNI_ARGS": "novalue"}, stdin(), plugin.INVALID_ENVIRONMENT),
        (ENV, b"{not json", plugin.DECODE_FAILURE),
        (ENV, b"[1, 2]", plugin.DECODE_FAILURE),
        (ENV, stdin({"cniVersion": "1.0.0", "type": "rackroute"}), plugin.INVALID_CONFIG),  # no name
        (ENV, stdin({**CONFIG, "cniVersion": "2.0.0"}), plugin.INCOMPATIBLE_VERSION),
        (
            {**ENV, "CNI_COMMAND": "CHECK"},
            stdin({**CONFIG, "cniVersion": "0.3.1"}),
            plugin.INCOMPATIBLE_VERSION,
        ),
        ({**ENV, "CNI_COMMAND": "GC"}, stdin(), plugin.INCOMPATIBLE_VERSION),  # GC is 1.1.0
    ],
)
def test_spec_error_cases_are_error_objects_without_asking_the_agent(
    env: dict[str, str], data: bytes, code: int
) -> None:
    exit_code, output, seen = run(env, data)
    assert exit_code == 1 and not seen
    assert output["code"] == code and output["msg"] and "cniVersion" in output


def test_del_needs_no_netns_and_prints_nothing() -> None:
    env = {**ENV, "CNI_COMMAND": "DEL", "CNI_NETNS": ""}
    code, output, seen = run(env, stdin(), {"result": None})
    assert code == 0 and output is None and seen[0][1]["command"] == "DEL"


def test_agent_error_is_printed_with_the_config_version() -> None:
    code, output, _ = run(
        ENV, stdin({**CONFIG, "cniVersion": "0.4.0"}), {"error": {"code": 11, "msg": "later"}}
    )
    assert code == 1 and output == {"code": 11, "msg": "later", "cniVersion": "0.4.0"}


def test_a_crashing_transport_is_an_error_object_not_a_traceback() -> None:
    def broken(path: str, request: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        raise RuntimeError("boom")

    code, output = plugin.run(ENV, stdin(), broken)
    assert (
        code == 1
        and json.loads(output)["code"] == plugin.IO_FAILURE
        and "boom" in json.loads(output)["details"]
    )


# -- the real file, exec'd as installed, against a real socket ----------------------------------


@pytest.fixture
def agent_socket(tmp_path: Path) -> Iterator[tuple[str, list[bytes], list[bytes]]]:
    """A one-thread unix server answering each connection with the next canned answer."""
    path = str(tmp_path / "rrt-cni.sock")
    received: list[bytes] = []
    answers: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                data = b""
                while chunk := connection.recv(65536):
                    data += chunk
                received.append(data)
                answer = answers.pop(0) if answers else b""
                if answer == b"SILENT":
                    time.sleep(1.5)
                    continue
                connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, received, answers
    stop.set()
    thread.join(2)
    server.close()


def exec_plugin(env: Mapping[str, str], data: bytes) -> tuple[int, Any]:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin"), **env}
    result = subprocess.run(
        [os.path.realpath(sys.executable), "-I", "-S", str(PLUGIN)],
        input=data,
        env=clean,
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert not result.stderr, result.stderr
    return result.returncode, (json.loads(result.stdout) if result.stdout else None)


def test_installed_form_round_trips_a_request_over_the_socket(
    agent_socket: tuple[str, list[bytes], list[bytes]],
) -> None:
    path, received, answers = agent_socket
    answers.append(
        json.dumps({"result": {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.5/32"}]}}).encode()
    )
    code, output = exec_plugin(ENV, stdin({**CONFIG, "agentSocket": path}))
    assert code == 0 and output["ips"] == [{"address": "10.0.0.5/32"}]
    assert json.loads(received[0])["containerID"] == "c0ffee"


def test_no_agent_is_try_again_later(tmp_path: Path) -> None:
    code, output = exec_plugin(ENV, stdin({**CONFIG, "agentSocket": str(tmp_path / "rrt-none.sock")}))
    assert code == 1 and output["code"] == plugin.TRY_AGAIN_LATER and "rrt-none.sock" in output["details"]


def test_a_silent_agent_is_try_again_later_within_the_timeout(
    agent_socket: tuple[str, list[bytes], list[bytes]],
) -> None:
    path, _, answers = agent_socket
    answers.append(b"SILENT")
    started = time.monotonic()
    code, output = exec_plugin(ENV, stdin({**CONFIG, "agentSocket": path, "timeout": 0.5}))
    assert code == 1 and output["code"] == plugin.TRY_AGAIN_LATER
    assert time.monotonic() - started < 1.4


def test_a_garbled_answer_is_an_io_error(agent_socket: tuple[str, list[bytes], list[bytes]]) -> None:
    path, _, answers = agent_socket
    answers.append(b'{"result": ')
    code, output = exec_plugin(ENV, stdin({**CONFIG, "agentSocket": path}))
    assert code == 1 and output["code"] == plugin.IO_FAILURE


@pytest.mark.parametrize("data", [b'{"cniVersion": "1.0.0"', b"", b'{"cniVersion": "1.0.0"} x'])
def test_installed_form_reports_undecodable_config_as_decode_failure(data: bytes) -> None:
    code, output = exec_plugin(ENV, data)
    assert code == 1 and output["code"] == plugin.DECODE_FAILURE and output["msg"]


def test_installed_form_imports_neither_json_nor_socket_nor_typing_on_the_success_path(
    agent_socket: tuple[str, list[bytes], list[bytes]],
) -> None:
    path, _, answers = agent_socket
    answers.append(b'{"result": null}')
    env = {**ENV, "CNI_COMMAND": "DEL", "PATH": os.environ.get("PATH", "/usr/bin")}
    result = subprocess.run(
        [os.path.realpath(sys.executable), "-I", "-S", "-X", "importtime", str(PLUGIN)],
        input=stdin({**CONFIG, "agentSocket": path}),
        env=env,
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0 and result.stdout == b"", result
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.decode().splitlines()}
    assert not imported & {"json", "socket", "typing", "re", "enum"}, sorted(imported)


def test_the_plugin_ends_without_the_interpreter_teardown_after_its_answer_is_out(
    agent_socket: tuple[str, list[bytes], list[bytes]],
) -> None:
    """``posix._exit`` after the flush: an ``atexit`` handler (teardown runs them) never runs, and
    the whole answer still arrives, with the exit code of the outcome."""
    path, _, answers = agent_socket
    result_object = {
        "cniVersion": "1.0.0",
        "ips": [{"address": f"10.0.{i // 250}.{i % 250}/32"} for i in range(2000)],
    }
    answers.append(json.dumps({"result": result_object}).encode())
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('teardown ran'))\n"
        f"sys.argv = [{str(PLUGIN)!r}]\n"
        f"exec(compile(open({str(PLUGIN)!r}).read(), {str(PLUGIN)!r}, 'exec'), {{'__name__': '__main__'}})\n"
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), **ENV}
    for config, expected_code in (({**CONFIG, "agentSocket": path}, 0), ({"cniVersion": "9.9.9"}, 1)):
        run = subprocess.run(
            [os.path.realpath(sys.executable), "-I", "-S", "-c", probe],
            input=stdin(config),
            env=env,
            capture_output=True,
            timeout=20,
            check=False,
        )
        assert run.returncode == expected_code and run.stderr == b"", run.stderr
        printed = json.loads(run.stdout)
        assert printed == result_object if expected_code == 0 else printed["code"] == plugin.INVALID_CONFIG
