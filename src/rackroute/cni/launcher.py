"""The installed form of the plugin: ``plugin.py`` compiled once, at install, for its interpreter.

A script run as ``python file`` is compiled at every exec (only imported modules get a cached
``.pyc``): for the plugin ~4-6 ms of CPU per call, a fifth of its cost (bench/cni.py). So
``rackroute cni install`` writes a short script whose body is the plugin's code object (``marshal``,
base64) for the interpreter on its ``#!`` line; when that interpreter is not the one the code was
compiled for (another Python version after an upgrade: ``sys.implementation.cache_tag`` differs), it
compiles ``plugin.py`` from the installed package instead, and when that is gone too it prints a CNI
error object naming the fix. Standard library only, like the plugin.
"""

from __future__ import annotations

import binascii
import marshal
import sys

STALE = (
    '{"cniVersion":"1.0.0","code":5,"msg":"rackroute-cni was installed for another Python",'
    '"details":"run rackroute cni install again"}'
)


def executable(interpreter: str, source: str, source_path: str, *, cache_tag: str | None = None) -> str:
    """The file to install as BIN_DIR/rackroute. ``cache_tag``: the interpreter the code is for
    (default: this one, which compiles it; tests pass another to take the fallback)."""
    code = compile(source, source_path, "exec")
    payload = binascii.b2a_base64(marshal.dumps(code), newline=False).decode()
    tag = cache_tag or sys.implementation.cache_tag
    return (
        f"#!{interpreter} -IS\n"
        "# rackroute-cni: rackroute/cni/plugin.py compiled at install (rackroute.cni.launcher)\n"
        "import sys\n"
        f"if sys.implementation.cache_tag == {tag!r}:\n"
        "    import binascii, marshal\n"
        f"    exec(marshal.loads(binascii.a2b_base64({payload!r})))\n"
        "else:\n"
        "    try:\n"
        f"        with open({source_path!r}) as source:\n"
        f"            code = compile(source.read(), {source_path!r}, 'exec')\n"
        "    except OSError:\n"
        f"        sys.stdout.write({STALE + chr(10)!r})\n"
        "        sys.exit(1)\n"
        "    exec(code)\n"
    )
