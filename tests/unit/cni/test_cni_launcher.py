"""The installed form (``rackroute.cni.launcher``): the plugin's code compiled at install runs as the
plugin does; for another interpreter it compiles ``plugin.py`` instead, and without it answers with
a CNI error object, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rackroute.cni import launcher, plugin

PLUGIN = Path(plugin.__file__)
CONFIG = json.dumps({"cniVersion": "1.0.0", "name": "net", "type": "rackroute"}).encode()


def install(tmp_path: Path, source_path: Path = PLUGIN, cache_tag: str | None = None) -> Path:
    path = tmp_path / "rackroute"
    body = launcher.executable(
        os.path.realpath(sys.executable), PLUGIN.read_text(), str(source_path), cache_tag=cache_tag
    )
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
