"""The layer table of ../shared/STYLE.md (the project's copy, with bfdd, ``__main__`` and the root
modules: README.md, Layout), enforced: a module imports only its own layer or lower ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "rackroute"

# package -> layer. Packages on the same layer must not import each other ("sideways"),
# except a package importing itself.
LAYERS: dict[str, int] = {
    "net": 0,
    "bgp": 1,
    "bfd": 1,
    "rib": 2,
    "control": 2,
    "speaker": 3,
    "fib": 3,
    "datastore": 3,
    "bfdd": 3,
    "agent": 4,
    "controller": 4,
    "api": 5,
    "daemon": 6,
    "lab": 6,
    "cli": 7,
    # rackroute-cni, exec'd by container runtimes: standard library only, imports nothing of ours
    # (below every layer, so any import of rackroute from it is "upward").
    "cni": -1,
}
# A package's __main__ (``python -m rackroute.bfdd``) is a command, as cli/ is the ``rackroute`` one: a
# composition root on the cli layer (it may configure the daemons' logs), which no module imports.
COMMAND_LAYER = LAYERS["cli"]
# Modules at the package root import nothing from the layers (the standard library only); every
# layer may import them (lazy_modules: the lean imports of the agent and of every daemon's start).
ROOT_MODULES = {"__init__", "lazy_modules"}


def package_of(module_path: Path) -> str:
    relative = module_path.relative_to(SOURCE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_packages(module_path: Path) -> list[tuple[int, str]]:
    return imports_in(module_path.read_text(), module_path.relative_to(SOURCE).with_suffix("").parts)


def imports_in(source: str, own_parts: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line, rackroute package) for every import of rackroute in ``source``."""
    tree = ast.parse(source)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "rackroute" and len(parts) > 1:
                    found.append((node.lineno, parts[1]))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = list(own_parts[: len(own_parts) - node.level])
                target = base + (node.module.split(".") if node.module else [])
                if target:
                    found.append((node.lineno, target[0]))
            elif node.module and node.module.split(".")[0] == "rackroute":
                parts = node.module.split(".")
                if len(parts) > 1:
                    found.append((node.lineno, parts[1]))
                else:
                    found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def all_modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_every_package_is_in_the_layer_table() -> None:
    packages = {p.name for p in SOURCE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), f"add to LAYERS (and STYLE.md): {packages - set(LAYERS)}"


@pytest.mark.parametrize("module_path", all_modules(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_module_imports_only_its_own_layer_or_lower(module_path: Path) -> None:
    own = package_of(module_path)
    parts = module_path.relative_to(SOURCE).with_suffix("").parts
    if own in ROOT_MODULES:
        found = [t for _, t in imports_in(module_path.read_text(), parts)]
        assert not found, f"the package root imports {found}"
        return
    violations = violations_of(own, module_path.read_text(), parts)
    assert not violations, "\n".join(violations)


def layer_of(own: str, own_parts: tuple[str, ...]) -> int:
    return COMMAND_LAYER if own_parts[-1] == "__main__" and own != "cni" else LAYERS[own]


def violations_of(own: str, source: str, own_parts: tuple[str, ...]) -> list[str]:
    violations = []
    own_layer = layer_of(own, own_parts)
    for line, target in imports_in(source, own_parts):
        if target == own or (target in ROOT_MODULES and own != "cni"):
            continue
        if target not in LAYERS:
            violations.append(f"line {line}: {target} is not in the layer table")
        elif LAYERS[target] >= own_layer:
            kind = "sideways" if LAYERS[target] == own_layer else "upward"
            violations.append(f"line {line}: {kind} import of {target} from {own}")
    return violations


def imports_a_command(source: str) -> list[int]:
    """Lines of ``source`` that import a package's ``__main__`` (a command, not a library)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import | ast.ImportFrom) else []
        module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
        if any(name.split(".")[-1] == "__main__" for name in [module, *names]):
            found.append(node.lineno)
    return found


@pytest.mark.parametrize("module_path", all_modules(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_no_module_imports_a_packages_command(module_path: Path) -> None:
    assert imports_a_command(module_path.read_text()) == []


def test_a_packages_command_is_a_composition_root_on_the_cli_layer() -> None:
    source = "from ..daemon.logs import configure_logging\nfrom ..cli import main\n"
    assert violations_of("bfdd", source, ("bfdd", "__main__")) == ["line 2: sideways import of cli from bfdd"]
    assert violations_of("bfdd", source, ("bfdd", "daemon")) == [
        "line 1: upward import of daemon from bfdd",
        "line 2: upward import of cli from bfdd",
    ]
    assert imports_a_command("from .bfdd.__main__ import main\nimport rackroute.bfdd.__main__\n") == [1, 2]
    assert imports_a_command("from . import __main__\n") == [1]


def test_layer_checker_catches_upward_sideways_and_relative_imports() -> None:
    source = "from rackroute.speaker import peer\nfrom ..rib import loc\nimport rackroute.net.prefix\n"
    found = violations_of("control", source, ("control", "ipam"))
    assert found == [
        "line 1: upward import of speaker from control",
        "line 2: sideways import of rib from control",
    ]


def test_a_root_module_is_importable_from_any_layer_but_not_from_the_cni_plugin() -> None:
    source = "from ..lazy_modules import lazy_module\n"
    assert violations_of("net", source, ("net", "prefix")) == []
    assert violations_of("agent", source, ("agent", "lean_imports")) == []
    assert violations_of("cni", source, ("cni", "plugin")) == [
        "line 1: lazy_modules is not in the layer table"
    ]


# Third-party packages that only one place may import: the heavy or environment-bound libraries
# stay behind their adapters (pyroute2 needs netlink and ~24 MB; aiohttp is the control API's;
# the etcd clients pull grpc/protobuf). Values: module paths (or package prefixes) relative to
# rackroute, a prefix ending in "/" allowing a whole package.
THIRD_PARTY_HOMES: dict[str, tuple[str, ...]] = {
    "pyroute2": ("fib/netlink.py",),
    "aiohttp": ("api/",),
    "prometheus_client": ("api/",),  # the collectors and /metrics (docs/metrics.md)
    "aetcd": ("datastore/",),
    "etcd3gw": ("datastore/",),
    "grpc": ("datastore/",),
}


def third_party_imports(source: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``source``, lazy ones included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return sorted(found)


def third_party_violations(relative: str, source: str) -> list[str]:
    violations = []
    for line, package in third_party_imports(source):
        homes = THIRD_PARTY_HOMES.get(package)
        if homes is None:
            continue
        if not any(relative == home or (home.endswith("/") and relative.startswith(home)) for home in homes):
            violations.append(f"line {line}: {package} may only be imported in {', '.join(homes)}")
    return violations


@pytest.mark.parametrize("module_path", all_modules(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_heavy_third_party_packages_are_imported_only_in_their_adapter(module_path: Path) -> None:
    relative = module_path.relative_to(SOURCE).as_posix()
    violations = third_party_violations(relative, module_path.read_text())
    assert not violations, "\n".join(violations)


def test_third_party_checker_catches_lazy_imports_outside_the_home() -> None:
    source = "def f():\n    import pyroute2\n    from aiohttp import web\nimport grpc.aio\n"
    assert third_party_violations("speaker/peer.py", source) == [
        "line 2: pyroute2 may only be imported in fib/netlink.py",
        "line 3: aiohttp may only be imported in api/",
        "line 4: grpc may only be imported in datastore/",
    ]
    assert third_party_violations("api/endpoint.py", "from aiohttp import web\n") == []
