"""The installed form of the plugin: ``plugin.py`` compiled once, at install, by its interpreter.

A script run as ``python file`` is compiled at every exec (only imported modules get a cached
``.pyc``): for the plugin ~4-6 ms of CPU per call, a fifth of its cost (bench/cni.py). So
``rackroute cni install`` writes a short script whose body is the plugin's code object (``marshal``,
as a bytes literal: no ``binascii`` to import, ~1 ms of CPU per exec where it is not built in) for
the interpreter on its ``#!`` line. ``marshal`` is specific to a Python version, so ``compiled`` runs
THAT interpreter to compile the code (``optimize=2``: no docstrings; ``-X no_debug_ranges``: no column
tables, which only tracebacks read and the plugin never prints one), whichever interpreter runs the
install. When the interpreter later is not the one the code was compiled for (the distribution
upgraded ``/usr/bin/python3``: ``sys.implementation.cache_tag`` differs), the script compiles
``plugin.py`` from the installed package instead, and when that is gone too it prints a CNI error
object naming the fix. Standard library only, like the plugin.
"""

from __future__ import annotations

import subprocess

STALE = (
    '{"cniVersion":"1.0.0","code":5,"msg":"rackroute-cni was installed for another Python",'
    '"details":"run rackroute cni install again"}'
)
MINIMUM_VERSION = (3, 10)  # the plugin catches socket timeouts as TimeoutError (an alias since 3.10)
COMPILE_TIMEOUT = 60.0

# Run by the plugin's interpreter: its cache tag, a newline, the marshal'd code of the file argv[1].
_COMPILE = f"""
import marshal, sys
if sys.version_info < {MINIMUM_VERSION!r}:
    sys.exit("Python %d.%d is too old for the rackroute plugin (needs {MINIMUM_VERSION[0]}.{MINIMUM_VERSION[1]})"
             % sys.version_info[:2])
with open(sys.argv[1], "rb") as source:
    code = compile(source.read(), sys.argv[1], "exec", dont_inherit=True, optimize=2)
sys.stdout.buffer.write(sys.implementation.cache_tag.encode() + b"\\n" + marshal.dumps(code))
"""


class InterpreterUnusable(Exception):
    """The interpreter cannot run the plugin (missing, not Python, too old); the message says why."""


def compiled(interpreter: str, source_path: str) -> tuple[str, bytes]:
    """(cache tag, marshal'd code object) of ``source_path`` compiled by ``interpreter``."""
    argv = [interpreter, "-I", "-S", "-X", "no_debug_ranges", "-c", _COMPILE, source_path]
    try:
        result = subprocess.run(argv, capture_output=True, timeout=COMPILE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InterpreterUnusable(f"{interpreter}: {getattr(error, 'strerror', None) or error}") from None
    tag, newline, code = result.stdout.partition(b"\n")
    if result.returncode or not newline or not code:
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        raise InterpreterUnusable(f"{interpreter}: {reason[-1] if reason else 'no compiled code'}")
    return tag.decode(), code


def executable(interpreter: str, source_path: str, cache_tag: str, code: bytes) -> str:
    """The file to install as BIN_DIR/rackroute: ``code`` (``compiled``'s, for ``cache_tag``) run by
    ``interpreter``, else ``source_path`` compiled at each exec, else the STALE error object."""
    return (
        f"#!{interpreter} -IS\n"
        "# rackroute-cni: rackroute/cni/plugin.py compiled at install (rackroute.cni.launcher)\n"
        "import sys\n"
        f"if sys.implementation.cache_tag == {cache_tag!r}:\n"
        "    import marshal\n"
        f"    exec(marshal.loads({code!r}))\n"
        "else:\n"
        "    try:\n"
        f"        with open({source_path!r}) as source:\n"
        f"            code = compile(source.read(), {source_path!r}, 'exec')\n"
        "    except OSError:\n"
        f"        sys.stdout.write({STALE + chr(10)!r})\n"
        "        sys.exit(1)\n"
        "    exec(code)\n"
    )
