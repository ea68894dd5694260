"""The installed form (``rackroute.cni.launcher``): the plugin's code compiled at install, by the
plugin's interpreter, runs as the plugin does; for another interpreter it compiles ``plugin.py``
instead, and without it answers with a CNI error object, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rackroute.cni import launcher, plugin

PLUGIN = Path(plugin.__file__)
CONFIG = json.dumps({"cniVersion": "1.0.0", "name": "net", "type": "rackroute"}).encode()


def install(
    tmp_path: Path,
    source_path: Path = PLUGIN,
    cache_tag: str | None = None,
    interpreter: str = os.path.realpath(sys.executable),
) -> Path:
    path = tmp_path / "rackroute"
    tag, code = launcher.compiled(interpreter, str(PLUGIN))
    body = launcher.executable(interpreter, str(source_path), cache_tag or tag, code)
    path.write_text(body)
    path.chmod(0o755)
    return path


def run(path: Path, command: str, data: bytes = CONFIG) -> tuple[int, dict[str, object], bytes]:
    env = {"PATH": "/usr/bin:/bin", "CNI_COMMAND": command}
    result = subprocess.run([str(path)], input=data, env=env, capture_output=True, timeout=20, check=False)
    return result.returncode, json.loads(result.stdout), result.stderr


def test_the_compiled_plugin_answers_version_and_errors_as_the_source_does(tmp_path: Path) -> None:
    path = install(tmp_path)
    assert "plugin.py compiled at install" in path.read_text()
    code, output, stderr = run(path, "VERSION")
    assert code == 0 and output["supportedVersions"] == list(plugin.SUPPORTED_VERSIONS) and not stderr
    code, output, stderr = run(path, "ADD")  # no CNI_CONTAINERID...: the spec's error 4
    assert code == 1 and output["code"] == plugin.INVALID_ENVIRONMENT and not stderr


def test_for_another_interpreter_it_compiles_the_installed_package_source(tmp_path: Path) -> None:
    path = install(tmp_path, cache_tag="cpython-0")
    code, output, _ = run(path, "VERSION")
    assert code == 0 and output["cniVersion"] == "1.0.0"


def test_for_another_interpreter_without_the_source_it_is_a_cni_error(tmp_path: Path) -> None:
    path = install(tmp_path, source_path=tmp_path / "gone.py", cache_tag="cpython-0")
    code, output, stderr = run(path, "VERSION")
    assert code == 1 and output["code"] == plugin.IO_FAILURE and "install again" in str(output["details"])
    assert not stderr


def test_the_compiled_code_runs_without_the_source_and_imports_nothing_extra(tmp_path: Path) -> None:
    """The installed package's plugin.py gone: the compiled code still runs (it is not the fallback),
    and it imports only what the plugin needs (no binascii, os, __future__)."""
    path = install(tmp_path, source_path=tmp_path / "gone.py")
    code, output, stderr = run(path, "VERSION")
    assert code == 0 and output["cniVersion"] == "1.0.0" and not stderr
    interpreter = os.path.realpath(sys.executable)
    result = subprocess.run(
        [interpreter, "-I", "-S", "-X", "importtime", str(path)],
        input=CONFIG,
        env={"CNI_COMMAND": "VERSION"},
        capture_output=True,
        timeout=20,
        check=False,
    )
    baseline = subprocess.run(
        [interpreter, "-I", "-S", "-X", "importtime", "-c", "pass"],
        capture_output=True,
        timeout=20,
        check=True,
    )

    def modules(stderr: bytes) -> set[str]:
        return {line.rsplit("|", 1)[-1].strip() for line in stderr.decode().splitlines()[1:]}

    assert result.returncode == 0
    assert modules(result.stderr) - modules(baseline.stderr) <= {"_json", "_socket"}


def test_the_code_is_compiled_by_the_interpreter_it_is_for(tmp_path: Path) -> None:
    """marshal is version-specific: ``compiled`` runs the plugin's interpreter, not this one."""
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\n[ "$1" = -I ] || exit 9\nexec {os.path.realpath(sys.executable)} "$@"\n')
    fake.chmod(0o755)
    tag, code = launcher.compiled(str(fake), str(PLUGIN))
    assert tag == sys.implementation.cache_tag and code[:1] == b"\xe3"  # a marshal'd code object


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, "No such file"),
        ("#!/bin/sh\necho 'Python 3.9 is too old for the rackroute plugin' >&2\nexit 1\n", "too old"),
        ("#!/bin/sh\nexit 0\n", "no compiled code"),
    ],
)
def test_an_unusable_interpreter_is_an_error_naming_it(tmp_path: Path, body: str | None, reason: str) -> None:
    interpreter = tmp_path / "python9"
    if body is not None:
        interpreter.write_text(body)
        interpreter.chmod(0o755)
    with pytest.raises(launcher.InterpreterUnusable, match=reason) as raised:
        launcher.compiled(str(interpreter), str(PLUGIN))
    assert str(interpreter) in str(raised.value)
