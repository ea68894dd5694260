"""``rackroute cni install``: which interpreter the plugin gets (the host's python, else the agent's,
or ``--python``), the plugin it writes runs with that interpreter, and ``uninstall`` removes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rackroute.cli import cni_commands
from rackroute.cni import plugin

AGENT_PYTHON = os.path.realpath(sys.executable)
HOST_PYTHON = Path("/usr/bin/python3")


def install(tmp_path: Path, *args: str) -> tuple[int, str]:
    argv = ["install", "--cni-bin-dir", str(tmp_path / "bin"), "--cni-conf-dir", str(tmp_path / "net.d")]
    result = CliRunner().invoke(cni_commands.cni_app, [*argv, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def shebang(tmp_path: Path) -> str:
    return (tmp_path / "bin" / "rackroute").read_text().split("\n", 1)[0]


def version(tmp_path: Path) -> dict[str, object]:
    result = subprocess.run(
        [str(tmp_path / "bin" / "rackroute")],
        input=b'{"cniVersion": "0.4.0"}',
        env={"CNI_COMMAND": "VERSION"},
        capture_output=True,
        timeout=20,
        check=True,
    )
    assert not result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def test_the_host_python_runs_code_it_compiled_itself(tmp_path: Path) -> None:
    if not HOST_PYTHON.exists():
        pytest.fail("needs the host's python: apt-get install python3 (scripts/install-debian-deps)")
    code, output = install(tmp_path)
    assert code == 0 and f"python {HOST_PYTHON} -IS)" in output, output
    assert shebang(tmp_path) == f"#!{HOST_PYTHON} -IS"  # the name, not python3.11: survives upgrades
    tag = subprocess.run(
        [str(HOST_PYTHON), "-c", "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert f"cache_tag == {tag!r}" in (tmp_path / "bin" / "rackroute").read_text()
    assert version(tmp_path) == {"cniVersion": "0.4.0", "supportedVersions": list(plugin.SUPPORTED_VERSIONS)}


def test_without_a_usable_host_python_the_agents_is_used_and_install_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cni_commands, "HOST_PYTHON", str(tmp_path / "no-python3"))
    code, output = install(tmp_path)
    assert code == 0 and "no usable host python" in output and "no-python3" in output, output
    assert shebang(tmp_path) == f"#!{AGENT_PYTHON} -IS"
    assert version(tmp_path)["cniVersion"] == "0.4.0"


def test_python_overrides_the_interpreter(tmp_path: Path) -> None:
    code, output = install(tmp_path, "--python", AGENT_PYTHON)
    assert code == 0 and f"python {AGENT_PYTHON} -IS)" in output, output
    assert shebang(tmp_path) == f"#!{AGENT_PYTHON} -IS"
    assert version(tmp_path)["cniVersion"] == "0.4.0"


def test_an_unusable_python_fails_clearly_and_writes_nothing(tmp_path: Path) -> None:
    code, output = install(tmp_path, "--python", str(tmp_path / "missing-python"))
    assert code == 2 and "--python cannot run the plugin" in output and "missing-python" in output
    assert not (tmp_path / "bin").exists() and not (tmp_path / "net.d").exists()


def test_uninstall_removes_what_install_wrote(tmp_path: Path) -> None:
    assert install(tmp_path, "--python", AGENT_PYTHON)[0] == 0
    result = CliRunner().invoke(
        cni_commands.cni_app,
        ["uninstall", "--cni-bin-dir", str(tmp_path / "bin"), "--cni-conf-dir", str(tmp_path / "net.d")],
    )
    assert result.exit_code == 0
    assert not (tmp_path / "bin" / "rackroute").exists()
    assert not (tmp_path / "net.d" / cni_commands.CONFLIST_NAME).exists()
