"""What running daemons in network namespaces needs on this host, as readable problems.

Shared by ``rackroute lab`` test suites and the interop tests: without root or a program they fail
with these lines, which say what to install, instead of skipping.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Iterable
from pathlib import Path

FRR_PROGRAMS = (Path("/usr/lib/frr/bgpd"), Path("/usr/lib/frr/zebra"))


def missing_prerequisites(
    programs: Iterable[str], *, install_hint: str, root_hint: str, frr: bool = True
) -> list[str]:
    """One line per problem (``root_hint`` follows "run as root "): not root, programs not on PATH, FRR's daemons or its user missing."""
    problems = []
    if os.geteuid() != 0:
        problems.append(f"run as root {root_hint}")
    missing = [name for name in programs if shutil.which(name) is None]
    if frr:
        missing += [str(path) for path in FRR_PROGRAMS if not path.exists()]
    if missing:
        problems.append(f"missing programs {', '.join(missing)}: {install_hint}")
    if frr:
        try:
            pwd.getpwnam("frr")
        except KeyError:
            problems.append(f"no user `frr` (created by the frr package): {install_hint}")
    return problems
